"""The crawl's planning, in process: which guide a --guide URL names, what a TOC yields (real, nested, hostile,
malformed, oversized), and the pace between fetch starts. The crawl itself runs in test_crawl.py."""

from __future__ import annotations

import asyncio
import json
from io import StringIO

import pytest
from django.core.management.base import OutputWrapper
from pytest_django.fixtures import Settings

from docs_proxy import fetch
from docs_proxy.addresses import DocAddress
from docs_proxy.crawl import (
    CrawlError,
    CrawlOptions,
    CrawlReport,
    Guide,
    Outcome,
    Pacer,
    crawl_guide,
    guide_from_url,
    load_toc,
    page_of_entry,
    short_reason,
    toc_pages,
)
from docs_proxy.management.commands.index_docs import ProgressView
from tests.support.origin import (
    CN_PREFIX,
    CRAWL_CN_GUIDE,
    CRAWL_GUIDE,
    CRAWL_HOSTILE_GUIDE,
    CRAWL_ROOT,
    CRAWL_SMALL_GUIDE,
    TOC,
    OriginServer,
)

AWS = "https://docs.aws.amazon.com"
CN = "https://docs.amazonaws.cn"
RDS_TOC = json.loads((TOC / "rds-userguide__toc-contents__2026-04.json").read_text())


@pytest.fixture
def to_origin(origin: OriginServer, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> OriginServer:
    settings.AWS_DOCS_ORIGIN = origin.base
    settings.AWS_CN_DOCS_ORIGIN = origin.base + CN_PREFIX
    settings.DOCS_TRUST_ENV_PROXIES = False
    monkeypatch.setattr(fetch, "_session", None)  # a session made with these settings
    return origin


def guide(path: str, host: str = AWS) -> Guide:
    return guide_from_url(host + path)


@pytest.mark.parametrize(
    ("url", "guide_url"),
    [
        (f"{AWS}/AmazonRDS/latest/UserGuide/", f"{AWS}/AmazonRDS/latest/UserGuide/"),
        (f"{AWS}/AmazonRDS/latest/UserGuide", f"{AWS}/AmazonRDS/latest/UserGuide/"),  # without its slash
        (f"{AWS}/AmazonRDS/latest/UserGuide/Welcome.html", f"{AWS}/AmazonRDS/latest/UserGuide/"),  # a page of it
        (f"  {CN}/en_us/aws/latest/userguide/  ", f"{CN}/en_us/aws/latest/userguide/"),
    ],
)
def test_a_guide_url_names_the_guide_directory(url: str, guide_url: str) -> None:
    found = guide_from_url(url)
    assert found.url == guide_url and found.address.is_directory
    assert found.partition == ("aws-cn" if CN in guide_url else "aws")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://evil.example.com/AmazonRDS/latest/UserGuide/", "is not on a documentation host"),
        ("https://docs.aws.amazon.com.evil.example/AmazonRDS/latest/UserGuide/", "is not on a documentation host"),
        ("not a url at all", "is not on a documentation host"),
        ("ftp://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/", "is not a guide's address: Only https URLs"),
        ("https://docs.aws.amazon.com/", "is not a guide's address"),
        ("https://docs.aws.amazon.com/AmazonRDS/", "is not a guide: give a guide's address"),
        ("https://docs.aws.amazon.com/a/../AmazonRDS/latest/UserGuide/", "'.' or '..'"),
        ("https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/toc-contents.json", "is not a guide's address"),
        ("https://docs.aws.amazon.com:8443/AmazonRDS/latest/UserGuide/", "with a port are not allowed"),
    ],
)
def test_a_bad_guide_url_is_refused_with_its_reason(url: str, error: str) -> None:
    with pytest.raises(CrawlError) as refused:
        guide_from_url(url)
    assert error in str(refused.value)


def test_the_real_rds_toc_yields_its_pages_once_in_reading_order() -> None:
    rds = guide("/AmazonRDS/latest/UserGuide/")
    found = toc_pages(rds, RDS_TOC)
    hrefs = []
    stack = list(reversed(RDS_TOC["contents"]))
    while stack:  # the TOC read independently: depth first, in order
        entry = stack.pop()
        if "href" in entry and entry["href"].split("#")[0] not in hrefs:
            hrefs.append(entry["href"].split("#")[0])
        stack.extend(reversed(entry.get("contents", [])))
    assert [a.path.rsplit("/", 1)[1] for a in found.pages] == hrefs
    assert len(found.pages) == len({a.path for a in found.pages}) > 1000
    assert found.pages[0].url == f"{AWS}/AmazonRDS/latest/UserGuide/Welcome.html"
    assert not found.truncated and found.skipped == 0


def test_a_toc_longer_than_the_entry_bound_is_read_up_to_it(settings: Settings) -> None:
    settings.DOCS_CRAWL_MAX_TOC_ENTRIES = 50
    found = toc_pages(guide("/AmazonRDS/latest/UserGuide/"), RDS_TOC)
    assert found.truncated and found.entries == 50 and 0 < len(found.pages) <= 50


async def test_a_hostile_toc_yields_only_the_guides_own_pages(to_origin: OriginServer) -> None:
    hostile = guide(CRAWL_HOSTILE_GUIDE)
    found = toc_pages(hostile, await load_toc(hostile))
    assert [a.url for a in found.pages] == [f"{AWS}{CRAWL_HOSTILE_GUIDE}page-{n}.html" for n in (1, 2, 3)]
    # off-site, metadata address, "..", "sub/../..", another guide, the other partition, javascript:, data:,
    # mailto:, an image, a 5000-character href, spaces, three entries that are not objects, a numeric href
    assert found.skipped == 16 and not found.truncated


async def test_both_partitions_tocs_are_read_from_their_origins(to_origin: OriginServer) -> None:
    small = guide(CRAWL_SMALL_GUIDE)
    assert [a.path for a in toc_pages(small, await load_toc(small)).pages] == [
        CRAWL_SMALL_GUIDE + name for name in ("index.html", "queues.html", "topics.html", "topics/fan-out.html")
    ]
    china = guide(CRAWL_CN_GUIDE, CN)
    pages = toc_pages(china, await load_toc(china)).pages
    assert [a.url for a in pages] == [f"{CN}{CRAWL_CN_GUIDE}{n}.html" for n in ("index", "beijing", "ningxia")]
    assert all(a.partition == "aws-cn" for a in pages)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (CRAWL_ROOT + "malformed/", "is not JSON"),
        (CRAWL_ROOT + "deep/", "nested too deeply"),
        (CRAWL_ROOT + "no-such-guide/", "is not a guide: it has no toc-contents.json (HTTP 404)"),
    ],
)
async def test_an_unreadable_toc_stops_the_guide_with_a_clear_error(
    to_origin: OriginServer, path: str, error: str
) -> None:
    with pytest.raises(CrawlError) as refused:
        await load_toc(guide(path))
    assert error in str(refused.value) and f"{AWS}{path}" in str(refused.value)


async def test_a_toc_of_the_wrong_shape_yields_no_pages(to_origin: OriginServer) -> None:
    odd = guide(CRAWL_ROOT + "wrong-shape/")
    found = toc_pages(odd, await load_toc(odd))
    assert found.pages == [] and found.entries == 0


async def test_a_toc_above_the_byte_bound_is_refused(to_origin: OriginServer, settings: Settings) -> None:
    settings.DOCS_CRAWL_MAX_TOC_BYTES = 64 * 1024  # the real RDS TOC is 205 KB
    with pytest.raises(CrawlError) as refused:
        await load_toc(guide(CRAWL_GUIDE))
    assert "larger than the 64 KB this server reads" in str(refused.value)
    settings.DOCS_CRAWL_MAX_TOC_BYTES = 4 * 1024 * 1024
    assert len(toc_pages(guide(CRAWL_GUIDE), await load_toc(guide(CRAWL_GUIDE))).pages) > 1000


async def test_the_pacer_spaces_fetch_starts_by_the_pace() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    pacer = Pacer(0.5, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):  # three workers ask at the same moment: the 2nd waits 0.5 s, the 3rd 1 s
        await pacer.wait()
    assert slept == [0.5, 1.0]
    now[0] += 10  # long after: no wait, and the next one is spaced from this start
    await pacer.wait()
    now[0] += 0.2
    await pacer.wait()
    assert slept == [0.5, 1.0, 0.3]
    unpaced = Pacer(0.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await unpaced.wait()
    assert slept == [0.5, 1.0, 0.3]


def test_failures_alike_are_grouped_without_their_urls() -> None:
    url = f"{AWS}/x/latest/y/a.html"
    message = f"Page not found: {url} does not exist. Check the URL, or use search_documentation to find the page."
    assert short_reason(message, url) == "Page not found: the page does not exist"
    assert short_reason("", url) == "unknown error"


async def test_a_guide_is_read_at_most_concurrency_pages_at_once_and_a_page_error_does_not_stop_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docs_proxy import crawl as crawl_module

    running, most = 0, 0

    async def read(address: DocAddress) -> tuple[Outcome, str, bool]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        if address.path.endswith("page-3.html"):
            raise RuntimeError("surprise")
        return Outcome.INDEXED, "", True

    monkeypatch.setattr(crawl_module, "crawl_page", read)
    monkeypatch.setattr(crawl_module, "_fresh_in_cache", lambda address: False)
    small = guide("/x/latest/guide/")
    addresses = [DocAddress("aws", f"/x/latest/guide/page-{n}.html") for n in range(8)]
    seen: list[int] = []
    report = CrawlReport(small.url, refresh=False, planned=len(addresses))
    await crawl_guide(small, report, addresses, CrawlOptions(8, 0.0, 3), lambda r: seen.append(r.done))
    assert most == 3 and seen == list(range(1, 9))
    assert report.counts[Outcome.INDEXED] == 7 and report.counts[Outcome.FAILED] == 1
    assert report.failures == {"RuntimeError: surprise": [f"{AWS}/x/latest/guide/page-3.html"]}


def test_the_progress_bar_redraws_in_place_on_a_terminal() -> None:
    out = StringIO()
    view = ProgressView(OutputWrapper(out), tty=True, every=25)
    report = CrawlReport(f"{AWS}/x/latest/guide/", refresh=False, planned=4)
    for outcome in (Outcome.INDEXED, Outcome.FAILED, Outcome.INDEXED, Outcome.INDEXED):
        report.record("u", outcome, "why")
        view(report)
    assert out.getvalue().count("\n") == 1 and out.getvalue().endswith("\n")
    assert "\r[#######-----------------------] 1/4 pages, 0 failed" in out.getvalue()
    assert "\r[##############################] 4/4 pages, 1 failed" in out.getvalue()
    plain = StringIO()
    view = ProgressView(OutputWrapper(plain), tty=False, every=3)
    report = CrawlReport(f"{AWS}/x/latest/guide/", refresh=False, planned=4)
    for _ in range(4):
        report.record("u", Outcome.INDEXED)
        view(report)
    assert plain.getvalue().splitlines() == [f"{AWS}/x/latest/guide/: {n}/4 pages, 0 failed" for n in (3, 4)]


def test_the_run_takes_its_bounds_from_the_settings_unless_given(settings: Settings) -> None:
    from docs_proxy.management.commands.index_docs import Command

    settings.DOCS_CRAWL_MAX_PAGES, settings.DOCS_CRAWL_PACE, settings.DOCS_CRAWL_CONCURRENCY = 7, 1.5, 40
    settings.DOCS_MAX_CONCURRENT_FETCHES = 6
    unset = {"max_pages": None, "pace": None, "concurrency": None, "refresh": False}
    assert Command.crawl_options(unset) == CrawlOptions(7, 1.5, 6, False)  # the setting, under the fetch cap
    given = {"max_pages": 2, "pace": 0.0, "concurrency": 1, "refresh": True}
    assert Command.crawl_options(given) == CrawlOptions(2, 0.0, 1, True)


@pytest.mark.parametrize(
    ("href", "page"),
    [
        ("//evil.com/x.html", None),  # scheme-relative: another host
        ("%2e%2e/x.html", None),  # an encoded ".." is still a way out
        ("%2E%2E/%2e%2e/small-guide/index.html", None),
        ("..\\x.html", None),
        ("sub\\..\\..\\x.html", None),
        ("//[evil/x.html", None),  # a URL urlsplit refuses
        ("x.html?a=../../y", "x.html"),  # the query is not part of the page: dropped
        ("x.html?a=1#frag", "x.html"),
    ],
)
def test_a_hostile_href_names_no_page_outside_the_guide(href: str, page: str | None) -> None:
    hostile = guide(CRAWL_HOSTILE_GUIDE)
    found = page_of_entry(hostile, {"title": "t", "href": href})
    assert (found.url if found else None) == (f"{AWS}{CRAWL_HOSTILE_GUIDE}{page}" if page else None)


async def test_the_crawl_waits_for_the_pace_before_each_page_not_fresh_in_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docs_proxy import crawl as crawl_module

    waits: list[str] = []
    current: list[str] = []

    class CountingPacer(Pacer):
        async def wait(self) -> None:
            waits.append(current[-1])

    async def read(address: DocAddress) -> tuple[Outcome, str, bool]:
        return Outcome.INDEXED, "", True

    def fresh(address: DocAddress) -> bool:
        current.append(address.path)
        return address.path.endswith("fresh.html")

    monkeypatch.setattr(crawl_module, "Pacer", CountingPacer)
    monkeypatch.setattr(crawl_module, "crawl_page", read)
    monkeypatch.setattr(crawl_module, "_fresh_in_cache", fresh)
    small = guide("/x/latest/guide/")
    names = ["a.html", "fresh.html", "b.html"]
    addresses = [DocAddress("aws", f"/x/latest/guide/{name}") for name in names]
    report = CrawlReport(small.url, refresh=False, planned=3)
    await crawl_guide(small, report, addresses, CrawlOptions(8, 0.5, 1), lambda r: None)
    assert waits == ["/x/latest/guide/a.html", "/x/latest/guide/b.html"]  # none for the fresh page
    assert report.counts[Outcome.INDEXED] == 3
