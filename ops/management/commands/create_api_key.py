"""`python manage.py create_api_key NAME`: make an API key and print its token (shown this once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from ops.forms import ApiKeyForm, form_errors


class Command(BaseCommand):
    help = "Create an API key and print its token; only a hash of it is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--rate", default="", help="per-key rate override, like 100/m")

    def handle(self, *args: Any, **options: Any) -> None:
        # The admin's own form: a name or rate it refuses is refused here with the same message.
        form = ApiKeyForm(data={"name": options["name"], "rate_override": options["rate"]})
        if not form.is_valid():
            raise CommandError(f"No API key made: {form_errors(form)}")
        key = form.save(commit=False)
        token = key.issue_token()
        try:
            with transaction.atomic():  # a refused insert leaves the connection usable
                key.save()
        except IntegrityError:  # the same name made meanwhile (the form's uniqueness check is not atomic)
            raise CommandError(f"No API key made: name: An API key named {key.name!r} exists already.") from None
        self.stdout.write(token)
