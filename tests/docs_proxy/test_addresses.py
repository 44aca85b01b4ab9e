"""URL rules: only the partition's docs host, .html paths; everything hostile refused before any request."""

from __future__ import annotations

import pytest

from docs_proxy.addresses import AddressError, follow_redirect, parse_doc_url

RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"


def test_a_docs_page_is_accepted_and_canonicalised() -> None:
    address = parse_doc_url(
        "http://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html#Welcome.Concepts", "aws"
    )
    assert address.url == RDS
    assert address.fragment == "Welcome.Concepts"
    assert parse_doc_url("https://DOCS.AWS.AMAZON.COM/a/b.html", "aws").url == "https://docs.aws.amazon.com/a/b.html"
    assert parse_doc_url("https://docs.amazonaws.cn/en_us/s3/x.html", "aws-cn").host == "docs.amazonaws.cn"


@pytest.mark.parametrize(
    "url",
    [
        "https://docs.aws.amazon.com.evil.com/x.html",
        "https://docs.aws.amazon.com@evil.com/x.html",
        "https://evil.com@docs.aws.amazon.com/x.html",
        "https://docs.aws.amazon.com:8443/x.html",
        "https://169.254.169.254/latest/meta-data.html",
        "https://[::1]/x.html",
        "ftp://docs.aws.amazon.com/x.html",
        "file:///etc/passwd.html",
        "javascript:alert(1)//.html",
        "https://docs.aws.amazon.com/x.pdf",
        "https://docs.aws.amazon.com/",
        "https://docs.aws.amazon.com/a/../../etc/passwd.html",
        "https://docs.aws.amazon.com/a/%2e%2e/%2e%2e/x.html",
        "https://docs.aws.amazon.com/a%2F..%2Fb.html",
        "https://docs.aws.amazon.com//evil.com/x.html",
        "https://docs.aws.amazon.com/x.html\r\nHost: evil",
        "https://docs.aws.amazon.com\\@evil.com/x.html",
        "https://docs.aws.amazon.com/%00.html",
        "https://docs.amazonaws.cn/x.html",
        "",
        "   ",
        "https://" + "a" * 3000 + ".html",
    ],
)
def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(AddressError):
        parse_doc_url(url, "aws")


def test_other_partition_host_names_the_partition() -> None:
    with pytest.raises(AddressError, match="partition=aws-cn"):
        parse_doc_url("https://docs.amazonaws.cn/en_us/x.html", "aws")


def test_non_strings_are_refused() -> None:
    with pytest.raises(AddressError):
        parse_doc_url(None, "aws")


@pytest.mark.django_db(databases=[])
def test_redirects_are_read_as_from_the_public_host(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AWS_DOCS_ORIGIN = "http://127.0.0.1:9"
    here = parse_doc_url("https://docs.aws.amazon.com/a/b/c.html", "aws")
    assert follow_redirect(here, "../d.html").url == "https://docs.aws.amazon.com/a/d.html"
    assert follow_redirect(here, "http://127.0.0.1:9/e/f.html").url == "https://docs.aws.amazon.com/e/f.html"
    assert follow_redirect(here, "https://docs.aws.amazon.com/g.html").url == "https://docs.aws.amazon.com/g.html"
    for bad in ("https://evil.com/x.html", "http://169.254.169.254/x.html", "http://127.0.0.1:10/x.html", "/x.pdf"):
        with pytest.raises(AddressError):
            follow_redirect(here, bad)


def test_padding_is_stripped_before_the_parse_is_cached() -> None:
    from docs_proxy.addresses import _parse_doc_url

    url = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
    _parse_doc_url.cache_clear()
    assert parse_doc_url(url + " " * 100_000, "aws") == parse_doc_url(url, "aws")
    assert _parse_doc_url.cache_info().currsize == 1  # one entry, keyed by the stripped URL
