"""The cache page's L2 entries and bytes are what a dry run of purging everything counts: on SQLite and on Redis.

The page once counted pages only while the purge counted answers too (4 against 7), and showed no bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.admin import logged_in, post_form
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne, redis_server

PAGES = ("/AmazonRDS/latest/UserGuide/Welcome.html", "/cli/latest/reference/s3/cp.html")


async def assert_figures_agree_with_the_dry_run(server: DaphneServer) -> None:
    """After reads of two pages and a search, the page's L2 figures equal the dry run's, and count all three."""
    async with open_session(server, "streamable-http") as session:
        for path in PAGES:
            page = await session.call_tool("read_documentation", {"url": "https://docs.aws.amazon.com" + path})
            assert not page.is_error
        found = await session.call_tool("search_documentation", {"search_phrase": "RDS"})
        assert not found.is_error
    admin = await logged_in(server)
    page = (await admin.get("/admin/cache/")).text
    entries = re.search(r'id="l2-entries">(\d+)<', page)
    size = re.search(r'id="l2-bytes" title="(\d+) bytes">', page)
    assert entries and size, page[-3000:]
    dry = await post_form(admin, "/admin/cache/", {"what": "all", "target": "", "dry_run": "on"})
    report = re.search(r"would remove (\d+) shared \(L2\) entries \((\d+) bytes\)", dry.text)
    assert report, dry.text[-3000:]
    assert (int(entries.group(1)), int(size.group(1))) == (int(report.group(1)), int(report.group(2)))
    assert int(entries.group(1)) >= 3 and int(size.group(1)) > 1000  # two pages and a search answer at least
    await admin.aclose()


@pytest.fixture(scope="module")
def on_redis(origin: OriginServer) -> Iterator[DaphneServer]:
    with redis_server() as redis, daphne(**origin.settings_env(), REDIS_URL=redis.url) as srv:
        yield srv


async def test_the_cache_page_and_the_dry_run_agree_on_redis(on_redis: DaphneServer) -> None:
    await assert_figures_agree_with_the_dry_run(on_redis)
