"""`python manage.py create_api_key NAME`: make an API key and print its token (shown this once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key and print its token; only a hash of it is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--rate", default="", help="per-key rate override, like 100/m")

    def handle(self, *args: Any, **options: Any) -> None:
        if ApiKey.objects.filter(name=options["name"]).exists():
            raise CommandError(f"An API key named {options['name']!r} exists already.")
        key = ApiKey(name=options["name"], rate_override=options["rate"])
        key.full_clean(exclude=["prefix", "token_hash"])
        token = key.issue_token()
        key.save()
        self.stdout.write(token)
