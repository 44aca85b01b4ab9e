"""The fixture pages as the index receives them: converted once per test session, as Page objects."""

from __future__ import annotations

import json
import time
from functools import cache

from docs_proxy.addresses import parse_doc_url
from docs_proxy.convert import convert
from docs_proxy.page import Page
from tests.support.origin import CHINA_PAGE_HTML, CHINA_SERVICES_HTML, PAGES

CN_BASE = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/"
CN_S3 = CN_BASE + "s3.html"
CN_SERVICES = CN_BASE + "services.html"


def page_of(url: str, html: str, partition: str = "aws") -> Page:
    address = parse_doc_url(url, partition)
    now = time.time()
    return Page(address, address, convert(html, url), now, now + 3600)


@cache
def fixture_pages() -> tuple[Page, ...]:
    """Every captured aws page of tests/fixtures/aws-pages, then the China pages the fixture origin serves."""
    manifest = json.loads((PAGES / "MANIFEST.json").read_text())
    pages = [page_of(url, (PAGES / name).read_text()) for url, name in manifest.items()]
    pages += [page_of(CN_S3, CHINA_PAGE_HTML, "aws-cn"), page_of(CN_SERVICES, CHINA_SERVICES_HTML, "aws-cn")]
    return tuple(pages)


def aws_urls() -> list[str]:
    return [p.served.url for p in fixture_pages() if p.served.partition == "aws"]
