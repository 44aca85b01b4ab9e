"""`python -m bench.search`: the local search index's accuracy and speed, on SQLite FTS5 and PostgreSQL.

Each engine runs in its own process (`--engine sqlite|postgresql`: the engine is the database Django is
set up with), on a fresh database: the fixture pages (tests/fixtures/aws-pages and the China pages of
tests/support/origin.py) are converted and indexed through the index's store, then
 - accuracy: every query of tests/fixtures/search_queries.json (written from the pages' content) is
   searched in its partition; top-1 and top-3 say how often the expected page is first, or among the
   first three;
 - speed: the index is filled to --documents pages with copies of the fixture pages under distinct URLs
   (same text, so every query matches as many pages as it would among that many real ones of these
   guides), and the queries are run one after another for --seconds; queries per second and the p50/p95
   latency of one query (the blocking `query.search` call, as the tools' database pool runs it).
PostgreSQL is the real server the tests start (tests.support.processes.postgres_server). The driver
prints one table and writes bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "tests" / "fixtures" / "search_queries.json"
CN_USERGUIDE = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/"
ENGINES = ("sqlite", "postgresql")
FILL_BATCH = 500


# --- the fixture index (also used by tests/docs_proxy/test_search_accuracy.py) -------------------------
def fixture_pages() -> list[tuple[str, bytes]]:
    """(public URL, HTML) of every fixture page, both partitions."""
    from tests.support.origin import CHINA_PAGE_HTML, CHINA_SERVICES_HTML, PAGES

    manifest = json.loads((PAGES / "MANIFEST.json").read_text())
    pages = [(url, (PAGES / name).read_bytes()) for url, name in manifest.items()]
    pages.append((CN_USERGUIDE + "services.html", CHINA_SERVICES_HTML.encode()))
    pages.append((CN_USERGUIDE + "s3.html", CHINA_PAGE_HTML.encode()))
    return pages


def fixture_records() -> list[Any]:
    """The index records of the fixture pages, converted as the cache converts them (needs Django set up)."""
    from docs_proxy.addresses import PUBLIC_HOSTS, parse_doc_url
    from docs_proxy.convert import convert_body
    from docs_proxy.page import Page
    from docs_proxy.search_index.records import record_for

    records = []
    for url, html in fixture_pages():
        partition = "aws-cn" if PUBLIC_HOSTS["aws-cn"] in url else "aws"
        address = parse_doc_url(url, partition)
        page = Page(address, address, convert_body(html, "utf-8", url), time.time(), time.time() + 3600)
        records.append(record_for(page))
    return records


def copies(records: list[Any], total: int) -> Iterator[Any]:
    """`total - len(records)` copies of the records under distinct URLs (and so distinct guides)."""
    from dataclasses import replace

    from docs_proxy.search_index.records import guide_of

    for n in range(total - len(records)):
        record = records[n % len(records)]
        scheme, _, rest = record.url.partition("://")
        host, _, path = rest.partition("/")
        url = f"{scheme}://{host}/bench-copy-{n // len(records)}/{path}"
        yield replace(record, url=url, guide=guide_of(url))


def queries() -> list[dict[str, str]]:
    return list(json.loads(QUERIES.read_text())["queries"])


def accuracy(search: Callable[[str, str], list[str]], cases: list[dict[str, str]]) -> dict[str, Any]:
    """Top-1 and top-3 accuracy of `search(query, partition) -> URLs, best first` over the cases."""
    first = within_three = 0
    misses = []
    for case in cases:
        urls = search(case["query"], case["partition"])
        first += bool(urls) and urls[0] == case["expected_url"]
        within_three += case["expected_url"] in urls[:3]
        if not urls or urls[0] != case["expected_url"]:
            misses.append({"query": case["query"], "expected": case["expected_url"], "got": urls[:3]})
    return {"queries": len(cases), "top1": first, "top3": within_three, "misses": misses}


def local_urls(query: str, partition: str) -> list[str]:
    from docs_proxy.search_index.query import search

    return [hit.url for hit in search(query, partition, 3).hits]


# --- one engine (a process of its own) ----------------------------------------------------------------
def setup_django(engine: str, database_url: str, workdir: Path) -> None:
    """Django on the engine: PostgreSQL at `database_url`, or a SQLite file in `workdir` (the caller removes it)."""
    if engine == "postgresql":
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = str(workdir / "db.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awsmcp.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnop")
    os.environ["DOCS_INDEX_MAX_PAGES"] = str(10**7)  # the bench sizes the index itself
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def save_all(records: list[Any]) -> None:
    """Save through the store, one transaction per batch (a commit per page would measure the disk)."""
    from django.db import transaction

    from docs_proxy.search_index import store

    with transaction.atomic():
        for record in records:
            store.save(record)


def timed_queries(cases: list[dict[str, str]], seconds: float) -> list[float]:
    """Latencies (s) of the cases searched round after round for `seconds` (at least one round)."""
    from docs_proxy.search_index.query import search

    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    while not latencies or time.perf_counter() < stop:
        for case in cases:
            started = time.perf_counter()
            search(case["query"], case["partition"], 10)
            latencies.append(time.perf_counter() - started)
    return latencies


def run_engine(engine: str, database_url: str, documents: int, seconds: float, workdir: Path) -> dict[str, Any]:
    setup_django(engine, database_url, workdir)
    from django.db import connection

    from docs_proxy.search_index import store

    records = fixture_records()
    for record in records:
        store.save(record)
    cases = queries()
    found = accuracy(local_urls, cases)
    started = time.perf_counter()
    batch: list[Any] = []
    for record in copies(records, documents):
        batch.append(record)
        if len(batch) == FILL_BATCH:
            save_all(batch)
            batch = []
    save_all(batch)
    fill_seconds = time.perf_counter() - started
    pages = store.count_matching()
    timed_queries(cases[:4], 0.0)  # warm the caches and the code paths
    latencies = timed_queries(cases, seconds)
    connection.close()
    return {
        "engine": engine,
        "vendor": connection.vendor,
        "documents": pages,
        "index_pages_per_second": round((pages - len(records)) / fill_seconds, 1) if fill_seconds else None,
        "queries_run": len(latencies),
        "qps": round(len(latencies) / sum(latencies), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(statistics.quantiles(latencies, n=20)[18] * 1000, 2),
        "accuracy": found,
    }


# --- the driver ----------------------------------------------------------------------------------------
def engine_process(engine: str, args: argparse.Namespace, database_url: str = "") -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.search", "--engine", engine, "--documents", str(args.documents)]
    command += ["--seconds", str(args.seconds), "--database-url", database_url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench.search --engine {engine} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| engine | documents | queries/s | p50 ms | p95 ms | top-1 | top-3 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        a = r["accuracy"]
        lines.append(
            f"| {r['engine']} | {r['documents']} | {r['qps']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {a['top1']}/{a['queries']} ({a['top1'] / a['queries']:.0%}) "
            f"| {a['top3']}/{a['queries']} ({a['top3'] / a['queries']:.0%}) |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--engine", choices=ENGINES, help="measure this engine in this process (the driver's part)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="the driver: which engines")
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.engine:
        # The SQLite file grows to hundreds of MB: it goes with its directory whatever happens.
        with tempfile.TemporaryDirectory(prefix="awsmcp-bench-search-") as workdir:
            found = run_engine(args.engine, args.database_url, args.documents, args.seconds, Path(workdir))
        print(json.dumps(found), flush=True)
        return
    results = []
    for engine in args.engines.split(","):
        if engine == "postgresql":
            from tests.support.processes import postgres_server

            with postgres_server() as server:
                results.append(engine_process(engine, args, server.url))
        else:
            results.append(engine_process(engine, args))
    print(f"local search over {args.documents} documents, queries of {QUERIES.relative_to(ROOT)} one after another:")
    print("\n".join(table(results)))
    for r in results:
        print(
            f"{r['engine']}: indexing {r['index_pages_per_second']} pages/s (store.save, {FILL_BATCH} per transaction)"
        )
        for miss in r["accuracy"]["misses"]:
            print(f"  {r['engine']} not first: {miss['query']!r} -> {miss['got']}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps({"documents": args.documents, "engines": results}, indent=2))


if __name__ == "__main__":
    main()
