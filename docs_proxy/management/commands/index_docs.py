"""`python manage.py index_docs --guide URL`: pre-load the search index with whole guides (docs_proxy/crawl.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import connections

from awsmcp import background, pools
from docs_proxy import workers
from docs_proxy.crawl import CrawlError, CrawlOptions, CrawlReport, Guide, Outcome, crawl, guide_from_url

BAR_WIDTH = 30


class ProgressView:
    """A bar redrawn in place on a terminal; elsewhere (a log, cron) a plain line every `every` pages."""

    def __init__(self, out: OutputWrapper, tty: bool, every: int) -> None:
        self.out, self.tty, self.every = out, tty, every
        self._open = False

    def __call__(self, report: CrawlReport) -> None:
        done, total = report.done, max(report.planned, 1)
        failed = report.counts[Outcome.FAILED]
        if self.tty:
            filled = BAR_WIDTH * done // total
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.out.write(f"\r[{bar}] {done}/{report.planned} pages, {failed} failed  {report.guide}", ending="")
            self._open = True
            if done >= report.planned:
                self.end()
        elif done % self.every == 0 or done >= report.planned:
            self.out.write(f"{report.guide}: {done}/{report.planned} pages, {failed} failed")
        self.out.flush()

    def end(self) -> None:
        if self._open:
            self.out.write("")
            self._open = False


class Command(BaseCommand):
    help = (
        "Index whole guides for local search: read every page a guide's toc-contents.json lists through the "
        "docs cache (both partitions), politely; --refresh revalidates the pages already indexed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--guide",
            action="append",
            required=True,
            metavar="URL",
            help="a guide's address, e.g. https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/ (repeatable)",
        )
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="revalidate the guide's indexed pages with conditional requests instead of reading its TOC",
        )
        parser.add_argument("--max-pages", type=int, help="pages per guide in this run (DOCS_CRAWL_MAX_PAGES)")
        parser.add_argument("--pace", type=float, help="seconds between the starts of two fetches (DOCS_CRAWL_PACE)")
        parser.add_argument(
            "--concurrency",
            type=int,
            help="fetches at once (DOCS_CRAWL_CONCURRENCY; at most DOCS_MAX_CONCURRENT_FETCHES)",
        )
        parser.add_argument("--progress-every", type=int, default=25, help="without a terminal: a line every N pages")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DOCS_INDEX_ENABLED:
            raise CommandError("The search index is off (DOCS_INDEX_ENABLED=false): there is nothing to index into.")
        crawl_options = self.crawl_options(options)
        try:
            guides = [guide_from_url(url) for url in options["guide"]]
        except CrawlError as exc:
            raise CommandError(str(exc)) from None
        view = ProgressView(self.stdout, self.stdout.isatty(), max(1, options["progress_every"]))
        try:
            reports = asyncio.run(self.run(guides, crawl_options, view))
        except CrawlError as exc:
            raise CommandError(str(exc)) from None
        finally:
            view.end()
        for report in reports:
            for line in report.summary():
                self.stdout.write(line)

    @staticmethod
    def crawl_options(options: dict[str, Any]) -> CrawlOptions:
        """The run's bounds: the options given, else the settings; refused when out of range, naming whichever
        of the two was out of range."""
        cap = settings.DOCS_MAX_CONCURRENT_FETCHES

        def pick(option: str, setting: str) -> tuple[Any, str]:
            given = options[option.removeprefix("--").replace("-", "_")]
            return (given, option) if given is not None else (getattr(settings, setting), setting)

        max_pages, max_pages_name = pick("--max-pages", "DOCS_CRAWL_MAX_PAGES")
        pace, pace_name = pick("--pace", "DOCS_CRAWL_PACE")
        concurrency, concurrency_name = pick("--concurrency", "DOCS_CRAWL_CONCURRENCY")
        if max_pages < 1:
            raise CommandError(f"{max_pages_name} must be at least 1.")
        if not 0 <= pace <= 3600:
            raise CommandError(f"{pace_name} must be between 0 and 3600 seconds.")
        if options["concurrency"] is not None and not 1 <= concurrency <= cap:
            raise CommandError(f"--concurrency must be between 1 and {cap} (DOCS_MAX_CONCURRENT_FETCHES).")
        if concurrency < 1:
            raise CommandError(f"{concurrency_name} must be at least 1.")
        return CrawlOptions(max_pages, pace, min(concurrency, cap), bool(options["refresh"]))

    @staticmethod
    async def run(guides: list[Guide], options: CrawlOptions, view: ProgressView) -> list[CrawlReport]:
        try:
            return await crawl(guides, options, view)
        finally:
            await background.stop()  # the cache's housekeeping, started by the first read
            workers.conversion_pool().close()
            await asyncio.to_thread(close_database_connections)


def close_database_connections() -> None:
    """Close the connections the "database" pool's threads opened (Django keeps one per thread): the crawl's
    writes ran there. A barrier gives each thread one closing task; its timeout keeps a busy pool from hanging
    the exit (the process ends next anyway)."""
    executor = pools.pool("database")
    threads = max(1, len(getattr(executor, "_threads", ())))
    barrier = threading.Barrier(threads, timeout=2.0)

    def close() -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for done in [executor.submit(close) for _ in range(threads)]:
        done.result()
