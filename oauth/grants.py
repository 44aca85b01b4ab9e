"""Ending a grant line: every token one user gave one application. Its access tokens gone with no successor, the
gate reports every credential `dot:{user_pk}:{application_pk}:{token_pk}:{family}` of the line ended (oauth.tokens)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model


def end_grant_lines(lines: Iterable[tuple[int | None, int | None]]) -> int:
    """Revoke the refresh tokens (kept as revoked rows, which reuse protection needs), delete the access tokens and
    unused authorization codes of each (user pk, application pk); return how many lines were ended."""
    ended = 0
    for user_id, application_id in set(lines):
        if user_id is None or application_id is None:
            continue
        line = {"user_id": user_id, "application_id": application_id}
        with transaction.atomic():
            for refresh in get_refresh_token_model().objects.filter(revoked__isnull=True, **line):
                refresh.revoke()
            get_access_token_model().objects.filter(**line).delete()
            get_grant_model().objects.filter(**line).delete()
        ended += 1
    return ended
