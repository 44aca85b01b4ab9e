"""Ranking a person would accept, measured: every query of tests/fixtures/search_queries.json (written from the
fixture pages' content) finds its expected page among the first three, on both engines; top-1 is reported.

SQLite runs in process on the test database; PostgreSQL is the real server the fleet tests start, measured by
bench.search's engine process (the engine is the database Django is set up with, so it needs a process of its
own). This is the one PostgreSQL module of the crawl's tests: one server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bench.search import ROOT, accuracy, fixture_pages, fixture_records, local_urls, queries
from tests.support.processes import PostgresServer, postgres_server


def report(engine: str, found: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(
            f"\nsearch accuracy on {engine}: top-1 {found['top1']}/{found['queries']}, "
            f"top-3 {found['top3']}/{found['queries']}; not first: {[m['query'] for m in found['misses']]}"
        )


def test_the_queries_are_many_varied_and_point_at_indexed_pages() -> None:
    cases = queries()
    urls = {url for url, _html in fixture_pages()}
    assert len(cases) >= 20 and {c["partition"] for c in cases} == {"aws", "aws-cn"}
    assert {c["kind"] for c in cases} >= {"title", "heading", "concept", "api", "phrase", "question"}
    assert all(c["expected_url"] in urls for c in cases)
    assert len({c["query"].lower() for c in cases}) == len(cases)


@pytest.mark.django_db
def test_every_query_finds_its_page_in_the_top_three_on_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    from django.db import connection

    from docs_proxy.search_index import store

    assert connection.vendor == "sqlite"
    for record in fixture_records():
        store.save(record)
    found = accuracy(local_urls, queries())
    report("SQLite FTS5", found, capsys)
    assert found["top3"] == found["queries"], found["misses"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def test_every_query_finds_its_page_in_the_top_three_on_postgresql(
    postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    command = [sys.executable, "-m", "bench.search", "--engine", "postgresql", "--database-url", postgres.url]
    done = subprocess.run(
        [*command, "--documents", "0", "--seconds", "0"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    found = result["accuracy"]
    report("PostgreSQL", found, capsys)
    assert found["queries"] == len(queries()) and found["top3"] == found["queries"], found["misses"]
