"""Links relative to their page: every form resolves back to the exact absolute URL."""

from __future__ import annotations

import time
from urllib.parse import urljoin

import pytest

from docs_proxy.links import absolute_links, relative_href

PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (f"{PAGE}#aurora", "#aurora"),
        ("https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Aurora.html", "CHAP_Aurora.html"),
        ("https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Aurora.html#x", "CHAP_Aurora.html#x"),
        (
            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/sub/page.html",
            "/AmazonRDS/latest/UserGuide/sub/page.html",
        ),
        ("https://docs.aws.amazon.com/lambda/latest/dg/welcome.html", "/lambda/latest/dg/welcome.html"),
        ("https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/a:b.html", "/AmazonRDS/latest/UserGuide/a:b.html"),
        ("https://aws.amazon.com/rds/", "https://aws.amazon.com/rds/"),
        (
            "http://docs.aws.amazon.com/lambda/latest/dg/welcome.html",
            "http://docs.aws.amazon.com/lambda/latest/dg/welcome.html",
        ),
        (PAGE, "Welcome.html"),
        (f"{PAGE}?x=1#y", "Welcome.html?x=1#y"),
    ],
)
def test_relative_href_is_shortest_form_that_resolves_back(target: str, expected: str) -> None:
    relative = relative_href(PAGE, target)
    assert relative == expected
    assert urljoin(PAGE, relative) == target


def test_absolute_links_resolves_links_and_images_and_keeps_titles() -> None:
    text = '[a](CHAP_Aurora.html) and ![i](images/x.png "t") and [b](#sec) and [c](https://aws.amazon.com/)'
    assert absolute_links(text, PAGE) == (
        "[a](https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Aurora.html) and "
        '![i](https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/images/x.png "t") and '
        f"[b]({PAGE}#sec) and [c](https://aws.amazon.com/)"
    )
    assert absolute_links("no links here", PAGE) == "no links here"


def test_absolute_links_is_linear_on_a_cell_of_unclosed_link_openers() -> None:
    """Hostile table text: 40,000 `](` without a `)` took minutes with a target that could hold brackets."""
    hostile = "](" * 40_000 + "[x](a.html)"
    started = time.process_time()
    assert absolute_links(hostile, PAGE).endswith("[x](https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/a.html)")
    assert time.process_time() - started < 5  # CPU seconds; was 164 (under pytest's timeout, so time it here)
