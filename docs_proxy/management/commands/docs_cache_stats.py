"""`python manage.py docs_cache_stats`: the docs cache figures of every running process, as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from docs_proxy.housekeeping import fleet_stats


def minute_label(epoch_minute: int) -> str:
    """An epoch minute as a reader writes it: UTC, `2026-11-29 18:40`."""
    return datetime.fromtimestamp(epoch_minute * 60, UTC).strftime("%Y-%m-%d %H:%M")


def readable(figures: dict[str, Any]) -> dict[str, Any]:
    """The fleet's figures with the per-minute series keyed by time (UTC) rather than by epoch minute."""
    minutes = {minute_label(minute): {"hits": hits, "misses": misses} for minute, (hits, misses) in figures["minutes"]}
    return {**figures, "minutes": minutes}


class Command(BaseCommand):
    help = "Print the docs cache statistics of every running process, added up, as JSON (minutes in UTC)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            figures = fleet_stats()
        except Exception as exc:  # Redis or the database unreachable: one line for the operator, not a traceback
            raise CommandError(f"No statistics: {exc.__class__.__name__}: {exc}") from None
        self.stdout.write(json.dumps(readable(figures), indent=2))
