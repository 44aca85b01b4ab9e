"""The local search index on SQLite FTS5 (the embedded default): indexing, ranking, filters, bounds, hostile phrases.

The pages are the captured fixture pages, converted as the server converts them; the ranking cases that
need a controlled difference (a phrase against the same words scattered) use small records of their own.
The tests hold on PostgreSQL too (DATABASE_URL=postgres://... runs them there); the suite's PostgreSQL
run is test_search_index_postgres.py, through the tools.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from docs_proxy import answers, pages, tools
from docs_proxy.models import IndexedPage
from docs_proxy.search_index import indexing, search, store
from docs_proxy.search_index.engines import EngineUnavailable, engine, engine_name
from docs_proxy.search_index.excerpts import excerpt
from docs_proxy.search_index.query import guide_matches, recommended_sections, terms_of
from docs_proxy.search_index.records import IndexRecord, plain_text, record_for
from docs_proxy.stats import stats
from mcp_gateway.catalogue import ToolError
from tests.docs_proxy.search_pages import CN_S3, CN_SERVICES, fixture_pages, page_of

pytestmark = pytest.mark.django_db

BASE = "https://docs.aws.amazon.com"
RDS = BASE + "/AmazonRDS/latest/UserGuide/Welcome.html"
DBINSTANCE = BASE + "/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"
STACKS = BASE + "/AWSCloudFormation/latest/UserGuide/service_code_examples.html"
LAMBDA = BASE + "/lambda/latest/dg/lambda-python-how-to-create-deployment-package.html"
CP = BASE + "/cli/latest/reference/s3/cp.html"
LANDING = BASE + "/prescriptive-guidance/latest/migration-aws-environment/building-landing-zones.html"
ACCOUNT = BASE + "/service-authorization/latest/reference/list_awsaccountmanagement.html"
CONSTRUCTS = BASE + "/solutions/latest/constructs/aws-lambda-sns.html"


@pytest.fixture
def indexed() -> None:
    for page in fixture_pages():
        assert indexing.index_page(page)


@pytest.fixture(autouse=True)
def fresh_bound_counter() -> Iterator[None]:
    indexing._new_since_check = 0
    yield
    indexing._new_since_check = 0


def record(url: str, title: str, body: str, headings: tuple[str, ...] = (), partition: str = "aws") -> IndexRecord:
    return IndexRecord(url, partition, url[: url.rfind("/") + 1], title, list(headings), body)


def top(phrase: str, partition: str = "aws", limit: int = 3, **filters: list[str]) -> list[str]:
    return [hit.url for hit in search(phrase, partition, limit, **filters).hits]


# --- indexing -------------------------------------------------------------------------------------
def test_the_engine_is_the_databases_own() -> None:
    vendor = connection.vendor
    assert engine_name() == vendor
    with override_settings(DOCS_INDEX_ENGINE=vendor.upper()):
        assert engine_name() == vendor
    other = "postgresql" if vendor == "sqlite" else "sqlite"
    with override_settings(DOCS_INDEX_ENGINE=other), pytest.raises(EngineUnavailable, match="set it to 'auto'"):
        engine_name()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 table")
def test_without_the_full_text_table_the_search_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from docs_proxy.search_index.engines import sqlite

    store.save(record(BASE + "/m/page.html", "Snapshots", "Automated snapshots."))
    monkeypatch.setattr(sqlite, "_ready", False)
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DROP TABLE docs_proxy_indexedpage_fts")
    with pytest.raises(EngineUnavailable, match="no full-text search") as missing:
        search("snapshots", "aws", 5)
    assert "python manage.py migrate docs_proxy 0002 && python manage.py migrate docs_proxy" in str(missing.value)


def test_titles_and_section_titles_are_cut_to_the_title_bound() -> None:
    long = "Word " * 200
    html = f"<html><head><title>{long}</title></head><body><h1>{long}</h1><h2>{long}</h2><p>Text.</p></body></html>"
    with override_settings(DOCS_MAX_TITLE_CHARS=40):
        indexed = record_for(page_of(BASE + "/long/page.html", html))
    assert len(indexed.title) <= 40 and indexed.headings and all(len(h) <= 40 for h in indexed.headings)


@pytest.mark.usefixtures("indexed")
def test_every_page_is_found_first_by_its_own_title() -> None:
    for page in fixture_pages():
        title, partition = page.document.title, page.served.partition
        assert top(title, partition, 1) == [page.served.url], title


@pytest.mark.usefixtures("indexed")
def test_each_partition_searches_its_own_pages_and_counts_them() -> None:
    china = search("Amazon S3 endpoints", "aws-cn", 10)
    assert china.indexed == 2 and [h.url for h in china.hits][:1] == [CN_S3]
    assert {h.url for h in search("Amazon", "aws", 50).hits}.isdisjoint({CN_S3, CN_SERVICES})
    assert search("Amazon", "aws", 50).indexed == 8


@pytest.mark.usefixtures("indexed")
def test_reindexing_a_page_replaces_its_words_and_removing_it_forgets_them() -> None:
    assert CP in top("DEEP_ARCHIVE", limit=10)
    assert store.save(record(CP, "cp", "Copies a local file or S3 object, now with zanzibar.")) is False  # not new
    assert top("zanzibar") == [CP]
    assert CP not in top("DEEP_ARCHIVE", limit=10)  # the words of its former text are gone from the index
    assert IndexedPage.objects.filter(url=CP).count() == 1
    store.remove_url(CP)
    assert top("zanzibar") == []


def test_nothing_is_indexed_when_the_index_is_off() -> None:
    with override_settings(DOCS_INDEX_ENABLED=False):
        assert indexing.index_page(fixture_pages()[0]) is False
    assert IndexedPage.objects.count() == 0


# --- ranking --------------------------------------------------------------------------------------
def test_a_title_match_ranks_above_a_body_match() -> None:
    store.save(record(BASE + "/a/body.html", "Working with functions", "Lambda layers " * 50))
    store.save(record(BASE + "/a/title.html", "Lambda layers", "How to package libraries for functions."))
    store.save(record(BASE + "/a/heading.html", "Packaging", "Some text.", headings=("Lambda layers",)))
    assert top("lambda layers") == [BASE + "/a/title.html", BASE + "/a/heading.html", BASE + "/a/body.html"]


def test_the_exact_phrase_ranks_above_the_same_words_scattered() -> None:
    scattered = "The package you upload is checked before each deployment of the stack. " * 3
    store.save(record(BASE + "/b/scattered.html", "Stacks", scattered))
    store.save(record(BASE + "/b/phrase.html", "Functions", "Build a deployment package with pip, then upload it."))
    assert top("deployment package") == [BASE + "/b/phrase.html", BASE + "/b/scattered.html"]


def test_pages_holding_every_word_come_before_pages_holding_some() -> None:
    store.save(record(BASE + "/c/some.html", "Snapshots snapshots", "snapshots " * 40))
    store.save(record(BASE + "/c/every.html", "Backups", "Automated snapshots are kept for the retention period."))
    store.save(record(BASE + "/c/none.html", "Other", "Nothing relevant."))
    hits = search("snapshots retention", "aws", 10).hits
    assert [h.url for h in hits] == [BASE + "/c/every.html", BASE + "/c/some.html"]
    assert [h.every_word for h in hits] == [True, False]
    assert hits[0].score >= 1 > hits[1].score


def test_a_page_holding_more_of_the_words_ranks_above_one_holding_fewer() -> None:
    store.save(record(BASE + "/d/one.html", "Alpha", "retention " * 30))
    store.save(record(BASE + "/d/two.html", "Beta", "retention and encryption"))
    assert top("retention encryption replicas") == [BASE + "/d/two.html", BASE + "/d/one.html"]


def test_word_endings_and_case_do_not_matter() -> None:
    store.save(record(BASE + "/e/deploy.html", "Deploying", "You DEPLOYED the functions."))
    assert top("deploy function") == [BASE + "/e/deploy.html"]


@pytest.mark.usefixtures("indexed")
def test_one_result_per_page_and_contexts_bounded() -> None:
    with override_settings(DOCS_INDEX_CONTEXT_CHARS=80):
        hits = search("DB instance", "aws", 50).hits
    urls = [h.url for h in hits]
    assert len(urls) == len(set(urls)) and {RDS, DBINSTANCE} <= set(urls)
    assert all(0 < len(h.context) <= 80 for h in hits)
    assert any("instance" in h.context.lower() for h in hits[:2])


@pytest.mark.usefixtures("indexed")
def test_limit_is_honoured() -> None:
    assert len(search("aws", "aws", 3).hits) == 3
    assert search("aws", "aws", 0).hits == []


# --- filters --------------------------------------------------------------------------------------
def test_guide_filters_match_the_words_of_the_guide_url() -> None:
    rds_guide = BASE + "/AmazonRDS/latest/UserGuide/"
    assert guide_matches(rds_guide, ["Amazon RDS"], None)
    assert guide_matches(rds_guide, ["RDS"], ["User Guide"])
    assert not guide_matches(rds_guide, ["Amazon Simple Storage Service"], None)
    assert not guide_matches(rds_guide, None, ["API Reference"])
    assert guide_matches(BASE + "/lambda/latest/dg/", ["AWS Lambda"], ["Developer Guide"])
    assert guide_matches(BASE + "/lambda/latest/dg/", None, None)
    # Product names as the schema writes them, through the service-name matcher (botocore's names).
    assert guide_matches(rds_guide, ["Amazon Relational Database Service"], None)
    assert guide_matches(BASE + "/AmazonS3/latest/userguide/", ["Amazon Simple Storage Service"], None)
    assert guide_matches(BASE + "/AWSEC2/latest/UserGuide/", ["Amazon Elastic Compute Cloud"], None)
    assert not guide_matches(rds_guide, ["Amazon Elastic Compute Cloud"], None)
    assert guide_matches(BASE + "/AmazonS3/latest/API/", ["Amazon S3"], ["API Reference"])


@pytest.mark.usefixtures("indexed")
def test_filters_keep_only_the_matching_guides() -> None:
    assert set(top("instance", limit=10, guides=["Amazon RDS"])) == {RDS}
    assert set(top("stack", limit=10, guide_types=["User Guide"])) <= {RDS, STACKS}
    assert top("instance", limit=10, guides=["Amazon Nonexistent Service"]) == []
    assert set(top("instance", limit=10, guides=["Amazon Relational Database Service"])) == {RDS}


@pytest.mark.usefixtures("indexed")
def test_filters_matching_no_indexed_guide_say_so() -> None:
    answer = answers.local_answer(search("instance", "aws-cn", 5, ["Amazon Nonexistent Service"]), "aws-cn")
    assert answer["search_results"] == [] and "No guide among the pages indexed matches" in answer["metadata"]["note"]


CJK_PAGE = "https://docs.amazonaws.cn/en_us/AmazonS3/latest/userguide/buckets.html"
CJK_HTML = (
    "<html><head><title>存储桶概述</title></head><body><h1>存储桶概述</h1>"
    "<p>Amazon S3 存储桶是对象的容器。您可以创建存储桶。</p><h2>创建存储桶</h2><p>Steps.</p></body></html>"
)


def test_words_inside_a_cjk_run_are_found() -> None:
    """A run of CJK characters was one token: 存储桶 did not find 存储桶是对象的容器."""
    assert indexing.index_page(page_of(CJK_PAGE, CJK_HTML, "aws-cn"))
    for phrase in ("存储桶", "对象的容器", "容器", "创建存储桶", "S3 存储桶"):
        (hit,) = search(phrase, "aws-cn", 5).hits
        assert hit.url == CJK_PAGE and "\x1f" not in hit.context and "存储桶是对象的容器" in hit.context, phrase
    assert search("存储桶", "aws-cn", 1).hits[0].recommended == ("创建存储桶",)
    assert terms_of("S3存储桶").words == ("s3", "存储", "储桶")
    assert search("桶", "aws-cn", 5).hits == []  # a lone character finds only text where it stands alone
    assert search("容器存储", "aws-cn", 5).hits[0].url == CJK_PAGE  # 器存 is not on the page: some words


# --- bounds and hostile phrases -------------------------------------------------------------------
def test_only_the_first_words_are_searched() -> None:
    store.save(record(BASE + "/f/page.html", "Page", "alpha beta gamma"))
    with override_settings(DOCS_INDEX_MAX_WORDS=2):
        assert terms_of("zulu yankee gamma").words == ("zulu", "yankee")
        assert top("zulu yankee gamma") == []  # gamma, the third word, is not searched
    assert top("zulu yankee gamma") == [BASE + "/f/page.html"]


def test_a_word_longer_than_the_bound_is_not_searched() -> None:
    store.save(record(BASE + "/g/page.html", "Page", "short " + "x" * 70))
    with override_settings(DOCS_INDEX_MAX_WORD_CHARS=64):
        assert terms_of("x" * 70).words == ()
        assert search("x" * 70, "aws", 5).hits == []
        assert top("short " + "x" * 70) == [BASE + "/g/page.html"]


HOSTILE = [
    '"unbalanced quote',
    "lambda NEAR(python deployment, 2)",
    "lamb*",
    "-lambda python",
    "^lambda",
    "title: lambda",
    "{title body}: lambda",
    "(((lambda",
    "lambda)))) OR AND NOT",
    "NOT lambda",
    "body:NEAR",
    "'; DROP TABLE docs_proxy_indexedpage; --",
    "\x00lambda\x00",
    "!!! ??? ::: ***",
    "亚马逊云科技 Lambda",
    "λάμβδα ламбда",
    "lambda " * 2000,
    "x" * 10_240,
]


@pytest.mark.usefixtures("indexed")
@pytest.mark.parametrize("phrase", HOSTILE, ids=range(len(HOSTILE)))
def test_query_syntax_is_searched_as_plain_words(phrase: str) -> None:
    results = search(phrase, "aws", 5)  # never an engine error
    words = terms_of(phrase).words
    assert results.words == words
    assert all(w.isalnum() and w == w.lower() for w in words)
    if "lambda" in words:
        assert results.hits, phrase
    if not words:
        assert results.hits == []
    # The witness: the index still answers an ordinary query exactly as before.
    assert top("Creating a Deployment Package (Python)", limit=1) == [LAMBDA]
    assert IndexedPage.objects.count() == 10


@pytest.mark.usefixtures("indexed")
def test_operators_are_words_not_operators() -> None:
    assert terms_of("lamb*").words == ("lamb",) and top("lamb*") == []  # no prefix search: no page says "lamb"
    assert terms_of("python NOT lambda").words == ("python", "lambda")  # NOT is a stop word, not an operator
    assert LAMBDA in top("python NOT lambda")
    assert terms_of("the a of").words == () and top("the a of") == []  # stop words only: not searched
    assert terms_of("NEAR(deployment package)").words == ("near", "deployment", "package")


def test_relevance_is_computed_for_a_bounded_number_of_candidates() -> None:
    for n in range(6):
        store.save(record(f"{BASE}/k/{n}.html", f"Snapshot guide {n}", "snapshot " * (n + 1)))
    terms = terms_of("snapshot")
    assert len(engine().matches(terms, "aws", None, True, 2, [])) == 2  # the engine keeps `cap` candidates
    with override_settings(DOCS_INDEX_RANK_CANDIDATES=2):
        assert len(search("snapshot", "aws", 4).hits) == 4  # never fewer candidates than the limit asks
        assert len(search("snapshot", "aws", 1).hits) == 1


# --- the bound on pages ---------------------------------------------------------------------------
def test_the_oldest_pages_go_beyond_the_bound() -> None:
    with override_settings(DOCS_INDEX_MAX_PAGES=3):
        for page in fixture_pages()[:5]:
            assert indexing.index_page(page)
    kept = set(IndexedPage.objects.values_list("url", flat=True))
    assert kept == {p.served.url for p in fixture_pages()[2:5]}
    assert top(fixture_pages()[0].document.title, limit=10).count(fixture_pages()[0].served.url) == 0


def test_the_bound_is_checked_every_hundredth_of_it_not_on_every_insert() -> None:
    with override_settings(DOCS_INDEX_MAX_PAGES=300):  # checked every 3 new pages
        for n in range(302):
            indexing.index_record(record(f"{BASE}/h/{n}.html", f"Page {n}", "text"))
        assert IndexedPage.objects.count() == 302  # two new pages since the last check
        indexing.index_record(record(f"{BASE}/h/{n}.html", "Page again", "text"))  # not new: no check
        assert IndexedPage.objects.count() == 302
        assert indexing.index_page(fixture_pages()[0])  # the third new page since the check
    assert IndexedPage.objects.count() == 300
    assert not IndexedPage.objects.filter(url__in=[f"{BASE}/h/{n}.html" for n in range(3)]).exists()
    assert IndexedPage.objects.filter(url=fixture_pages()[0].served.url).exists()


def test_the_bound_removes_pages_in_small_transactions() -> None:
    """One DELETE over 1% of 100,000 pages held the write lock for seconds (the L2 cache shares the file)."""
    for n in range(23):
        store.save(record(f"{BASE}/b/{n}.html", f"Page {n}", "text"))
    with override_settings(DOCS_INDEX_MAX_PAGES=3, DOCS_INDEX_DELETE_BATCH=7):
        with CaptureQueriesContext(connection) as queries:
            assert indexing.enforce_bound() == 20
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert [d.split(" IN (")[1].count(",") + 1 for d in deletes] == [7, 7, 6]
    assert set(IndexedPage.objects.values_list("url", flat=True)) == {f"{BASE}/b/{n}.html" for n in (20, 21, 22)}


# --- writing from reads ---------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_reads_queue_pages_for_one_writer_of_its_own_and_drop_beyond_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Index writes queued on the shared database pool delayed every L2 read behind the backlog."""
    threads: list[str] = []
    real_save, real_record_for = store.save, pages.record_for
    monkeypatch.setattr(
        store, "save", lambda r, *v: threads.append(threading.current_thread().name) or real_save(r, *v)
    )
    monkeypatch.setattr(
        pages, "record_for", lambda p: threads.append(threading.current_thread().name) or real_record_for(p)
    )
    dropped = stats.counters["index_dropped"]
    with override_settings(DOCS_INDEX_QUEUE=3):
        for page in fixture_pages()[:5]:
            pages._index_later(page)  # the worker has not run yet: the queue takes 3
        await pages.index_settled()
    assert stats.counters["index_dropped"] - dropped == 2
    assert await asyncio.to_thread(store.count_matching) == 3
    assert sorted(set(threads)) == ["awsmcp-cpu_0", "awsmcp-index_0"]


def test_an_unchanged_page_renews_its_age_without_rewriting_its_words() -> None:
    page = record(RDS, "Amazon RDS", "Managed relational databases.", ("Pricing",))
    assert store.save(page)
    first = IndexedPage.objects.get(url=RDS).indexed_at
    with CaptureQueriesContext(connection) as queries:
        assert not store.save(page)
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert '"body"' not in writes[-1].split(" WHERE ")[0]  # the one UPDATE finding the row: its age only
    assert IndexedPage.objects.get(url=RDS).indexed_at > first
    assert not store.save(record(RDS, "Amazon RDS", "Changed text."))
    assert top("changed text") == [RDS]


def test_a_page_read_keeps_its_validators_with_its_row() -> None:
    """A refresh (index_docs --refresh) after the cache let the page go asks conditionally with these."""
    page = fixture_pages()[0]
    page.etag, page.last_modified = '"abc123"', "Wed, 01 Apr 2026 00:00:00 GMT"
    assert indexing.index_page(page)
    assert store.validators(page.served.url) == ('"abc123"', "Wed, 01 Apr 2026 00:00:00 GMT")
    page.etag, page.last_modified = None, None  # a page without validators leaves the row's as they were
    assert indexing.index_page(page)
    assert store.validators(page.served.url) == ('"abc123"', "Wed, 01 Apr 2026 00:00:00 GMT")


def test_recommended_sections_ignore_word_endings_and_stop_at_the_cap() -> None:
    headings = ("Overview", "Deploying functions", "Pricing", *(f"Deployment step {n}" for n in range(500)))
    store.save(record(LAMBDA, "Lambda packages", "How to deploy a function.", headings))
    (hit,) = search("deploy", "aws", 1).hits
    assert hit.recommended == ("Deploying functions", *(f"Deployment step {n}" for n in range(4)))
    assert recommended_sections(("Pricing",) * 1000 + ("Deploys",), ("deployed",)) == ("Deploys",)


# --- answers -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_with_nothing_indexed_the_search_apis_error_stands() -> None:
    """aws's fallback (test_search_index_tools.py has it answering) has nothing to answer from here."""
    api_error = "Searching the AWS documentation failed: The documentation service failed with HTTP 500."
    with pytest.raises(ToolError, match=r"HTTP 500.*holds no pages yet"):
        await answers.local_search("rds", "aws", 5, None, None, failure=("failed with HTTP 500", api_error))
    with pytest.raises(ToolError, match="no words to search for"):
        await answers.local_search("*** (((", "aws-cn", 5, None, None)
    with pytest.raises(ToolError) as no_words:  # nothing to search locally: the API's own error
        await answers.local_search("*** (((", "aws", 5, None, None, failure=("failed with HTTP 500", api_error))
    assert str(no_words.value) == api_error
    empty = await answers.local_search("rds", "aws-cn", 5, None, None)
    assert empty["search_results"] == [] and empty["metadata"]["indexed_pages"] == 0
    assert "the 0 pages of docs.amazonaws.cn" in empty["metadata"]["note"]


@pytest.mark.django_db(transaction=True)
async def test_a_fallback_is_counted_only_when_the_local_index_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: object) -> None:
        raise ToolError("Searching the AWS documentation failed: The documentation service failed with HTTP 503.")

    monkeypatch.setattr(answers.upstream, "search", failing)
    monkeypatch.setattr(answers, "_api_backoff", (0.0, "", ""))
    before = stats.counters["search_fallbacks"]
    with pytest.raises(ToolError, match="holds no pages yet"):
        await answers.search("rds", "", 5, None, None)
    assert stats.counters["search_fallbacks"] == before
    await asyncio.to_thread(store.save, record(RDS, "Amazon RDS", "Managed relational databases."))
    answer = await answers.search("relational", "", 5, None, None)  # within the backoff: not asked again
    assert urls_of(answer) == [RDS] and "asked again within 30 s" in answer["metadata"]["fallback_reason"]
    assert stats.counters["search_fallbacks"] == before + 1


@pytest.mark.django_db(transaction=True)
async def test_lone_surrogates_in_the_phrase_are_searched_around(monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid JSON escapes ("\\ud800") that are not UTF-8: the answer's cache key raised UnicodeEncodeError."""

    def failing(*args: object) -> None:
        raise ToolError("Searching the AWS documentation failed: The documentation service failed with HTTP 503.")

    monkeypatch.setattr(answers.upstream, "search", failing)
    monkeypatch.setattr(answers, "_api_backoff", (0.0, "", ""))
    await asyncio.to_thread(store.save, record(RDS, "Amazon RDS", "Managed relational databases."))
    result = await tools.search_documentation({"search_phrase": "\ud800relational \udfff"}, None)  # type: ignore[arg-type]
    answer = json.loads(result["content"][0]["text"])
    assert urls_of(answer) == [RDS] and answer["metadata"]["searched_words"] == ["relational"]


def urls_of(answer: dict[str, Any]) -> list[str]:
    return [r["url"] for r in answer["search_results"]]


# --- contexts -------------------------------------------------------------------------------------
def test_the_context_is_cut_around_the_exact_phrase_else_where_most_words_are() -> None:
    text = "Intro words. " * 100 + "Create a deployment package with pip. " + "Filler text here. " * 100
    around = excerpt(text, ("deployment", "package"), ("deployment", "package"), 120)
    assert "deployment package" in around and around.startswith("…") and around.endswith("…")
    assert len(around) <= 120
    spread = "alpha " * 50 + "snapshots " + "beta " * 100 + "Snapshots are kept for the retention period. " + "x " * 50
    found = excerpt(spread, ("snapshots", "retention"), ("retention", "snapshots"), 100)
    assert "Snapshots are kept for the retention" in found  # both words, not the first lone one
    assert excerpt("Short text.", ("missing",), ("missing",), 100) == "Short text."
    assert excerpt("", ("word",), ("word",), 100) == "" and excerpt("text", ("text",), ("text",), 0) == ""


@pytest.mark.parametrize(
    "markdown",
    ["\n" * 200_000, " \n" * 100_000, "\t\n \n" * 50_000, "[" * 200_000, "[](" * 60_000, "![" * 100_000],
    ids=["newlines", "space-newlines", "tab-lines", "brackets", "empty-links", "image-openers"],
)
def test_plain_text_is_linear_on_blank_runs_and_link_openers(markdown: str) -> None:
    """A long blank <pre> or a page of "[" reached quadratic or 4,096-wide rescans: 37 s and 2.6 s before."""
    started = time.process_time()
    text = plain_text("# Title\n\n- [kept](a.html) item\n" + markdown, 100_000)
    assert time.process_time() - started < 1.5  # CPU seconds; about 0.03 now
    assert text.startswith("Title kept item")
