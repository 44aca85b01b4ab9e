"""django-ratelimit's rate parser, the one reach into its private `_split_rate` (written against
django-ratelimit==4.1.0): the rule form and the counters read rates alike, and a change there is mended here."""

from __future__ import annotations

from django_ratelimit.core import _split_rate


def split_rate(rate: str) -> tuple[int, int]:
    """(count, period in seconds) of a rate such as "100/m"; raises ValueError, KeyError, TypeError or
    AttributeError on a rate it cannot read."""
    count, period = _split_rate(rate)
    return int(count), int(period)
