"""The local index through the tools, over the docs tests' Daphne (SQLite) with the `mcp` SDK client:
aws-cn's search_documentation, aws's fallback when the search API answers 503 or hangs, and hostile
phrases with a witness. On PostgreSQL, with the search API timeout and a 304: test_search_index_postgres.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from mcp.client.session import ClientSession

from tests.docs_proxy.conftest import SEARCH_API_BACKOFF
from tests.docs_proxy.search_pages import CN_S3
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer
from tests.support.witness import Witness

BASE = "https://docs.aws.amazon.com"
RDS = BASE + "/AmazonRDS/latest/UserGuide/Welcome.html"


@pytest.fixture
def search_api(origin: OriginServer) -> Iterator[OriginServer]:
    """The origin, whose search API outage a test switches on; answering again afterwards."""
    yield origin
    origin.search_fails(None)


async def search(session: ClientSession, phrase: str, **arguments: Any) -> tuple[dict[str, Any], list[str]]:
    result = await session.call_tool("search_documentation", {"search_phrase": phrase, **arguments})
    texts = [c.text for c in result.content if c.type == "text"]
    assert not result.is_error, texts
    assert result.structured_content == json.loads(texts[0])
    return result.structured_content, texts


async def read(session: ClientSession, url: str) -> None:
    result = await session.call_tool("read_documentation", {"url": url, "max_length": 200})
    assert not result.is_error, result.content


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Indexing runs after the read has answered: wait for it (a bound far above what it takes)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def urls(answer: dict[str, Any]) -> list[str]:
    return [r["url"] for r in answer["search_results"]]


async def china_page_indexed(session: ClientSession) -> None:
    """Read the China S3 page, and wait until aws-cn's search finds it."""
    await read(session, CN_S3)

    async def found() -> bool:
        return CN_S3 in urls((await search(session, "S3 endpoints in China"))[0])

    await until(found, "the China page read is found")


async def test_aws_cn_searches_the_pages_read_so_far_and_says_so(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http", query="partition=aws-cn") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert "search_documentation" in tools and tools["search_documentation"].output_schema is not None
        assert "search_phrase" in tools["search_documentation"].input_schema["properties"]
        await china_page_indexed(session)
        answer, texts = await search(session, "S3 endpoints in China", limit=5)
        first = answer["search_results"][0]
        assert first["url"] == CN_S3 and first["rank_order"] == 1 and first["title"]
        assert "endpoints" in (first["context"] or "").lower()
        assert first["sections"] == ["Differences"]
        meta = answer["metadata"]
        assert meta["source"] == "local_index" and meta["partition"] == "aws-cn" and meta["indexed_pages"] >= 1
        assert answer["query_id"].startswith("local-")
        assert f"{meta['indexed_pages']} page" in meta["note"] and "index_docs --guide" in meta["note"]
        assert texts[1] == meta["note"]  # the note in the text too, after the JSON
        empty, _ = await search(session, "zzzqqq nothing matches this")
        assert empty["search_results"] == [] and empty["metadata"]["indexed_pages"] == meta["indexed_pages"]
        refused = await session.call_tool("search_documentation", {"search_phrase": "*** ::: ((("})
        assert refused.is_error and "no words to search for" in refused.content[0].text
        await assert_stop_words_refused(session)


async def assert_stop_words_refused(session: ClientSession) -> None:
    """Only words too common to search (PostgreSQL drops them): refused alike on both engines."""
    for phrase in ("the a of", "How do I"):
        refused = await session.call_tool("search_documentation", {"search_phrase": phrase})
        assert refused.is_error and "only words too common to search for" in refused.content[0].text, phrase


async def test_aws_answers_from_the_local_index_when_the_search_api_fails(
    docs_server: DaphneServer, search_api: OriginServer
) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        await read(session, RDS)
        search_api.search_fails("503")

        async def found() -> bool:
            return RDS in urls((await search(session, "managed relational database"))[0])

        await until(found, "the page read is found by the fallback")
        answer, texts = await search(session, "managed relational database")
        meta = answer["metadata"]
        assert meta["source"] == "local_index" and "503" in meta["fallback_reason"]
        assert texts[1].startswith("The AWS search API failed (") and "local index" in texts[1]

        async def api_asked() -> bool:
            """A search that asked the API (and failed): the backoff starts now."""
            asked = search_api.hits("/search")
            await search(session, "relational database instance")
            return search_api.hits("/search") > asked

        await until(api_asked, "the API is asked again after its backoff")
        asked = search_api.hits("/search")
        answer, _ = await search(session, "What is Amazon RDS")  # within the backoff: the API is not asked
        assert search_api.hits("/search") == asked and urls(answer)[0] == RDS
        reason = answer["metadata"]["fallback_reason"]
        assert "503" in reason and f"asked again within {SEARCH_API_BACKOFF} s" in reason

        search_api.search_fails("hang")  # this server reads for DOCS_READ_TIMEOUT=1.5 s at most

        async def timed_out() -> bool:
            answer = (await search(session, "What is Amazon RDS"))[0]
            reason = answer["metadata"]["fallback_reason"]
            return reason.startswith("The documentation service did not answer") and urls(answer)[0] == RDS

        await until(timed_out, "a hanging API is given up after its timeout")

        search_api.search_fails(None)  # the API answers again, and its answer is not a cached fallback

        async def answered() -> bool:
            return (await search(session, "managed relational database"))[0]["query_id"] == "fixture-query-1"

        await until(answered, "the API answers after its backoff")


HOSTILE = [
    '"unbalanced China',
    "China NEAR(S3 endpoints, 2)",
    "endpoint*",
    "-China ^S3 title:S3",
    "{title body}: China",
    "((((S3",
    "S3)))) OR AND NOT",
    "'; DROP TABLE docs_proxy_indexedpage; --",
    "亚马逊云科技 S3",
    "S3 " * 330,
]


async def test_query_syntax_in_the_phrase_is_searched_as_words(docs_server: DaphneServer) -> None:
    async with (
        Witness(docs_server) as witness,
        open_session(docs_server, "streamable-http", query="partition=aws-cn") as session,
    ):
        await china_page_indexed(session)
        for phrase in HOSTILE:
            answer, _ = await search(session, phrase)
            assert answer["metadata"]["searched_words"], phrase
            assert all(w.isalnum() for w in answer["metadata"]["searched_words"])
        too_long = await session.call_tool("search_documentation", {"search_phrase": "x" * 10_240})
        assert too_long.is_error and "longer than" in too_long.content[0].text
        assert CN_S3 in urls((await search(session, "S3 endpoints in China"))[0])
        witness.assert_unharmed(slowest=5.0)
    assert docs_server.alive()
