"""The two-level docs cache with real processes: two Daphnes sharing one L2, the fixture origin counting.

Counting the requests the origin receives tells a cache hit from a fetch.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne, redis_server

BASE = "https://docs.aws.amazon.com"
RDS = "/AmazonRDS/latest/UserGuide/Welcome.html"
LANDING = "/prescriptive-guidance/latest/migration-aws-environment/building-landing-zones.html"
CONSTRUCTS = "/solutions/latest/constructs/aws-lambda-sns.html"
CLI = "/cli/latest/reference/s3/cp.html"
TABS = "/AWSCloudFormation/latest/UserGuide/service_code_examples.html"


@pytest.fixture(scope="module")
def pair(origin: OriginServer) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Two processes sharing one SQLite file, so one L2 (the embedded default's shared layer)."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-pair-")) / "db.sqlite3"
    env = {**origin.settings_env(), "DOCS_PURGE_POLL": "0.2", "DOCS_STATS_FLUSH": "0.5"}
    with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
        yield a, b


async def read(server: DaphneServer, path: str, **arguments: object) -> str:
    async with open_session(server, "streamable-http") as session:
        result = await session.call_tool("read_documentation", {"url": BASE + path, **arguments})
        text = "\n".join(c.text for c in result.content)
        assert not result.is_error, text
        return text


async def test_ten_paginated_reads_cost_one_fetch(pair, origin: OriginServer) -> None:  # type: ignore[no-untyped-def]
    a, _b = pair
    before = origin.hits(LANDING)
    async with open_session(a, "streamable-http") as session:
        for start in range(0, 10_000, 1000):
            result = await session.call_tool(
                "read_documentation", {"url": BASE + LANDING, "max_length": 1000, "start_index": start}
            )
            assert not result.is_error
    assert origin.hits(LANDING) - before == 1


async def test_fifty_concurrent_cold_reads_on_two_processes_cost_one_fetch(pair, origin: OriginServer) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    before = origin.hits(CONSTRUCTS)
    texts = await asyncio.gather(*(read(a if i % 2 else b, CONSTRUCTS, max_length=200) for i in range(50)))
    assert len(set(texts)) == 1
    assert origin.hits(CONSTRUCTS) - before == 1


async def test_a_page_read_on_one_process_is_served_from_l2_on_the_other(pair, origin: OriginServer) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    before = origin.hits(CLI)
    first = await read(a, CLI)
    second = await read(b, CLI)
    assert first == second
    assert origin.hits(CLI) - before == 1


async def test_a_purge_reaches_every_process(pair, origin: OriginServer) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    await read(a, TABS)
    await read(b, TABS)  # now in both processes' L1 and in L2
    before = origin.hits(TABS)
    dry = a.manage("purge_docs_cache", "--url", BASE + TABS, "--dry-run")
    assert dry.returncode == 0 and "would remove 1 shared (L2)" in dry.stdout, dry.stdout + dry.stderr
    done = a.manage("purge_docs_cache", "--url", BASE + TABS)
    assert done.returncode == 0 and "removed 1 shared (L2)" in done.stdout, done.stdout + done.stderr
    await asyncio.sleep(1.0)  # a few purge polls
    await read(b, TABS)
    assert origin.hits(TABS) - before == 1  # b's L1 was emptied: it fetched again
    await read(a, TABS)
    assert origin.hits(TABS) - before == 1  # a found b's fresh copy in L2


def test_purge_command_refuses_bad_arguments(pair) -> None:  # type: ignore[no-untyped-def]
    a, _b = pair
    for args in (("--url", "https://evil.example/x.html"), ("--prefix", "ftp://docs.aws.amazon.com/"), ()):
        result = a.manage("purge_docs_cache", *args)
        assert result.returncode != 0
        assert "error" in (result.stderr + result.stdout).lower()
    prefix = a.manage("purge_docs_cache", "--prefix", f"{BASE}/AmazonRDS/", "--dry-run")
    assert prefix.returncode == 0 and "pages under" in prefix.stdout
    answers = a.manage("purge_docs_cache", "--search")
    assert answers.returncode == 0 and "search and recommendation answers" in answers.stdout


async def test_stats_are_fleet_wide(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    await read(a, RDS)
    await read(b, RDS)
    await asyncio.sleep(1.2)  # a stats flush or two
    result = a.manage("docs_cache_stats")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["processes"] == 2
    counters = figures["counters"]
    assert counters["origin_fetches"] >= 1 and counters["l2_hits"] >= 1 and counters["l1_hits"] >= 1
    assert figures["origin_latency"]["p50"] is not None
    assert any(url.endswith(RDS) for url, _count in figures["top_urls"])


@pytest.fixture(scope="module")
def short_lived(origin: OriginServer) -> Iterator[DaphneServer]:
    """Entries fresh for one second, so revalidation and stale copies can be watched."""
    with daphne(
        **origin.settings_env(), DOCS_CACHE_L1_TTL="1", DOCS_CACHE_L2_TTL="1", DOCS_FETCH_RETRIES="0"
    ) as server:
        yield server


async def test_expired_entries_are_revalidated(short_lived: DaphneServer, origin: OriginServer) -> None:
    await read(short_lived, LANDING)
    before = origin.state.not_modified[LANDING]
    await asyncio.sleep(1.5)
    await read(short_lived, LANDING)
    assert origin.state.not_modified[LANDING] - before == 1


async def test_origin_outage_serves_a_stale_copy_and_says_so(short_lived: DaphneServer, origin: OriginServer) -> None:
    fresh = await read(short_lived, CONSTRUCTS)
    assert "(stale)" not in fresh
    origin.fail(CONSTRUCTS)
    try:
        await asyncio.sleep(1.5)
        stale = await read(short_lived, CONSTRUCTS)
    finally:
        origin.fail(CONSTRUCTS, False)
    assert "cached copy from" in stale and "(stale)" in stale and "HTTP 503" in stale
    assert stale.split("\n\n", 1)[1].startswith(fresh.split("\n\n", 1)[0])


async def test_redis_outage_degrades_without_failed_calls(origin: OriginServer) -> None:
    with redis_server() as redis, daphne(**origin.settings_env(), REDIS_URL=redis.url) as server:
        await read(server, RDS)
        redis.stop()
        try:
            again = await read(server, RDS)  # L1
            assert again.startswith("AWS Documentation from")
            other = await read(server, CLI)  # L2 down: straight to the origin
            assert "# cp" in other
            async with open_session(server, "sse") as session:
                result = await session.call_tool("search_documentation", {"search_phrase": "RDS"})
                assert not result.is_error
        finally:
            redis.start()
        await asyncio.sleep(0.5)
        assert (await read(server, LANDING)).startswith("AWS Documentation from")
        assert server.alive()
