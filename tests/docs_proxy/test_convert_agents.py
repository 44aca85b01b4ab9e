"""What an agent reads: links in their shortest exact form, no placeholder links, inline code kept as code,
site notices gone, code languages that are true, and prose without stray whitespace from the HTML's layout.

Each check runs on the real fixture pages of the kind that shows the defect; a small page written here
stands in where no captured page has the case.
"""

from __future__ import annotations

import json
import re
from html import escape
from urllib.parse import urljoin

import pytest

from docs_proxy import convert as convert_module
from docs_proxy.convert import Document, convert
from tests.support import quality
from tests.support.origin import PAGES

MANIFEST: dict[str, str] = json.loads((PAGES / "MANIFEST.json").read_text())
CASES = [pytest.param(url, name, id=name.split("__")[0] + "/" + name.split("__")[1]) for url, name in MANIFEST.items()]
URL_OF = {name.split("__")[0]: url for url, name in MANIFEST.items()}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def page(kind: str) -> tuple[str, str]:
    """The fixture page of a kind (`cli-v1-reference`, `legacy-2018`, ...): its URL and HTML."""
    url = URL_OF[kind]
    return url, (PAGES / MANIFEST[url]).read_text()


def converted(kind: str) -> Document:
    url, html = page(kind)
    return convert(html, url)


def into_article(html: str, extra: str) -> str:
    """The page with `extra` placed at the top of its article (`#main-col-body`)."""
    marker = re.search(r"<div[^>]*id=\"main-col-body\"[^>]*>", html)
    assert marker is not None
    return html[: marker.end()] + extra + html[marker.end() :]


# --- links: relative to the page, each resolving exactly to the absolute URL -----------------------------
@pytest.mark.parametrize(("url", "name"), CASES)
def test_each_link_resolves_to_the_absolute_url_it_replaces(url: str, name: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    html = (PAGES / name).read_text()
    relative = convert(html, url).markdown
    monkeypatch.setattr(convert_module, "relative_href", lambda _page, absolute: absolute)
    absolute = convert(html, url).markdown
    old, new = LINK.findall(absolute), LINK.findall(relative)
    assert new and len(new) == len(old)
    for before, after in zip(old, new, strict=True):
        if before.startswith("http://docs.aws.amazon.com/"):  # the same page over https, the only way it is served
            before = "https" + before[4:]
        assert after.startswith("https://") or urljoin(url, after) == before, (before, after)
    assert sum(map(len, new)) < sum(map(len, old))  # every page links within its own site


def test_links_take_the_shortest_form_that_resolves() -> None:
    markdown = converted("service-authorization").markdown
    assert "- [Actions defined by AWS Account Management](#awsaccountmanagement-actions-as-permissions)" in markdown
    assert "[configure this service](/accounts/latest/reference/accounts-welcome.html)" in markdown
    rds = converted("rds-userguide").markdown
    assert "](CHAP_Aurora.html)" not in rds  # another guide: root-relative, not a file name that would resolve here
    assert "](/AmazonRDS/latest/AuroraUserGuide/CHAP_AuroraOverview.html)" in rds
    assert re.search(r"\]\(Concepts\.[\w.]+\.html\)", rds)  # same guide: the file name alone
    assert "](http://aws.amazon.com/what-is-aws/)" in rds  # another host stays absolute
    cli = converted("cli-v1-reference").markdown  # links of 2019 to the docs host over http: the same pages
    assert "[Use of Exclude and Include Filters](index.html#use-of-exclude-and-include-filters)" in cli
    assert "[Canned ACL](/AmazonS3/latest/dev/acl-overview.html#canned-acl)" in cli
    assert "](http://docs.aws.amazon.com" not in cli
    # a link that shows its own URL stays an autolink, as written
    assert "<http://docs.aws.amazon.com/AmazonS3/latest/dev/ObjectsinRequesterPaysBuckets.html>" in cli


# --- placeholder links: the text stays, the link goes ------------------------------------------------------
PLACEHOLDERS = [
    "xxx<link>.html",
    "xxx%3Clink%3E.html",
    "${DocsUrl}/api.html",
    "{{ link }}",
    "%s.html",
    "xxx.html",
    "XXXX/index.html",
    "TODO",
    "guide/TBD.html",
    "#",
    "javascript:void(0)",
    "link to come",  # words, not an address
    "api|ref.html",
    "guide/{service}/index.html",
    "back\\slash.html",
    "cur^et.html",
    "tick`.html",
]
REAL_HREFS = [
    ("API_CloseAccount.html", "API_CloseAccount.html"),
    ("#awsaccountmanagement-account", "#awsaccountmanagement-account"),
    ("../../reference/welcome.html#x-1", "/service-authorization/reference/welcome.html#x-1"),
    ("https://aws.amazon.com/iam/?nc=sn&loc=0", "https://aws.amazon.com/iam/?nc=sn&loc=0"),
    ("https://example.com/My%20Report.pdf", "https://example.com/My%20Report.pdf"),
    ("lambda-\npython.html", "lambda-python.html"),  # browsers drop a newline inside a URL
    ("max-xxl.html", "max-xxl.html"),
    ("a b.html", "a%20b.html"),  # a browser encodes the space and the link works
    ("https://example.com/a?x={id}", "https://example.com/a?x={id}"),  # a slot in another site's query is real
    ("https://github.com/aws/repo/blob/main/TODO.md", "https://github.com/aws/repo/blob/main/TODO.md"),
]


@pytest.mark.parametrize("href", PLACEHOLDERS)
def test_a_placeholder_link_keeps_its_text_and_loses_its_link(href: str) -> None:
    url, html = page("service-authorization")
    link = f'<p>See <a href="{href.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}">the Wibble guide</a>.</p>'
    markdown = convert(into_article(html, link), url).markdown
    assert "See the Wibble guide." in markdown
    assert "[the Wibble guide]" not in markdown


@pytest.mark.parametrize(("href", "written"), REAL_HREFS)
def test_a_real_link_stays_a_link(href: str, written: str) -> None:
    url, html = page("service-authorization")
    markdown = convert(
        into_article(html, f'<p>See <a href="{href.replace("&", "&amp;")}">the Wibble guide</a>.</p>'), url
    )
    assert f"See [the Wibble guide]({written})." in markdown.markdown


# --- inline code: Sphinx's literals, kbd and samp come out as code spans ----------------------------------
def test_sphinx_literals_on_the_cli_reference_are_inline_code() -> None:
    url, html = page("cli-v1-reference")
    markdown = convert(html, url).markdown
    literals = re.findall(r'<tt class="docutils literal"><span class="pre">([^<]+)</span></tt>', html)
    assert len(literals) > 30
    for literal in literals:
        assert f"`{literal}`" in markdown, literal
    assert "`--recursive` (boolean) Command is performed on all files" in markdown
    assert "\n--recursive (boolean)" not in markdown


INLINE_CODE_PAGE = """<html><head><title>Literals</title></head><body><div id="main-col-body">
<h1>Literals</h1>
<p>Pass <code class="docutils literal notranslate"><span class="pre">--function-name</span></code> and
<code class="literal">my-function</code>; run <tt class="docutils literal"><span class="pre">aws</span>
<span class="pre">lambda</span> <span class="pre">invoke</span></tt> or press <kbd>Ctrl</kbd>+<kbd>C</kbd>.
The output reads <samp>200 OK</samp>, then <span class="pre">--dry-run</span> alone.</p>
<pre><span class="pre">literal block</span></pre>
</div></body></html>"""


def test_every_inline_literal_form_is_a_code_span() -> None:
    markdown = convert(INLINE_CODE_PAGE, "https://docs.aws.amazon.com/cli/latest/reference/literals.html").markdown
    assert (
        "Pass `--function-name` and `my-function`; run `aws lambda invoke` or press `Ctrl`+`C`. "
        "The output reads `200 OK`, then `--dry-run` alone." in markdown
    )
    assert "```\nliteral block\n```" in markdown  # inside a code block a literal stays plain text


@pytest.mark.parametrize(("url", "name"), CASES)
def test_inline_literals_of_every_page_are_code_spans(url: str, name: str) -> None:
    html = (PAGES / name).read_text()
    markdown = convert(html, url).markdown
    article = quality.article_of(html)
    literals = [
        " ".join(tag.get_text().split())
        for tag in article.find_all(["code", "tt", "kbd", "samp"])
        if tag.find_parent(["pre", "code", "tt", "kbd", "samp"]) is None and not quality.in_chrome(tag)
    ]
    for literal in literals:
        if literal and "`" not in literal:
            assert f"`{literal.replace('|', chr(92) + '|')}`" in markdown or f"`{literal}`" in markdown, literal


# --- whitespace: one space between inline elements, none inside brackets or before punctuation ------------
FENCE = re.compile(r"^\s*(?:>\s*)*(`{3,}|~{3,})")
LINE_START = re.compile(r"^(?:\s|>)*(?:[-*+] |\d+\. |:   )?\s*")
CODE_SPAN = re.compile(r"(`+).+?\1")


def prose_lines(markdown: str) -> list[str]:
    """Lines outside code blocks and tables, without their indent, list or quote marker and code spans."""
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        match = FENCE.match(line)
        if match:
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is None and not line.lstrip(" >").startswith("|"):
            lines.append(CODE_SPAN.sub("`x`", LINE_START.sub("", line)))
    return lines


def layout_whitespace(markdown: str) -> list[str]:
    """Prose lines with a double space, a space inside a bracket or a space before punctuation."""
    return [line for line in prose_lines(markdown) if re.search(r" {2}|\( | \)|`x` [,.;:)](?: |$)", line)]


def prettified(html: str) -> str:
    """The page as an indenting serializer writes it: every element on its own line."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "lxml").prettify()


@pytest.mark.parametrize(("url", "name"), CASES)
def test_no_layout_whitespace_in_prose(url: str, name: str) -> None:
    html = (PAGES / name).read_text()
    assert layout_whitespace(convert(html, url).markdown) == []


@pytest.mark.parametrize(("url", "name"), CASES)
def test_no_layout_whitespace_in_prose_of_prettified_pages(url: str, name: str) -> None:
    html = prettified((PAGES / name).read_text())
    assert layout_whitespace(convert(html, url).markdown) == []


def test_inline_elements_of_an_indented_page_sit_in_single_spaces() -> None:
    url, html = page("service-authorization")
    markdown = convert(prettified(html), url).markdown
    assert "AWS Account Management (service prefix: `account`) provides the following" in markdown
    assert "- Learn how to [configure this service](/accounts/latest/reference/accounts-welcome.html)." in markdown


# --- site notices: region and legal disclaimers, site banners, cookie and survey notices are chrome -------
NOTICES = [
    # the 2019 XHTML layout's region notice, inside the article
    '<div id="divRegionDisclaimer" class="divRegionDisclaimer"><p>Wibble region notice: this guide describes'
    " features of the commercial Regions.</p></div>",
    '<div class="legal-disclaimer"><p>Wibble legal notice text.</p></div>',
    '<div class="doc-site-banner"><p>Wibble banner: the guide moved. <a href="new.html">Go there</a></p></div>',
    '<div id="cookie-consent"><p>Wibble cookies: we use cookies to improve the site.</p>'
    '<a href="#">Accept all</a></div>',
    '<div class="survey-prompt"><p>Wibble survey: tell us how we are doing.</p></div>',
    # the banner of 2023-2024, known only by what it says
    "<div><p><strong>The AWS Documentation website is getting a new look!</strong> Wibble: try it now and let"
    ' us know what you think. <a href="https://docs.aws.amazon.com/new">Switch to the new look &gt;&gt;</a></p>'
    "<p>You can return to the original look by selecting English in the language selector above.</p></div>",
]


@pytest.mark.parametrize("kind", ["legacy-2018", "prescriptive-guidance"])
@pytest.mark.parametrize("notice", NOTICES)
def test_site_notices_are_removed_whole(kind: str, notice: str) -> None:
    url, html = page(kind)
    before = convert(html, url).markdown
    after = convert(into_article(html, notice), url).markdown
    assert "Wibble" not in after and "original look" not in after
    assert after == before  # nothing of the article went with it


KEPT = [
    # a Sphinx section whose id names the topic: it has its heading, so it is article, not a notice
    '<div class="section" id="cookie-banner"><h2>Wibble cookie banner</h2><p>Configure the banner.</p></div>',
    "<p>Wibble: read the disclaimer of your survey tool before you ship a banner with a new look.</p>",
    # a heading's own id and an anchor's id name their topic, as does a box of content about cookies
    '<h2 id="cookie-banner-settings">Wibble cookie banner settings</h2><p>Set them.</p>',
    '<p><a id="survey-results"></a>Wibble survey results are kept for 30 days.</p>',
    '<div class="procedure" id="forward-cookies"><p>Wibble: forward cookies to the origin.</p></div>',
    # names that hold a notice's word but name article content: a list of banner layouts, an image, a table, a
    # procedure, a content box; and another product's "new look"
    '<div class="itemizedlist" id="banner-options"><ul><li>Wibble top banner</li><li>Bottom banner</li></ul></div>',
    '<div class="mediaobject" id="in-app-banner"><img src="a.png" alt="Wibble banner layout"></div>',
    '<div id="renew-lookup-table" class="table"><table><tr><th>A</th></tr><tr><td>Wibble</td></tr></table></div>',
    '<div class="procedure" id="survey-setup"><ol><li>Wibble: create a survey</li></ol></div>',
    '<div class="note disclaimer"><p>Wibble pricing shown is an estimate.</p></div>',
    '<div class="legal-disclaimer"><table><tr><th>Term</th></tr><tr><td>Wibble</td></tr></table></div>',
    "<p>The Wibble agent workspace has a new look. To return to the original look, choose <b>Settings</b>.</p>",
    "<div><p>The AWS Management Console site has a new look.</p><p>Wibble: switch to the classic look.</p></div>",
    # a tutorial's code sample that shows such a banner
    "<pre><code>&lt;div&gt;The documentation website is getting a new look!&lt;/div&gt; Wibble</code></pre>",
]


@pytest.mark.parametrize("content", KEPT)
def test_article_text_that_mentions_notices_is_kept(content: str) -> None:
    url, html = page("legacy-2018")
    assert "Wibble" in convert(into_article(html, content), url).markdown


# --- code languages: the page's when it names one, else what the block shows beyond doubt, else none -----
FENCED = re.compile(r"^( *)(`{3,})(\w*)\n(.*?)\n\1\2$", re.M | re.S)


def fences(markdown: str) -> list[tuple[str, str]]:
    """(language, first line) of each fenced block."""
    return [(m.group(3), m.group(4).split("\n")[0].strip()) for m in FENCED.finditer(markdown)]


def test_cli_reference_blocks_are_labelled_by_what_they_hold() -> None:
    blocks = fences(converted("cli-v1-reference").markdown)
    assert "python" not in {lang for lang, _ in blocks}  # Sphinx's default on every block, never true here
    for lang, first in blocks:
        if first.startswith("aws "):
            assert lang == "bash", first
        elif first == "{":
            assert lang == "json", first  # the get-user-policy output, highlighted by Sphinx
        else:  # synopsis, `KeyName1=string,...`, `{"string": "string" ...}` and `upload: ... to ...` output
            assert lang == "", first


def test_unlabelled_commands_on_the_2018_layout_are_shell() -> None:
    blocks = dict((first, lang) for lang, first in fences(converted("legacy-2018").markdown))
    assert blocks["pip install requests -t /path/to/project-dir"] == "bash"
    assert blocks["[install]"] == ""  # an ini file: not told apart from others, so bare


SPHINX_BLOCKS = [
    ("highlight-default", '{\n    "Bucket": "amzn-s3-demo-bucket",\n    "Key": "a.txt"\n}', "json"),
    ("highlight-default", '[\n  {"Name": "a"},\n  {"Name": "b"}\n]', "json"),
    ("highlight-default", '{\n    "Bucket": "amzn-s3-demo-bucket",\n    ...\n}', ""),
    ("highlight-default", "$ aws s3 ls\n2019-01-01 bucket", "bash"),
    ("highlight-default", "PS C:\\> Get-S3Bucket", "powershell"),
    ("highlight-default", "C:\\> aws s3 ls", "bat"),
    ("highlight-default", 'Get-S3Bucket -BucketName "amzn-s3-demo-bucket"', "powershell"),
    ("highlight-default", "Get-Started with the console", ""),
    ("highlight-default", "export AWS_REGION=us-west-2\naws s3 ls", "bash"),
    ("highlight-default", "export const handler = async (event) => event;", ""),
    ("highlight-default", "#!/bin/bash\nyum update -y", "bash"),
    ("highlight-default", "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\nOutputs:\n  Name:\n    Value: x", "yaml"),
    ("highlight-default", "---\nname: build\non: push", "yaml"),
    ("highlight-default", "version: 0.2\nphases:\n  build:\n    commands:\n      - make", "yaml"),
    ("highlight-default", "Note: this block is prose.\nWarning: so is this one.", ""),
    ("highlight-default", "upload: a.txt to s3://b/a.txt\nupload: c.txt to s3://b/c.txt", ""),
    ("highlight-default", "Step one: open the console\n  and then: choose Create.\nDone: it works", ""),
    ("highlight-default", '<?xml version="1.0"?>\n<Bucket/>', "xml"),
    ("highlight-default", "<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>", "xml"),
    ("highlight-default", "<Tagging><TagSet>\n  ...\n</Tagging>", ""),
    ("highlight-default", "<LocalPath> <S3Uri> or <S3Uri> <LocalPath>", ""),
    ("highlight-python", "import boto3\ns3 = boto3.client('s3')", ""),
    ("highlight-python", "KeyName1=string,KeyName2=string", ""),
]


@pytest.mark.parametrize(("wrapper", "code", "language"), SPHINX_BLOCKS)
def test_a_block_without_a_language_is_labelled_only_beyond_doubt(wrapper: str, code: str, language: str) -> None:
    html = (
        '<html><body><div class="body"><h1>Blocks</h1><p>The block:</p>'
        f'<div class="{wrapper}"><div class="highlight"><pre>{escape(code)}</pre></div></div></div></body></html>'
    )
    markdown = convert(html, "https://docs.aws.amazon.com/cli/latest/reference/blocks.html").markdown
    assert f"```{language}\n{code}\n```" in markdown


def test_a_language_the_page_names_wins() -> None:
    html = (
        '<html><body><div id="main-col-body"><h1>Blocks</h1>'
        '<pre class="programlisting"><code class="json">{\n  "Version": "2012-10-17",\n  ...\n}</code></pre>'
        '<pre class="programlisting"><code class="nohighlight">aws sts get-caller-identity</code></pre>'
        "</div></body></html>"
    )
    markdown = convert(html, "https://docs.aws.amazon.com/IAM/latest/UserGuide/blocks.html").markdown
    assert '```json\n{\n  "Version": "2012-10-17",\n  ...\n}\n```' in markdown
    assert "```bash\naws sts get-caller-identity\n```" in markdown


@pytest.mark.parametrize(("url", "name"), CASES)
def test_image_text_is_one_line(url: str, name: str) -> None:
    markdown = convert((PAGES / name).read_text(), url).markdown
    for alt in re.findall(r"!\[([^\]]*)\]\(", markdown):
        assert alt == " ".join(alt.split()), alt


def test_an_image_wrapped_over_lines_in_the_source_is_one_markdown_line() -> None:
    markdown = converted("prescriptive-guidance").markdown
    assert (
        "![Options for landing zones on AWS](/images/prescriptive-guidance/latest/migration-aws-environment/images/lz01.png)"
        in markdown
    )


def test_a_definition_list_inside_a_tab_stays_a_definition_list() -> None:
    url, html = page("cloudformation-userguide")
    tabs = (
        '<awsdocs-tabs><dl style="display: none"><dt>CLI</dt><dd><p>Wibble CLI tab.</p>'
        "<dl><dt>--stack-name</dt><dd><p>The stack.</p></dd></dl></dd>"
        "<dt>PowerShell</dt><dd><p>Wibble PowerShell tab.</p></dd></dl></awsdocs-tabs>"
    )
    markdown = convert(into_article(html, tabs), url).markdown
    assert (
        "**CLI**\n\nWibble CLI tab.\n\n--stack-name\n:   The stack.\n\n**PowerShell**\n\nWibble PowerShell tab."
        in markdown
    )
