"""bench.search's arithmetic, without a database: the accuracy counts and the copies that fill the index."""

from __future__ import annotations

from bench.search import accuracy, copies, table
from docs_proxy.search_index.records import IndexRecord

A, B, C = (f"https://docs.aws.amazon.com/g/latest/ug/{name}.html" for name in ("a", "b", "c"))


def test_accuracy_counts_first_places_and_top_three() -> None:
    answers = {"one": [A, B], "two": [B, C, A], "three": [C, B, B, A], "four": []}
    cases = [{"query": q, "partition": "aws", "expected_url": A} for q in answers]
    found = accuracy(lambda query, partition: answers[query], cases)
    assert (found["queries"], found["top1"], found["top3"]) == (4, 1, 2)
    assert [m["query"] for m in found["misses"]] == ["two", "three", "four"]
    assert found["misses"][1]["got"] == [C, B, B]


def test_copies_fill_to_the_total_with_distinct_urls_in_their_own_guides() -> None:
    records = [IndexRecord(url, "aws", url.rsplit("/", 1)[0] + "/", "T", ["H"], "body") for url in (A, B, C)]
    made = list(copies(records, 10))
    assert len(made) == 7 and len({r.url for r in made} | {r.url for r in records}) == 10
    assert made[3].url == "https://docs.aws.amazon.com/bench-copy-1/g/latest/ug/a.html"
    assert made[3].guide == "https://docs.aws.amazon.com/bench-copy-1/g/latest/ug/"
    assert (made[3].title, made[3].body, made[3].partition) == ("T", "body", "aws")
    assert list(copies(records, 2)) == []


def test_the_table_gives_each_engine_its_figures() -> None:
    row = {"engine": "sqlite", "documents": 10000, "qps": 15.0, "p50_ms": 50.1, "p95_ms": 150.2}
    lines = table([{**row, "accuracy": {"queries": 32, "top1": 30, "top3": 32}}])
    assert lines[2] == "| sqlite | 10000 | 15.0 | 50.1 | 150.2 | 30/32 (94%) | 32/32 (100%) |"
