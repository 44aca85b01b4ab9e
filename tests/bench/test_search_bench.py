"""bench.search's arithmetic, without a database (the accuracy counts and the copies that fill the index), and its
engine process's cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.search import ROOT, accuracy, copies, table
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


def test_the_engine_process_removes_its_sqlite_directory(tmp_path: Path) -> None:
    """The bench's SQLite file grows to hundreds of MB per run: it must not stay behind in the temp directory."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "bench.search", "--engine", "sqlite", "--documents", "12", "--seconds", "0"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["documents"] == 12
    assert list(tmp_path.iterdir()) == []
