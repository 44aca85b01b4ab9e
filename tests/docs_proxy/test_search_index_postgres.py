"""The local index on PostgreSQL (tsvector, GIN, ts_rank_cd) through the tools: one PostgreSQL server, one
Daphne on it, the `mcp` SDK client. The fixture pages are read over MCP (so indexed as the server indexes
them), then found by their titles in both partitions; filters, hostile phrases with a witness, the search
API's timeout (DOCS_SEARCH_API_TIMEOUT) with its count in /metrics, and a 304 indexing the page again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from mcp.client.session import ClientSession

from docs_proxy.search_index.records import IndexRecord, record_for
from tests.docs_proxy.search_pages import fixture_pages, page_of
from tests.docs_proxy.test_search_index import CJK_HTML, CJK_PAGE
from tests.docs_proxy.test_search_index_tools import HOSTILE, assert_stop_words_refused, read, search, until, urls
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, PostgresServer, daphne, postgres_server
from tests.support.witness import Witness

BASE = "https://docs.aws.amazon.com"
RDS = BASE + "/AmazonRDS/latest/UserGuide/Welcome.html"
LANDING = BASE + "/prescriptive-guidance/latest/migration-aws-environment/building-landing-zones.html"
API_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def server(origin: OriginServer, postgres: PostgresServer) -> Iterator[DaphneServer]:
    env = {
        **origin.settings_env(),
        "DATABASE_URL": postgres.url,
        "DOCS_SEARCH_API_TIMEOUT": str(API_TIMEOUT),
        "DOCS_STATS_FLUSH": "0.5",
        "DOCS_FETCH_RETRIES": "0",  # a 503 from the search API falls back at once
        "DOCS_SEARCH_API_BACKOFF": "0",  # the API is asked on every search (its outages come and go here)
        "DOCS_CACHE_L1_TTL": "1",  # entries expire at once: a second read revalidates (a 304)
        "DOCS_CACHE_L2_TTL": "1",
    }
    with daphne(**env) as srv:
        yield srv
        assert srv.alive(), srv.log()


@pytest.fixture
def search_api(origin: OriginServer) -> Iterator[OriginServer]:
    """The origin with its search API down (503), so aws's search answers from the local index."""
    origin.search_fails("503")
    yield origin
    origin.search_fails(None)


async def indexed_pages(session: ClientSession) -> int:
    return int((await search(session, "amazon"))[0]["metadata"]["indexed_pages"])


@pytest.fixture(scope="module")
def pages_read(server: DaphneServer, origin: OriginServer) -> None:
    """Every fixture page read over MCP, and indexed (aws's count seen through the fallback)."""
    asyncio.run(read_every_page(server, origin))


async def read_every_page(server: DaphneServer, origin: OriginServer) -> None:
    pages = fixture_pages()
    aws = [p.served.url for p in pages if p.served.partition == "aws"]
    china = [p.served.url for p in pages if p.served.partition == "aws-cn"]
    async with (
        open_session(server, "streamable-http") as session,
        open_session(server, "streamable-http", query="partition=aws-cn") as cn,
    ):
        await asyncio.gather(*(read(session, url) for url in aws), *(read(cn, url) for url in china))
        origin.search_fails("503")
        try:

            async def all_indexed() -> bool:
                return await indexed_pages(session) == len(aws) and await indexed_pages(cn) == len(china)

            await until(all_indexed, "every page read is indexed")
        finally:
            origin.search_fails(None)


@pytest.mark.usefixtures("pages_read", "search_api")
async def test_every_page_is_found_first_by_its_title(server: DaphneServer) -> None:
    async with (
        open_session(server, "streamable-http") as session,
        open_session(server, "streamable-http", query="partition=aws-cn") as cn,
    ):
        for page in fixture_pages():
            answer, _ = await search(cn if page.served.partition == "aws-cn" else session, page.document.title)
            assert answer["metadata"]["source"] == "local_index"
            assert urls(answer)[:1] == [page.served.url], page.document.title
            assert answer["search_results"][0]["context"]


@pytest.mark.usefixtures("pages_read", "search_api")
async def test_filters_and_the_any_word_tail(server: DaphneServer) -> None:
    async with open_session(server, "streamable-http") as session:
        rds, _ = await search(session, "instance", product_types=["Amazon RDS"], limit=10)
        assert urls(rds) == [RDS]
        mixed, _ = await search(session, "relational database zzzunknownword", limit=3)
        assert urls(mixed)[0] == RDS  # no page holds every word: the pages holding most come first
        assert {r["metadata"]["matched"] for r in mixed["search_results"]} == {"some words"}


@pytest.mark.usefixtures("pages_read")
async def test_query_syntax_is_searched_as_words_on_postgresql(server: DaphneServer) -> None:
    async with Witness(server) as witness, open_session(server, "streamable-http", query="partition=aws-cn") as cn:
        for phrase in HOSTILE:
            answer, _ = await search(cn, phrase)
            assert all(w.isalnum() for w in answer["metadata"]["searched_words"]), phrase
        await assert_stop_words_refused(cn)
        assert urls((await search(cn, "S3 endpoints in China"))[0])[:1] == [
            "https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"
        ]
        witness.assert_unharmed(slowest=5.0)


def fallbacks(text: str) -> float:
    found = re.search(r'awsmcp_docs_cache_events(?:_total)?\{event="search_fallbacks"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.usefixtures("pages_read")
async def test_a_hanging_search_api_falls_back_after_its_timeout_and_is_counted(
    server: DaphneServer, origin: OriginServer
) -> None:
    async with httpx.AsyncClient(timeout=10) as http, open_session(server, "streamable-http") as session:
        before = fallbacks((await http.get(f"{server.base}/metrics")).text)
        origin.search_fails("hang")
        try:
            started = time.monotonic()
            answer, texts = await search(session, "What is Amazon RDS")
            assert time.monotonic() - started < 15  # well before the 20 s fetch deadline
        finally:
            origin.search_fails(None)
        assert urls(answer)[0] == RDS
        reason = f"the AWS search API did not answer within {API_TIMEOUT:g} s"
        assert answer["metadata"]["fallback_reason"] == reason and reason in texts[1]

        async def counted() -> bool:
            return fallbacks((await http.get(f"{server.base}/metrics")).text) >= before + 1

        await until(counted, "the fallback is counted in /metrics")


def forget(postgres: PostgresServer, url: str) -> int:
    """Remove a page's row from the index behind the server's back (the test's own connection)."""
    with psycopg.connect(postgres.url, autocommit=True) as db:
        return db.execute("DELETE FROM docs_proxy_indexedpage WHERE url = %s", [url]).rowcount


async def test_a_revalidated_page_is_indexed_again(
    server: DaphneServer, search_api: OriginServer, postgres: PostgresServer
) -> None:
    path = "/" + LANDING.split("/", 3)[3]
    async with open_session(server, "streamable-http") as session:
        await read(session, LANDING)

        async def indexed() -> bool:
            return LANDING in urls((await search(session, "landing zone"))[0])

        await until(indexed, "the page read is indexed")
        assert await asyncio.to_thread(forget, postgres, LANDING) == 1
        assert LANDING not in urls((await search(session, "landing zone"))[0])
        before = search_api.state.not_modified[path]
        await asyncio.sleep(1.2)  # the cached copy is now stale: the next read revalidates it
        await read(session, LANDING)
        assert search_api.state.not_modified[path] == before + 1
        await until(indexed, "the revalidated page is indexed again")


def insert(postgres: PostgresServer, record: IndexRecord) -> None:
    """A page's row as the index writes it (record_for's text), written behind the server's back."""
    with psycopg.connect(postgres.url, autocommit=True) as db:
        db.execute(
            "INSERT INTO docs_proxy_indexedpage (url, partition, guide, title, headings, body, indexed_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, now())",
            [record.url, record.partition, record.guide, record.title, "\n".join(record.headings), record.body],
        )


@pytest.mark.usefixtures("pages_read")
async def test_words_inside_a_cjk_run_are_found_on_postgresql(server: DaphneServer, postgres: PostgresServer) -> None:
    await asyncio.to_thread(insert, postgres, record_for(page_of(CJK_PAGE, CJK_HTML, "aws-cn")))
    async with open_session(server, "streamable-http", query="partition=aws-cn") as cn:
        for phrase in ("存储桶", "对象的容器", "S3 存储桶"):
            answer, _ = await search(cn, phrase)
            assert urls(answer)[:1] == [CJK_PAGE], phrase
            assert "存储桶是对象的容器" in answer["search_results"][0]["context"]
