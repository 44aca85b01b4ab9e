"""URL rules down to what the model reads: each refusal's reason, the length bound, where pages are fetched from."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from docs_proxy.addresses import MAX_URL_LENGTH, AddressError, DocAddress, follow_redirect, origin_base, parse_doc_url

AWS = "https://docs.aws.amazon.com"
LAMBDA_GUIDE = f"{AWS}/lambda/latest/dg/"


def refusal(url: object, partition: str = "aws") -> str:
    with pytest.raises(AddressError) as refused:
        parse_doc_url(url, partition)
    return str(refused.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "The URL is empty: give the full address of a documentation page."),
        (None, "The URL is empty: give the full address of a documentation page."),
        (f"{AWS}/a b.html", "The URL contains spaces, control characters or backslashes."),
        ("https://[::1/x.html", "The URL cannot be parsed: Invalid IPv6 URL"),
        ("ftp://docs.aws.amazon.com/x.html", "Only https URLs on docs.aws.amazon.com can be read."),
        ("https://me@docs.aws.amazon.com/x.html", "URLs with user names or passwords are not allowed."),
        (
            "https://docs.aws.amazon.com:443/x.html",
            "URLs with a port are not allowed; use https://docs.aws.amazon.com/...",
        ),
        (
            "https://evil-docs.aws.amazon.com/x.html",
            "Only pages on docs.aws.amazon.com can be read; evil-docs.aws.amazon.com is not an AWS documentation host.",
        ),
        (
            "https:///x.html",
            "Only pages on docs.aws.amazon.com can be read; this URL is not an AWS documentation host.",
        ),
        (f"{AWS}/a%22b.html", "The URL path contains characters that are not allowed."),
        (f"{AWS}/a//b.html", "The URL path contains characters that are not allowed."),
        (f"{AWS}/a/../b.html", "The URL path must not contain '.' or '..' segments."),
        (f"{AWS}/a/./b.html", "The URL path must not contain '.' or '..' segments."),
        (
            f"{AWS}/a/b.htm",
            "The URL must point to an HTML page on docs.aws.amazon.com (a path ending in .html) "
            "or to a guide's directory (a path ending in /).",
        ),
        (
            f"{AWS}/",
            "https://docs.aws.amazon.com/ is the site's home page, not documentation: give a page or a guide's "
            "address (such as https://docs.aws.amazon.com/lambda/latest/dg/), or use search_documentation to find one.",
        ),
    ],
)
def test_each_refusal_says_why(url: object, reason: str) -> None:
    assert refusal(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        f"{AWS}/a/..",  # would normalise to /: caught by the segment rule, not only by the home page one
        f"{AWS}/a/../",  # a directory: its slash does not hide the segment
        f"{AWS}/a/...html/../x.html",
        f"{AWS}/./x.html",
    ],
)
def test_dot_segments_are_refused_wherever_they_are(url: str) -> None:
    assert refusal(url) == "The URL path must not contain '.' or '..' segments."


def test_dots_inside_names_are_allowed() -> None:
    assert parse_doc_url(f"{AWS}/a/..b/c..html", "aws").path == "/a/..b/c..html"


def test_the_length_bound_is_inclusive() -> None:
    base = f"{AWS}/"
    exact = base + "a" * (MAX_URL_LENGTH - len(base) - len(".html")) + ".html"
    assert len(exact) == MAX_URL_LENGTH
    assert parse_doc_url(exact, "aws").url == exact
    assert refusal(exact[:-5] + "a.html") == f"The URL is longer than {MAX_URL_LENGTH} characters."


def test_other_partitions_host_is_named_with_its_partition() -> None:
    assert refusal("https://docs.amazonaws.cn/x.html") == (
        "docs.amazonaws.cn belongs to the aws-cn partition; this connection serves aws (docs.aws.amazon.com). "
        "Connect with ?partition=aws-cn to read it."
    )
    assert refusal(f"{AWS}/x.html", "aws-cn").endswith("Connect with ?partition=aws to read it.")


def test_an_address_keeps_partition_path_and_fragment() -> None:
    address = parse_doc_url(f"{AWS}/a/b%20c.html#Sec%201", "aws")
    assert address == DocAddress("aws", "/a/b c.html", "Sec 1")
    assert address.url == f"{AWS}/a/b%20c.html"


@pytest.mark.django_db(databases=[])
def test_pages_are_fetched_from_their_partitions_origin(settings: Settings) -> None:
    settings.AWS_DOCS_ORIGIN = "http://127.0.0.1:8001/mirrorX/"  # a mirror under a path: only slashes are trimmed
    settings.AWS_CN_DOCS_ORIGIN = "http://127.0.0.1:8002//"
    assert origin_base("aws") == "http://127.0.0.1:8001/mirrorX"
    assert origin_base("aws-cn") == "http://127.0.0.1:8002"
    assert parse_doc_url(f"{AWS}/a%20b.html", "aws").origin_url() == "http://127.0.0.1:8001/mirrorX/a%20b.html"
    cn = parse_doc_url("https://docs.amazonaws.cn/c.html", "aws-cn")
    assert cn.origin_url() == "http://127.0.0.1:8002/c.html"


@pytest.mark.django_db(databases=[])
def test_redirects_map_each_partitions_origin_back(settings: Settings) -> None:
    settings.AWS_DOCS_ORIGIN = "http://127.0.0.1:8001"
    settings.AWS_CN_DOCS_ORIGIN = "http://127.0.0.1:8002"
    cn = parse_doc_url("https://docs.amazonaws.cn/a/b.html", "aws-cn")
    assert follow_redirect(cn, " http://127.0.0.1:8002/c/d.html ").url == "https://docs.amazonaws.cn/c/d.html"
    with pytest.raises(AddressError) as refused:
        follow_redirect(cn, "http://127.0.0.1:8001/c/d.html")
    assert str(refused.value) == (
        "The page redirects somewhere that cannot be read (http://127.0.0.1:8001/c/d.html): "
        "URLs with a port are not allowed; use https://docs.amazonaws.cn/..."
    )


@pytest.mark.django_db(databases=[])
def test_a_redirect_refusal_quotes_at_most_200_characters_of_the_target(settings: Settings) -> None:
    here = parse_doc_url(f"{AWS}/a.html", "aws")
    target = "https://evil.example/" + "x" * 400 + ".html"
    with pytest.raises(AddressError) as refused:
        follow_redirect(here, target)
    assert f"({target[:200]})" in str(refused.value)


# --- a guide's directory ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "path"),
    [
        (f"{AWS}/lambda/latest/dg/", "/lambda/latest/dg/"),
        (f"{AWS}/lambda/latest/dg", "/lambda/latest/dg/"),  # without its slash: the same directory
        (f"{AWS}/cli/latest/reference/s3/", "/cli/latest/reference/s3/"),
        (f"{AWS}/AmazonS3/latest/userguide", "/AmazonS3/latest/userguide/"),
        (f"{AWS}/sdk-for-net/v3.5/developer-guide/", "/sdk-for-net/v3.5/developer-guide/"),  # dots inside a name
        (f"{AWS}/IAM/latest/UserGuide/%20x/", "/IAM/latest/UserGuide/ x/"),
        ("http://DOCS.aws.amazon.com/lambda/", "/lambda/"),
    ],
)
def test_a_guide_directory_is_an_address(url: str, path: str) -> None:
    address = parse_doc_url(url, "aws")
    assert address.path == path
    assert address.is_directory
    assert address.url == AWS + address.path.replace(" ", "%20")


def test_both_spellings_of_a_directory_are_one_address_and_keep_the_fragment() -> None:
    with_slash = parse_doc_url(f"{AWS}/lambda/latest/dg/#getting-started", "aws")
    without = parse_doc_url(f"{AWS}/lambda/latest/dg#getting-started", "aws")
    assert with_slash == without == DocAddress("aws", "/lambda/latest/dg/", "getting-started")
    assert not parse_doc_url(LAMBDA_GUIDE + "welcome.html", "aws").is_directory


def test_a_china_guide_directory_is_an_address() -> None:
    address = parse_doc_url("https://docs.amazonaws.cn/en_us/aws/latest/userguide", "aws-cn")
    assert address.url == "https://docs.amazonaws.cn/en_us/aws/latest/userguide/"


@pytest.mark.parametrize(
    "url",
    [
        f"{AWS}/lambda/latest/dg/../",
        f"{AWS}/lambda/latest/dg/..",
        f"{AWS}/lambda/latest/dg/./",
        f"{AWS}/lambda/./dg/",
        f"{AWS}/lambda/%2e%2e/%2e%2e/",
        f"{AWS}/lambda/latest%2F..%2F",
    ],
)
def test_dot_segments_are_refused_in_directories_too(url: str) -> None:
    with pytest.raises(AddressError, match=r"must not contain '\.' or '\.\.' segments"):
        parse_doc_url(url, "aws")


@pytest.mark.parametrize("url", [f"{AWS}/lambda//dg/", f"{AWS}//lambda/latest/dg/", f"{AWS}/lambda/latest/dg//"])
def test_empty_segments_are_refused_in_directories_too(url: str) -> None:
    with pytest.raises(AddressError, match="characters that are not allowed"):
        parse_doc_url(url, "aws")


@pytest.mark.parametrize("url", [f"{AWS}/", AWS, f"{AWS}/#top"])
def test_the_site_home_page_is_refused_with_where_to_go_instead(url: str) -> None:
    with pytest.raises(AddressError) as refused:
        parse_doc_url(url, "aws")
    assert "home page" in str(refused.value) and "search_documentation" in str(refused.value)


def test_the_china_home_page_points_to_its_own_finder() -> None:
    with pytest.raises(AddressError, match="get_available_services"):
        parse_doc_url("https://docs.amazonaws.cn/", "aws-cn")


@pytest.mark.parametrize("url", [f"{AWS}/lambda/latest/dg/guide.pdf", f"{AWS}/lambda/latest/dg/toc.json"])
def test_a_file_that_is_not_html_is_still_refused(url: str) -> None:
    with pytest.raises(AddressError, match=r"ending in \.html\) or to a guide's directory"):
        parse_doc_url(url, "aws")


@pytest.mark.django_db(databases=[])
def test_a_redirect_may_lead_to_a_directory(settings: Settings) -> None:
    settings.AWS_DOCS_ORIGIN = "http://127.0.0.1:9"
    here = parse_doc_url(f"{AWS}/lambda/latest/dg", "aws")
    assert follow_redirect(here, "welcome.html").url == f"{AWS}/lambda/latest/dg/welcome.html"
    assert follow_redirect(here, "/lambda/latest/dg").url == LAMBDA_GUIDE
    assert follow_redirect(here, "http://127.0.0.1:9/lambda/latest/").url == f"{AWS}/lambda/latest/"
    for bad in ("../../../", "https://evil.example.com/lambda/latest/dg/", "javascript:alert(1)"):
        with pytest.raises(AddressError, match="redirects somewhere that cannot be read"):
            follow_redirect(here, bad)


@pytest.mark.parametrize(
    ("link", "partition", "path"),
    [
        ("/lambda/latest/dg/welcome.html", "aws", "/lambda/latest/dg/welcome.html"),
        ("/lambda/latest/dg/welcome.html#x", "aws", "/lambda/latest/dg/welcome.html"),
        ("docs.aws.amazon.com/lambda/latest/dg/", "aws", "/lambda/latest/dg/"),
        ("/en_us/aws/latest/userguide/s3.html", "aws-cn", "/en_us/aws/latest/userguide/s3.html"),
    ],
)
def test_a_root_relative_link_of_an_answer_is_read_on_the_partitions_host(link: str, partition: str, path: str) -> None:
    address = parse_doc_url(link, partition)
    assert (address.partition, address.path) == (partition, path)


@pytest.mark.parametrize("link", ["API_Invoke.html", "#aurora", "../dg/welcome.html", "?x=1"])
def test_a_link_relative_to_a_page_is_refused_with_how_to_resolve_it(link: str) -> None:
    assert refusal(link) == (
        f"{link} is a link relative to a page: resolve it against the page's URL (an answer states it at its "
        "top) and give the absolute URL, such as https://docs.aws.amazon.com/guide/latest/page.html."
    )


@pytest.mark.parametrize("link", ["//evil.example.com/a.html", "docs.aws.amazon.com.evil.example.com/a.html"])
def test_a_scheme_relative_or_look_alike_link_is_not_completed(link: str) -> None:
    with pytest.raises(AddressError):
        parse_doc_url(link, "aws")
