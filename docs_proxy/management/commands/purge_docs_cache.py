"""`python manage.py purge_docs_cache`: remove pages or answers from the docs cache, in every process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from docs_proxy.purge import PurgeError, PurgeScope, purge


class Command(BaseCommand):
    help = "Purge the AWS documentation cache: one page, a URL prefix, search answers, or everything."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument(
            "--url", help="one page, e.g. https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
        )
        group.add_argument(
            "--prefix", help="every page under a URL prefix, e.g. https://docs.aws.amazon.com/AmazonRDS/"
        )
        group.add_argument("--search", action="store_true", help="search and recommendation answers")
        group.add_argument("--all", action="store_true", dest="everything", help="everything")
        parser.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = purge(*self.scope(options), dry_run=options["dry_run"])
        except PurgeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(report.summary())

    @staticmethod
    def scope(options: dict[str, Any]) -> tuple[PurgeScope, str]:
        """The one flag given (argparse makes them exclusive and requires one), as a scope and its target."""
        if options["everything"]:
            return PurgeScope.EVERYTHING, ""
        if options["search"]:
            return PurgeScope.ANSWERS, ""
        if options["url"] is not None:
            return PurgeScope.PAGE, options["url"]
        return PurgeScope.PREFIX, options["prefix"] or ""
