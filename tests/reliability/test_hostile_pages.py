"""Hostile pages against a real Daphne: conversion happens in worker processes, under limits.

A hostile origin on loopback serves the fixture pages (for the witness) and, under /hostile/, pages
built to be costly: 200,000 nested <div>, 40,000 headings, a table of 20,000 rows, a body declared
as charset=punycode (quadratic to decode). While each is read, a witness session keeps reading a
cached page; the tests assert the error text, the origin's hit count for the page (a page that
failed is not fetched again), and the server process's RSS growth.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import cache

import pytest
from mcp.client.session import ClientSession

from tests.support.clients import open_session
from tests.support.footprint import rss_bytes
from tests.support.origin import Handler, OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.witness import Witness

DOCS = "https://docs.aws.amazon.com"
NESTED = "/hostile/nested.html"
HEADINGS = "/hostile/headings.html"
TABLE = "/hostile/table.html"
PUNYCODE = "/hostile/punycode.html"
HEADING_COUNT = 40_000
TABLE_ROWS = 20_000
RSS_GROWTH_BOUND_MB = 60  # the converter's tree for these pages took 100-200 MB inside the server


def article(title: str, body: str) -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<div id='main-content'><h1>{title}</h1>{body}</div></body></html>"
    ).encode()


@cache
def hostile_page(path: str) -> tuple[bytes, str]:
    """(body, Content-Type) of each hostile page, built once."""
    if path == NESTED:
        return article("Deep", "<div>" * 200_000 + "x" + "</div>" * 200_000), "text/html; charset=utf-8"
    if path == HEADINGS:
        body = "".join(f"<h2 id='s{i}'>Section {i}</h2><p>Text of section {i}.</p>" for i in range(HEADING_COUNT))
        return article("Many headings", body), "text/html; charset=utf-8"
    if path == TABLE:
        rows = "".join(
            f"<tr><td>quota-{i} us-east-{i % 4}</td><td>{i * 1000:,}</td><td>adjustable limit r{i}</td></tr>"
            for i in range(TABLE_ROWS)
        )
        table = f"<table><thead><tr><th>Name</th><th>Value</th><th>Notes</th></tr></thead><tbody>{rows}</tbody></table>"
        return article("Quotas", f"<h2>Limits</h2>{table}"), "text/html; charset=utf-8"
    if path == PUNYCODE:
        # Punycode reads everything after the last "-" as deltas: quadratic in its length.
        return article("Odd charset", "<p>Declared as punycode.</p>") + b"-" + b"zz9" * 80_000, (
            "text/html; charset=punycode"
        )
    raise KeyError(path)


class HostileHandler(Handler):
    def special(self, path: str) -> None:
        try:
            body, content_type = hostile_page(path)
        except KeyError:
            super().special(path)
            return
        self.send_body(200, body, content_type)


@pytest.fixture(scope="module")
def hostile_origin() -> Iterator[OriginServer]:
    server = OriginServer()
    server.RequestHandlerClass = HostileHandler
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(hostile_origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(**hostile_origin.settings_env(), DOCS_CONVERT_TIMEOUT="30") as srv:
        yield srv
        assert srv.alive(), srv.log()


def rss_mb(server: DaphneServer) -> float:
    return rss_bytes(server.proc.pid) / 2**20


def text_of(result) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(c.text for c in result.content if c.type == "text")


async def call(session: ClientSession, tool: str, **arguments):  # type: ignore[no-untyped-def]
    return await session.call_tool(tool, arguments)


async def test_deeply_nested_page_fails_clearly_once(server: DaphneServer, hostile_origin: OriginServer) -> None:
    hits = hostile_origin.hits(NESTED)
    before = rss_mb(server)
    async with Witness(server) as witness, open_session(server, "streamable-http") as session:
        started = time.monotonic()
        results = [await call(session, "read_documentation", url=DOCS + NESTED) for _ in range(5)]
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.3)
    for result in results:
        assert result.is_error
        assert "too deeply nested to convert" in text_of(result), text_of(result)
        assert "internal error" not in text_of(result)
    assert hostile_origin.hits(NESTED) - hits == 1  # remembered as failed: no refetch storm
    assert elapsed < 10, f"five refusals took {elapsed:.1f} s"
    assert rss_mb(server) - before < RSS_GROWTH_BOUND_MB
    witness.assert_unharmed()


async def test_forty_thousand_headings_convert_off_the_server(
    server: DaphneServer, hostile_origin: OriginServer
) -> None:
    hits = hostile_origin.hits(HEADINGS)
    before = rss_mb(server)
    async with Witness(server) as witness, open_session(server, "streamable-http") as session:
        result = await call(session, "read_sections", url=DOCS + HEADINGS, section_titles=["Section 39999"])
        await asyncio.sleep(0.3)
    assert not result.is_error, text_of(result)
    assert "## Section 39999" in text_of(result) and "Text of section 39999." in text_of(result)
    assert hostile_origin.hits(HEADINGS) - hits <= 1
    # The page itself is cached in the server (about 1.2 MB of Markdown and 40,000 sections).
    assert rss_mb(server) - before < RSS_GROWTH_BOUND_MB + 40
    witness.assert_unharmed()


async def test_oversized_arguments_are_refused_before_any_work(
    server: DaphneServer, hostile_origin: OriginServer
) -> None:
    table_hits = hostile_origin.hits(TABLE)
    async with Witness(server) as witness, open_session(server, "streamable-http") as session:
        started = time.monotonic()
        query = await call(session, "search_table", url=DOCS + TABLE, query="quota " * 170_000)
        titles = await call(session, "read_sections", url=DOCS + HEADINGS, section_titles=["x"] * 60_000)
        phrase = await call(session, "search_documentation", search_phrase="s3 " * 400)
        elapsed = time.monotonic() - started
    assert query.is_error and "query: is longer than 1000 characters" in text_of(query)
    assert len(text_of(query)) < 500  # the refusal does not quote the megabyte back
    assert titles.is_error and "section_titles: has more than 50 items" in text_of(titles)
    assert phrase.is_error and "search_phrase: is longer than 1000 characters" in text_of(phrase)
    assert elapsed < 10, f"three refusals took {elapsed:.1f} s"
    assert hostile_origin.hits(TABLE) == table_hits
    witness.assert_unharmed()


async def test_search_table_with_the_longest_query_on_a_large_table(
    server: DaphneServer, hostile_origin: OriginServer
) -> None:
    # Words that match every row (prefixes, the costly kind), then one that matches none: every row is
    # checked against every word before it is rejected.
    longest = ("adju limi quot adjus limit quota " * 40)[:990] + " zzzz"
    table_hits = hostile_origin.hits(TABLE)
    async with Witness(server) as witness, open_session(server, "streamable-http") as session:
        first = await call(session, "search_table", url=DOCS + TABLE, query="quota-19999")
        started = time.monotonic()
        hostile = [await call(session, "search_table", url=DOCS + TABLE, query=longest) for _ in range(3)]
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.3)
    assert not first.is_error, text_of(first)
    assert first.structured_content["results"][0]["rows"][0]["Name"] == "quota-19999 us-east-3"
    assert all(not r.is_error and r.structured_content["tables_with_matches"] == 0 for r in hostile)
    assert elapsed < 15, f"three searches with a {len(longest)}-character query took {elapsed:.1f} s"
    assert hostile_origin.hits(TABLE) - table_hits <= 1
    witness.assert_unharmed()


async def test_punycode_body_is_read_as_utf8(server: DaphneServer, hostile_origin: OriginServer) -> None:
    async with Witness(server) as witness, open_session(server, "streamable-http") as session:
        started = time.monotonic()
        result = await call(session, "read_documentation", url=DOCS + PUNYCODE)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.3)
    assert not result.is_error, text_of(result)
    assert "Declared as punycode." in text_of(result)
    assert elapsed < 5, f"the read took {elapsed:.1f} s"
    witness.assert_unharmed()


@pytest.fixture(scope="module")
def strict_server(hostile_origin: OriginServer) -> Iterator[DaphneServer]:
    """A server whose workers get one CPU second a page: the large table is over its limit."""
    with daphne(**hostile_origin.settings_env(), DOCS_CONVERT_TIMEOUT="1", DOCS_CONVERT_WORKERS="1") as srv:
        yield srv
        assert srv.alive(), srv.log()


async def test_page_over_the_cpu_limit_costs_only_its_own_call(
    strict_server: DaphneServer, hostile_origin: OriginServer
) -> None:
    hits_before = hostile_origin.hits(TABLE)
    before = rss_mb(strict_server)
    async with Witness(strict_server) as witness, open_session(strict_server, "sse") as session:
        results = [await call(session, "search_table", url=DOCS + TABLE, query="quota") for _ in range(3)]
        after_failure = await call(session, "read_documentation", url=DOCS + "/cli/latest/reference/s3/cp.html")
        await asyncio.sleep(0.3)
    for result in results:
        assert result.is_error
        assert "too large or too slow to convert" in text_of(result), text_of(result)
    assert hostile_origin.hits(TABLE) - hits_before == 1
    assert not after_failure.is_error, text_of(after_failure)  # the worker was replaced
    assert rss_mb(strict_server) - before < RSS_GROWTH_BOUND_MB
    witness.assert_unharmed()
