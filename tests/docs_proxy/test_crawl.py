"""`manage.py index_docs` and `purge_docs_cache` against the fixture origin, in process: what lands in the search
index, what the origin is asked (each page once, conditional requests on --refresh), the bounds, the refusals.

The origin counts requests per path; the tests read differences. The crawl's own planning (TOC parsing, hostile
entries, the pacer) is tested in test_crawl_toc.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from awsmcp import pools
from docs_proxy import fetch
from docs_proxy.cache.layers import l1_caches, shared
from docs_proxy.housekeeping import GENERATION_KEY
from docs_proxy.models import IndexedPage
from docs_proxy.purge import PurgeError, PurgeScope, purge
from docs_proxy.search_index import store as index_store
from tests.support.origin import (
    CN_PREFIX,
    CRAWL_BOUND_GUIDE,
    CRAWL_CN_GUIDE,
    CRAWL_GUIDE,
    CRAWL_HOSTILE_GUIDE,
    CRAWL_REFRESH_GUIDE,
    CRAWL_ROOT,
    CRAWL_SMALL_GUIDE,
    OriginServer,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the crawl writes from the "database" pool's threads

AWS = "https://docs.aws.amazon.com"
CN = "https://docs.amazonaws.cn"
CN_USERGUIDE = "/en_us/aws/latest/userguide/"  # the China TOC the origin already serves: two of six pages exist


@pytest.fixture(autouse=True)
def one_database_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test database is SQLite in memory with a shared cache, where a write that meets another thread's
    transaction fails at once ("database table is locked") instead of waiting as on the server's WAL file: one
    database thread (the index's writer's too) makes the crawl's writes take turns. Fetches and conversions
    stay concurrent."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="awsmcp-database-test")
    monkeypatch.setitem(pools._pools, "database", executor)
    monkeypatch.setitem(pools._pools, "index", executor)
    yield
    executor.submit(connections.close_all).result()
    executor.shutdown()


@pytest.fixture(autouse=True)
def to_origin(origin: OriginServer, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[OriginServer]:
    for name, value in origin.settings_env().items():
        setattr(settings, name, value if name != "DOCS_TRUST_ENV_PROXIES" else False)
    settings.DOCS_CRAWL_PACE = 0.0
    monkeypatch.setattr(fetch, "_session", None)  # a session made with these settings
    yield origin


def index_docs(*args: str) -> list[str]:
    out = StringIO()
    call_command("index_docs", *args, stdout=out)
    return out.getvalue().splitlines()


def urls_under(prefix: str) -> set[str]:
    return set(IndexedPage.objects.filter(url__startswith=prefix).values_list("url", flat=True))


def test_a_crawl_indexes_the_pages_of_guides_in_both_partitions_once(to_origin: OriginServer) -> None:
    origin = to_origin
    small = [CRAWL_SMALL_GUIDE + n for n in ("index.html", "queues.html", "topics.html", "topics/fan-out.html")]
    before = {path: origin.hits(path) for path in [*small, CRAWL_SMALL_GUIDE + "toc-contents.json"]}
    lines = index_docs(
        *("--guide", AWS + CRAWL_SMALL_GUIDE),
        *("--guide", AWS + CRAWL_SMALL_GUIDE + "queues.html"),  # the same guide, named by a page of it
        *("--guide", AWS + CRAWL_HOSTILE_GUIDE),
        *("--guide", CN + CRAWL_CN_GUIDE),
        *("--guide", CN + CN_USERGUIDE),
        "--concurrency=3",
    )
    text = "\n".join(lines)
    assert f"{AWS}{CRAWL_SMALL_GUIDE}: 4 page(s) indexed (4 read from the site, 0 from the cache), 0 failed." in lines
    assert text.count(f"{AWS}{CRAWL_SMALL_GUIDE}: 4 page(s)") == 1  # read once
    assert all(origin.hits(path) - count == 1 for path, count in before.items())
    assert urls_under(AWS + CRAWL_SMALL_GUIDE) == {AWS + p for p in small}
    fan_out = IndexedPage.objects.get(url=AWS + small[3])
    assert (
        fan_out.title == "Fan-out"
        and fan_out.partition == "aws"
        and fan_out.guide == AWS + CRAWL_SMALL_GUIDE + "topics/"
    )
    assert "Details of fan-out" in fan_out.headings and "crawl fixture guide" in fan_out.body

    assert urls_under(AWS + CRAWL_HOSTILE_GUIDE) == {f"{AWS}{CRAWL_HOSTILE_GUIDE}page-{n}.html" for n in (1, 2, 3)}
    assert "  TOC: 16 entr(ies) skipped (not a page of this guide)." in lines

    china = IndexedPage.objects.filter(url__startswith=CN + CRAWL_CN_GUIDE)
    assert {(p.partition, p.title) for p in china} == {
        ("aws-cn", "Crawl guide in China"),
        ("aws-cn", "Beijing Region"),
        ("aws-cn", "Ningxia Region"),
    }
    assert origin.hits(CN_PREFIX + CRAWL_CN_GUIDE + "beijing.html") >= 1
    # China's user guide lists six pages, four of which the site does not have: they fail, the crawl goes on
    assert urls_under(CN + CN_USERGUIDE) == {CN + CN_USERGUIDE + "services.html", CN + CN_USERGUIDE + "s3.html"}
    assert f"{CN}{CN_USERGUIDE}: 2 page(s) indexed" in text and "0 from the cache), 4 failed." in text
    failed = next(line for line in lines if line.startswith("  failed (4): Page not found: the page does not exist"))
    assert f"{CN}{CN_USERGUIDE}ec2.html" in failed and "and 1 more" in failed
    assert f"{CRAWL_SMALL_GUIDE}: 4/4 pages, 0 failed" in text  # progress, as plain lines off a terminal


def test_the_page_bound_limits_each_guide_and_a_later_run_continues_from_the_cache(to_origin: OriginServer) -> None:
    first = index_docs("--guide", AWS + CRAWL_GUIDE, "--guide", AWS + CRAWL_BOUND_GUIDE, "--max-pages", "3")
    assert f"{AWS}{CRAWL_GUIDE}: 3 page(s) indexed (3 read from the site, 0 from the cache), 0 failed." in first
    assert "  1364 more page(s) left for a later run (--max-pages)." in first  # the real RDS TOC lists 1367
    assert len(urls_under(AWS + CRAWL_GUIDE)) == 3
    welcome = IndexedPage.objects.get(url=f"{AWS}{CRAWL_GUIDE}Welcome.html")  # the captured RDS page
    assert welcome.title == "What is Amazon Relational Database Service (Amazon RDS)?"
    assert "Multi-AZ deployments" in welcome.headings.splitlines()
    assert len(urls_under(AWS + CRAWL_BOUND_GUIDE)) == 3

    IndexedPage.objects.filter(url__startswith=AWS + CRAWL_BOUND_GUIDE).delete()  # the cache still has them
    again = index_docs("--guide", AWS + CRAWL_BOUND_GUIDE)
    assert f"{AWS}{CRAWL_BOUND_GUIDE}: 4 page(s) indexed (1 read from the site, 3 from the cache), 0 failed." in again
    assert len(urls_under(AWS + CRAWL_BOUND_GUIDE)) == 4


def test_bounded_runs_read_the_pages_not_indexed_yet_first(to_origin: OriginServer) -> None:
    first = index_docs("--guide", AWS + CRAWL_GUIDE, "--max-pages", "3")
    after_first = urls_under(AWS + CRAWL_GUIDE)
    second = index_docs("--guide", AWS + CRAWL_GUIDE, "--max-pages", "3")
    after_second = urls_under(AWS + CRAWL_GUIDE)
    assert len(after_first) == 3 and len(after_second) == 6 and after_first < after_second
    assert "  1364 more page(s) left for a later run (--max-pages)." in first
    assert "  1361 more page(s) left for a later run (--max-pages)." in second
    assert f"{AWS}{CRAWL_GUIDE}: 3 page(s) indexed (3 read from the site, 0 from the cache), 0 failed." in second


def test_refresh_revalidates_the_indexed_pages_with_conditional_requests(to_origin: OriginServer) -> None:
    origin = to_origin
    guide = CRAWL_REFRESH_GUIDE
    paths = [f"{guide}page-{n}.html" for n in range(1, 5)]
    index_docs("--guide", AWS + guide)
    assert len(urls_under(AWS + guide)) == 4
    before = {path: origin.conditional_requests(path) for path in paths}
    hits_before = {path: origin.hits(path) for path in paths}
    toc_before = origin.hits(guide + "toc-contents.json")
    origin.revise(paths[1])  # changed on the site: the conditional request gets a 200
    origin.remove(paths[2])  # gone from the site: a 404
    lines = index_docs("--guide", AWS + guide, "--refresh")
    assert f"{AWS}{guide}: 1 page(s) indexed, 2 unchanged (304), 1 removed (gone from the site), 0 failed." in lines, (
        lines
    )
    asked = {
        path: tuple(a - b for a, b in zip(origin.conditional_requests(path), before[path], strict=True))
        for path in paths
    }
    assert asked == {paths[0]: (1, 1), paths[1]: (1, 0), paths[2]: (0, 0), paths[3]: (1, 1)}
    assert all(origin.hits(path) - hits_before[path] == 1 for path in paths)  # no extra unconditional GET
    assert origin.hits(guide + "toc-contents.json") == toc_before  # a refresh goes by the index, not the TOC
    assert urls_under(AWS + guide) == {AWS + paths[0], AWS + paths[1], AWS + paths[3]}
    assert "Revision 1 of page-2.html" in IndexedPage.objects.get(url=AWS + paths[1]).body


def test_refresh_asks_conditionally_after_the_cache_let_the_pages_go(to_origin: OriginServer) -> None:
    """The index keeps each page's validators: once L2 has dropped the page (its TTL), a refresh still sends a
    conditional request, and a 304 counts unchanged without a full GET, a conversion or a re-index."""
    origin = to_origin
    paths = [CRAWL_SMALL_GUIDE + n for n in ("index.html", "queues.html", "topics.html", "topics/fan-out.html")]
    index_docs("--guide", AWS + CRAWL_SMALL_GUIDE)
    assert all(p.etag or p.last_modified for p in IndexedPage.objects.filter(url__startswith=AWS + CRAWL_SMALL_GUIDE))
    shared().delete_matching("page:*")  # L2 let them go
    before = {path: (origin.hits(path), *origin.conditional_requests(path)) for path in paths}
    lines = index_docs("--guide", AWS + CRAWL_SMALL_GUIDE, "--refresh")
    assert (
        f"{AWS}{CRAWL_SMALL_GUIDE}: 0 page(s) indexed, 4 unchanged (304), 0 removed (gone from the site), 0 failed."
        in (lines)
    ), lines
    after = {path: (origin.hits(path), *origin.conditional_requests(path)) for path in paths}
    assert all(tuple(a - b for a, b in zip(after[p], before[p], strict=True)) == (1, 1, 1) for p in paths), after
    assert not shared().keys("page:*")  # a 304 without a copy caches nothing
    assert len(urls_under(AWS + CRAWL_SMALL_GUIDE)) == 4


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--guide", "https://evil.example.com/crawl/latest/small-guide/"), "is not on a documentation host"),
        (("--guide", f"{AWS}/"), "site's home page"),
        (("--guide", f"{AWS}{CRAWL_ROOT}no-such-guide/"), "is not a guide: it has no toc-contents.json (HTTP 404)"),
        (("--guide", f"{AWS}{CRAWL_ROOT}deep/"), "nested too deeply"),
        (("--guide", f"{AWS}{CRAWL_GUIDE}", "--max-pages", "0"), "--max-pages must be at least 1"),
        (("--guide", f"{AWS}{CRAWL_GUIDE}", "--pace", "-1"), "--pace must be between 0 and 3600"),
        (("--guide", f"{AWS}{CRAWL_GUIDE}", "--concurrency", "17"), "--concurrency must be between 1 and 16"),
        (("--guide", "https://[docs.aws.amazon.com/x/y/"), "is not a URL"),
    ],
)
def test_a_bad_request_is_refused_with_a_clear_error(args: tuple[str, ...], error: str) -> None:
    with pytest.raises(CommandError) as refused:
        index_docs(*args)
    assert error in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("DOCS_CRAWL_MAX_PAGES", 0), ("DOCS_CRAWL_PACE", -1.0), ("DOCS_CRAWL_CONCURRENCY", 0)],
)
def test_a_bad_setting_is_named_in_the_refusal(settings: Settings, setting: str, value: float) -> None:
    setattr(settings, setting, value)
    with pytest.raises(CommandError) as refused:
        index_docs("--guide", AWS + CRAWL_SMALL_GUIDE)
    assert str(refused.value).startswith(f"{setting} must be"), refused.value


def test_a_bad_guide_stops_the_run_before_any_page_is_read(to_origin: OriginServer) -> None:
    page = CRAWL_SMALL_GUIDE + "index.html"
    before = to_origin.hits(page)
    with pytest.raises(CommandError, match="is not JSON"):
        index_docs("--guide", AWS + CRAWL_SMALL_GUIDE, "--guide", f"{AWS}{CRAWL_ROOT}malformed/")
    assert to_origin.hits(page) == before and not urls_under(AWS + CRAWL_SMALL_GUIDE)


def test_nothing_is_crawled_while_the_index_is_off(settings: Settings) -> None:
    settings.DOCS_INDEX_ENABLED = False
    with pytest.raises(CommandError, match="DOCS_INDEX_ENABLED=false"):
        index_docs("--guide", AWS + CRAWL_SMALL_GUIDE)


def purge_docs_cache(*args: str) -> str:
    out = StringIO()
    call_command("purge_docs_cache", *args, stdout=out)
    return out.getvalue()


def test_a_purge_removes_the_purged_pages_from_the_index(to_origin: OriginServer) -> None:
    for cache in l1_caches():  # read into L2 by this test, whatever earlier tests left in this process's L1
        cache.delete_matching("page:*")
    index_docs("--guide", AWS + CRAWL_SMALL_GUIDE, "--guide", CN + CRAWL_CN_GUIDE)
    one = f"{AWS}{CRAWL_SMALL_GUIDE}queues.html"
    dry = purge_docs_cache("--url", one, "--dry-run")
    assert "and 1 page(s) from the search index; other processes are untouched (dry run)" in dry
    assert one in urls_under(AWS + CRAWL_SMALL_GUIDE)
    purged = purge_docs_cache("--url", one)
    assert "removed 1 shared (L2) entries" in purged and "and 1 page(s) from the search index" in purged
    assert urls_under(AWS + CRAWL_SMALL_GUIDE) == {
        f"{AWS}{CRAWL_SMALL_GUIDE}{n}" for n in ("index.html", "topics.html", "topics/fan-out.html")
    }
    assert "and 2 page(s) from the search index" in purge_docs_cache("--prefix", f"{AWS}{CRAWL_SMALL_GUIDE}topics")
    assert urls_under(AWS + CRAWL_SMALL_GUIDE) == {f"{AWS}{CRAWL_SMALL_GUIDE}index.html"}
    answers = purge_docs_cache("--search")
    assert "search index" not in answers and IndexedPage.objects.count() == 4  # answers purge leaves the index
    everything = purge_docs_cache("--all", "--dry-run")
    assert "and 4 page(s) from the search index" in everything and IndexedPage.objects.count() == 4
    assert "and 4 page(s) from the search index" in purge_docs_cache("--all")
    assert IndexedPage.objects.count() == 0


def test_an_index_failure_during_a_purge_is_reported_and_other_processes_still_purge(
    to_origin: OriginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_docs("--guide", AWS + CRAWL_SMALL_GUIDE)

    def broken(url_prefix: str) -> int:
        raise DatabaseError("database is locked")

    monkeypatch.setattr(index_store, "remove_prefix", broken)
    generation = shared().get_plain(GENERATION_KEY) or 0
    report = purge(PurgeScope.PREFIX, f"{AWS}{CRAWL_SMALL_GUIDE}topics")
    assert "; index not purged: DatabaseError: database is locked" in report.summary(), report.summary()
    assert int(shared().get_plain(GENERATION_KEY)) == int(generation) + 1  # every process's L1 still empties
    assert len(urls_under(AWS + CRAWL_SMALL_GUIDE)) == 4


def test_a_prefix_purge_matches_the_same_pages_in_the_cache_and_the_index(to_origin: OriginServer) -> None:
    """An encoded prefix and its decoded form purge alike on both sides: keys hold the decoded path, quoted."""
    for cache in l1_caches():
        cache.delete_matching("page:*")
    index_docs("--guide", AWS + CRAWL_SMALL_GUIDE)
    encoded = f"{AWS}{CRAWL_SMALL_GUIDE}%74opics"  # "topics", one letter %-encoded
    dry = purge(PurgeScope.PREFIX, encoded, dry_run=True)
    assert (dry.l2, dry.indexed) == (2, 2), dry.summary()  # topics.html and topics/fan-out.html, both sides
    done = purge(PurgeScope.PREFIX, encoded)
    assert (done.l2, done.indexed) == (2, 2), done.summary()


@pytest.mark.parametrize(
    ("prefix", "error"),
    [
        (f"{AWS}/{'a' * 200}", "too long to match cache keys"),
        (f"{AWS}/{'%C3%A9' * 40}", "too long to match cache keys"),  # 40 characters decoded, 240 quoted
        ("https://[docs.aws.amazon.com/x/", "Not a documentation URL prefix"),
    ],
)
def test_a_prefix_that_cannot_match_is_refused(prefix: str, error: str) -> None:
    with pytest.raises(PurgeError, match=error):
        purge(PurgeScope.PREFIX, prefix, dry_run=True)


def test_the_index_figures_read_indexed_columns_only_and_list_the_largest_guides(
    to_origin: OriginServer, settings: Settings
) -> None:
    """The admin's figures: per partition, the N largest guides (in SQL), and how many guides there are, each
    query answered from an index (the rows hold up to 100,000 characters of text each)."""
    index_docs("--guide", AWS + CRAWL_SMALL_GUIDE, "--guide", CN + CRAWL_CN_GUIDE)
    with CaptureQueriesContext(connection) as queries:
        found = index_store.figures(2)
    assert found.partitions == [("aws", 4), ("aws-cn", 3)] and found.total == 7
    assert found.guides == [("aws-cn", CN + CRAWL_CN_GUIDE, 3), ("aws", AWS + CRAWL_SMALL_GUIDE, 3)]  # ties by URL
    assert found.guide_count == 3  # small-guide/topics/ is the third
    assert index_store.figures(0).guides == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for query in queries.captured_queries:
                cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
                steps = [str(row[-1]) for row in cursor.fetchall()]
                reads = [step for step in steps if step.startswith(("SCAN", "SEARCH")) and "indexedpage" in step]
                assert reads and all("COVERING INDEX" in step for step in reads), steps
