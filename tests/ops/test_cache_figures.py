"""The cache page's L2 entries and bytes are what a dry run of purging everything counts, and what the purge then
removes: on SQLite and on Redis. Past OPS_CACHE_COUNT_MAX entries the count stops and both say "≥ N".

The page once counted pages only while the purge counted answers too (4 against 7), and showed no bytes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django_redis.cache import RedisCache

from docs_proxy.cache.backends import DatabaseAdapter, RedisAdapter
from tests.support.admin import logged_in, post_form
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import ROOT, DaphneServer, RedisServer, base_env, daphne, postgres_server, redis_server

PAGES = ("/AmazonRDS/latest/UserGuide/Welcome.html", "/cli/latest/reference/s3/cp.html")


async def fill(server: DaphneServer) -> None:
    """Two pages and a search answer in the shared layer (at least three entries)."""
    async with open_session(server, "streamable-http") as session:
        for path in PAGES:
            page = await session.call_tool("read_documentation", {"url": "https://docs.aws.amazon.com" + path})
            assert not page.is_error
        found = await session.call_tool("search_documentation", {"search_phrase": "RDS"})
        assert not found.is_error


async def assert_figures_agree_with_the_dry_run(server: DaphneServer) -> None:
    """After reads of two pages and a search, the page's L2 figures equal the dry run's, and count all three; the
    purge that follows removes as many as both said."""
    await fill(server)
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
    purged = await post_form(admin, "/admin/cache/", {"what": "all", "target": ""})
    removed = re.search(r"removed (\d+) shared \(L2\) entries", purged.text)
    assert removed, purged.text[-3000:]
    assert int(removed.group(1)) == int(entries.group(1))  # the figures and the purge count the same entries
    assert re.search(r'id="l2-entries">0<', purged.text)  # and nothing is left
    await admin.aclose()


@pytest.fixture(scope="module")
def on_redis(origin: OriginServer) -> Iterator[DaphneServer]:
    with redis_server() as redis, daphne(**origin.settings_env(), REDIS_URL=redis.url) as srv:
        yield srv


async def test_the_cache_page_and_the_dry_run_agree_on_redis(on_redis: DaphneServer) -> None:
    await assert_figures_agree_with_the_dry_run(on_redis)


@pytest.fixture(scope="module")
def on_sqlite(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(**origin.settings_env()) as srv:
        yield srv


async def test_the_cache_page_and_the_dry_run_agree_on_sqlite(on_sqlite: DaphneServer) -> None:
    await assert_figures_agree_with_the_dry_run(on_sqlite)


async def test_past_its_cap_the_count_stops_and_says_at_least(origin: OriginServer) -> None:
    with daphne(**origin.settings_env(), OPS_CACHE_COUNT_MAX="2") as server:
        await fill(server)
        admin = await logged_in(server)
        page = (await admin.get("/admin/cache/")).text
        assert re.search(r'id="l2-entries">≥ 2<', page), page[-3000:]
        dry = await post_form(admin, "/admin/cache/", {"what": "all", "target": "", "dry_run": "on"})
        assert re.search(r"would remove ≥ 2 shared \(L2\) entries \(≥ \d+ bytes\)", dry.text), dry.text[-3000:]
        purged = await post_form(admin, "/admin/cache/", {"what": "all", "target": ""})
        removed = re.search(r"removed (\d+) shared \(L2\) entries", purged.text)
        assert removed and int(removed.group(1)) >= 3, purged.text[-3000:]  # the purge itself is not capped
        await admin.aclose()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def test_the_redis_count_stops_at_its_limit_in_chunks(redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCAN and STRLEN a chunk at a time (here 4 keys), and no further than the limit."""
    monkeypatch.setattr("docs_proxy.cache.backends.SCAN_CHUNK", 4)
    backend = RedisCache(redis.url, {"KEY_PREFIX": "cap-test"})
    backend.set_many({f"page:{n}": "x" * n for n in range(10)}, timeout=None)
    backend.set("other:0", "not counted")
    client = backend.client.get_client(write=False)
    stored = sum(client.strlen(name) for name in client.scan_iter(match=backend.client.make_pattern("page:*")))
    adapter = RedisAdapter()
    assert adapter.footprint(backend, "page:*", 100) == (10, stored, False)
    assert adapter.footprint(backend, "page:*", 10) == (10, stored, False)  # exactly the limit: nothing more
    entries, size, capped = adapter.footprint(backend, "page:*", 6)
    assert (entries, capped) == (6, True) and 0 < size < stored


@pytest.mark.django_db(transaction=True)
def test_the_database_count_stops_at_its_limit_and_counts_bytes() -> None:
    backend = caches["docs"]
    backend.clear()  # the cache's table is no model's: earlier tests' rows outlive their transactions
    backend.set_many({f"page:{n}": "é" * n for n in range(10)}, timeout=None)
    backend.set("page:expired", "x" * 50, timeout=-1)  # a purge deletes expired rows too: counted like them
    adapter = DatabaseAdapter()
    rows = adapter._query(backend, *adapter._select(backend, "value", "page:*"))
    stored = sum(len(value.encode()) for (value,) in rows)
    assert (
        adapter.footprint(backend, "page:*", 100)
        == (11, stored, False)
        == (len(adapter.keys(backend, "page:*")), stored, False)
    )
    entries, size, capped = adapter.footprint(backend, "page:*", 4)
    assert (entries, capped) == (4, True) and 0 < size < stored


# On PostgreSQL, in one `manage.py shell` on a fresh server: the docs cache's table alone is made.
POSTGRES_COUNT = """
import json
from django.core.cache import caches
from django.core.management import call_command
from docs_proxy.cache.backends import DatabaseAdapter
call_command("createcachetable", verbosity=0)
backend, adapter = caches["docs"], DatabaseAdapter()
backend.set_many({f"page:{n}": "é" * n for n in range(10)}, timeout=None)
values = adapter._query(backend, *adapter._select(backend, "value", "page:*"))
print(json.dumps({
    "stored": sum(len(value.encode()) for (value,) in values),
    "all": adapter.footprint(backend, "page:*", 100),
    "capped": adapter.footprint(backend, "page:*", 4),
}))
"""


def test_the_database_count_on_postgresql() -> None:
    with postgres_server() as pg:
        env = base_env(DATABASE_URL=pg.url)
        shell = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", POSTGRES_COUNT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert shell.returncode == 0, shell.stderr[-3000:]
    figures = json.loads(shell.stdout.strip().splitlines()[-1])
    assert figures["all"] == [10, figures["stored"], False]
    entries, size, capped = figures["capped"]
    assert (entries, capped) == (4, True) and 0 < size < figures["stored"]
