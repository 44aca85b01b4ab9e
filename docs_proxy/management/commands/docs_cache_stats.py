"""`python manage.py docs_cache_stats`: the docs cache figures of every running process, as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from docs_proxy.housekeeping import fleet_stats


class Command(BaseCommand):
    help = "Print the docs cache statistics of every running process, added up, as JSON."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(fleet_stats(), indent=2))
