"""A stand-in for AWS's documentation origins, on loopback: the only thing tests and benchmarks mock.

It serves the real captured pages of tests/fixtures at their public paths, answers the search
and recommendations APIs with JSON of the upstream shapes (docs_proxy/upstream_models.py reads them), serves a China
services page and TOC under /cn, and has paths that misbehave on purpose (redirects, 5xx, a hang,
a huge body, binary content) or forward the way guide roots do (FORWARDS). It counts requests per
path so tests can tell cache hits from fetches.

Run alone: `python -m tests.support.origin --port 8900` (used by the benchmarks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"  # copies of the captured pages of shared/fixtures (see its README)
PAGES = FIXTURES / "aws-pages"
TOC = FIXTURES / "toc"
PUBLIC = "https://docs.aws.amazon.com"
CN_PREFIX = "/cn"

CHINA_TOC = {
    "contents": [
        {
            "title": "Amazon Web Services in China",
            "href": "services.html",
            "contents": [
                {"title": "Amazon EC2", "href": "ec2.html"},
                {"title": "Amazon S3", "href": "s3.html"},
                {"title": "AWS Lambda", "href": "lambda.html"},
                {"title": "Amazon RDS", "href": "rds.html"},
                {"title": "Services Unsupported in the China Regions", "href": "unsupported.html"},
            ],
        }
    ]
}
CHINA_SERVICES_HTML = """<!DOCTYPE html><html><head><title>Services - Amazon Web Services in China</title></head>
<body><div id="main-content"><h1>Amazon Web Services in China</h1>
<p>These services are available in the China (Beijing) and China (Ningxia) Regions.</p>
<ul><li><a href="ec2.html">Amazon EC2</a></li><li><a href="s3.html">Amazon S3</a></li>
<li><a href="lambda.html">AWS Lambda</a></li><li><a href="rds.html">Amazon RDS</a></li></ul></div></body></html>"""
CHINA_PAGE_HTML = """<!DOCTYPE html><html><head><title>Amazon S3 - Amazon Web Services in China</title></head>
<body><div id="main-content"><h1>Amazon S3 in the China Regions</h1><p>Amazon S3 differs in China.</p>
<h2 id="differences">Differences</h2><p>Endpoints end in .amazonaws.com.cn.</p></div></body></html>"""


LAMBDA_PAGE = "lambda-python-how-to-create-deployment-package.html"  # the fixture page of the Lambda guide


def forwarding_page(content: str, article: str = "") -> bytes:
    """A page that forwards with a meta refresh (`content` is the attribute's value), as some guide roots do."""
    return (
        "<!DOCTYPE html><html><head><title>Redirecting</title>"
        f'<meta http-equiv="refresh" content="{content}"></head>'
        f"<body>{article or '<p>Redirecting to the guide.</p>'}</body></html>"
    ).encode()


# Guide roots and forwarding pages: path -> (status, Location or body). Directories as AWS serves them
# (a 302 to the start page, a meta refresh), then the hostile ones.
FORWARDS: dict[str, tuple[int, str | bytes]] = {
    "/AmazonRDS/latest/UserGuide/": (302, "Welcome.html"),
    "/lambda/latest/dg/": (200, forwarding_page(f"0; url={LAMBDA_PAGE}")),
    "/test/guide-then-forward/": (301, "/test/forward.html"),
    "/test/forward.html": (200, forwarding_page("0;URL='/AmazonRDS/latest/UserGuide/Welcome.html'")),
    "/test/dir-loop-a/": (302, "/test/dir-loop-b"),
    "/test/dir-loop-b/": (302, "/test/dir-loop-a/"),
    "/test/dir-offsite/": (302, "https://evil.example.com/lambda/latest/dg/"),
    "/test/meta-offsite/": (200, forwarding_page("0; url=https://evil.example.com/lambda/latest/dg/welcome.html")),
    "/test/meta-javascript/": (200, forwarding_page("0; url=javascript:alert(document.cookie)")),
    "/test/meta-loop/": (200, forwarding_page("0; url=./")),
    "/test/meta-with-article.html": (
        200,
        forwarding_page(
            "600; url=/AmazonRDS/latest/UserGuide/Welcome.html",
            '<div id="main-content"><h1>Moved guide</h1><p>This guide now lives in the RDS User Guide.</p></div>',
        ),
    ),
}


def load_pages() -> dict[str, tuple[str, bytes]]:
    """Public path -> (file name, HTML bytes)."""
    manifest = json.loads((PAGES / "MANIFEST.json").read_text())
    pages = {}
    for url, name in manifest.items():
        pages[urlsplit(url).path] = (name, (PAGES / name).read_bytes())
    return pages


def page_titles(pages: dict[str, tuple[str, bytes]]) -> dict[str, str]:
    titles = {}
    for path, (_name, body) in pages.items():
        soup = BeautifulSoup(body, "html.parser")
        heading = soup.find("h1")
        title = heading.get_text(" ", strip=True) if heading else (soup.title.string if soup.title else path)
        titles[path] = " ".join(str(title).split())
    return titles


def copied_page(path: str) -> str:
    """`/copies/<n>/<page path>` serves that page: each n is another URL, so another cache entry."""
    if not path.startswith("/copies/"):
        return ""
    _copy, _n, rest = path[len("/copies/") :].partition("/")
    return "/" + rest


# --- Guides for the crawl (index_docs) ---------------------------------------------------------------
# Under CRAWL_ROOT every .html path is a page (synthetic, titled from its guide's TOC; the RDS guide's
# Welcome.html is the real captured page), so a TOC's pages exist; `OriginServer.revise` changes one.
CRAWL_ROOT = "/crawl/latest/"
CRAWL_GUIDE = CRAWL_ROOT + "rds-guide/"  # the real RDS User Guide TOC (1367 entries, nested)
CRAWL_SMALL_GUIDE = CRAWL_ROOT + "small-guide/"
CRAWL_REFRESH_GUIDE = CRAWL_ROOT + "refresh-guide/"  # four pages a test changes and removes
CRAWL_BOUND_GUIDE = CRAWL_ROOT + "bound-guide/"  # four pages read in two runs
CRAWL_HOSTILE_GUIDE = CRAWL_ROOT + "hostile/"  # three real pages among entries that must all be skipped
CRAWL_CN_GUIDE = "/en_us/crawl/latest/guide/"  # on the China origin (under /cn)
CRAWL_SMALL_TOC = {
    "contents": [
        {"title": "Small guide", "href": "index.html", "contents": [{"title": "Queues", "href": "queues.html"}]},
        {"title": "Topics", "href": "topics.html", "contents": [{"title": "Fan-out", "href": "topics/fan-out.html"}]},
    ]
}
CRAWL_CN_TOC = {
    "contents": [
        {"title": "Crawl guide in China", "href": "index.html"},
        {"title": "Beijing Region", "href": "beijing.html"},
        {"title": "Ningxia Region", "href": "ningxia.html"},
    ]
}
CRAWL_HOSTILE_TOC = {
    "contents": [
        {"title": "First", "href": "page-1.html"},
        {"title": "Off-site", "href": "https://evil.example.com/crawl/latest/hostile/x.html"},
        {"title": "Metadata", "href": "http://169.254.169.254/latest/meta-data/x.html"},
        {"title": "Up and out", "href": "../rds-guide/Welcome.html"},
        {"title": "Down, up and out", "href": "sub/../../small-guide/index.html"},
        {"title": "Another guide", "href": "/AmazonRDS/latest/UserGuide/Welcome.html"},
        {"title": "Other partition", "href": "https://docs.amazonaws.cn/crawl/latest/hostile/page-1.html"},
        {"title": "Script", "href": "javascript:alert(document.cookie)"},
        {"title": "Data", "href": "data:text/html,<script>alert(1)</script>"},
        {"title": "Mail", "href": "mailto:someone@example.com"},
        {"title": "Not a page", "href": "image.png"},
        {"title": "Long", "href": "a" * 5000 + ".html"},
        {"title": "Spaces", "href": "page 9.html"},
        {"title": "Again, with a fragment", "href": "page-1.html#section"},
        "a string entry",
        17,
        None,
        {"title": "Number href", "href": 404},
        {"title": "Heading without a page", "contents": [{"title": "Second", "href": "page-2.html"}]},
        {"title": "Third", "href": "./page-3.html", "contents": "not a list"},
    ]
}
CRAWL_BAD_TOCS: dict[str, bytes] = {
    CRAWL_ROOT + "malformed/": b'{"contents": [{"title": "Cut short", "href": "page-1.html"',
    CRAWL_ROOT + "deep/": b'{"contents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    CRAWL_ROOT + "wrong-shape/": b'{"contents": "a string where a list belongs"}',
}


def crawl_tocs() -> dict[str, bytes]:
    """Guide path -> its toc-contents.json body."""
    rds = (TOC / "rds-userguide__toc-contents__2026-04.json").read_bytes()
    four = {"contents": [{"title": f"Page {n} of four", "href": f"page-{n}.html"} for n in range(1, 5)]}
    tocs = {CRAWL_GUIDE: rds, CRAWL_SMALL_GUIDE: json.dumps(CRAWL_SMALL_TOC).encode()}
    tocs[CRAWL_REFRESH_GUIDE] = tocs[CRAWL_BOUND_GUIDE] = json.dumps(four).encode()
    tocs[CRAWL_HOSTILE_GUIDE] = json.dumps(CRAWL_HOSTILE_TOC).encode()
    return {**tocs, **CRAWL_BAD_TOCS}


CRAWL_GUIDES = crawl_tocs()


def toc_titles(toc: bytes) -> dict[str, str]:
    """href -> title of every entry of a (well-formed) TOC."""
    titles: dict[str, str] = {}
    stack = list(json.loads(toc).get("contents", []))
    while stack:
        entry = stack.pop()
        if isinstance(entry, dict):
            if isinstance(entry.get("href"), str):
                titles[entry["href"].lstrip("./")] = str(entry.get("title", ""))
            if isinstance(entry.get("contents"), list):
                stack.extend(entry["contents"])
    return titles


def crawl_page_html(guide: str, name: str, title: str, revision: int) -> bytes:
    """A small page of a crawl guide; each revision is another body (so another ETag)."""
    words = " ".join(title.lower().split()) or name
    return (
        f"<!DOCTYPE html><html><head><title>{title} - Crawl fixture</title></head><body>"
        f'<div id="main-content"><h1>{title or name}</h1>'
        f"<p>This page of the crawl fixture guide {guide} explains {words}.</p>"
        f'<h2 id="details">Details of {words}</h2><p>Revision {revision} of {name}.</p></div></body></html>'
    ).encode()


class OriginState:
    def __init__(self) -> None:
        self.pages = load_pages()
        self.titles = page_titles(self.pages)
        self.revisions: Counter[str] = Counter()  # crawl pages changed by OriginServer.revise
        self.gone: set[str] = set()  # crawl pages removed by OriginServer.remove
        self.crawl_titles = {
            guide: toc_titles(body)
            for guide, body in {**CRAWL_GUIDES, CRAWL_CN_GUIDE: json.dumps(CRAWL_CN_TOC).encode()}.items()
            if guide not in CRAWL_BAD_TOCS
        }
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.flaky: Counter[str] = Counter()
        self.failing: set[str] = set()
        self.conditional: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.last_search: Any = None
        self.last_headers: dict[str, str] = {}
        self.search_failure: str | None = None  # "503" or "hang": the search API's outage (search_fails)
        self.search_released = threading.Event()  # set to end the hanging search requests

    def count(self, path: str) -> None:
        with self.lock:
            self.hits[path] += 1


class Handler(BaseHTTPRequestHandler):
    server: OriginServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def state(self) -> OriginState:
        return self.server.state

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any) -> None:
        self.send_body(status, json.dumps(payload).encode(), "application/json")

    def redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # --- GET -----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self.state.count(path)
        self.state.last_headers = {k.lower(): v for k, v in self.headers.items()}
        if path == "/__stats":
            with self.state.lock:
                self.send_json(200, dict(self.state.hits))
            return
        if path == "/v1/recommendations":
            self.recommendations(parse_qs(parts.query).get("path", [""])[0])
            return
        if path.startswith(CN_PREFIX + "/"):
            self.china(path[len(CN_PREFIX) :])
            return
        if path in self.state.failing:
            self.send_body(503, b"<html><body>Service unavailable</body></html>", "text/html")
            return
        if path in self.state.pages:
            self.page(path)
            return
        copy = copied_page(path)
        if copy in self.state.pages:  # a page under a fresh URL: a cold read every time (bench.mixed)
            self.page(copy)
            return
        if path.startswith(CRAWL_ROOT):
            self.crawl_guide(path, CRAWL_GUIDES)
            return
        self.special(path)

    def page(self, path: str) -> None:
        _name, body = self.state.pages[path]
        self.send_page(path, body)

    def send_page(self, path: str, body: bytes) -> None:
        """A page with an ETag; a matching If-None-Match gets a 304 (both counted per path)."""
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        if self.headers.get("If-None-Match"):
            with self.state.lock:
                self.state.conditional[path] += 1
        if self.headers.get("If-None-Match") == etag:
            with self.state.lock:
                self.state.not_modified[path] += 1
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_body(
            200,
            body,
            "text/html; charset=utf-8",
            {"ETag": etag, "Last-Modified": "Wed, 01 Apr 2026 00:00:00 GMT"},
        )

    def china(self, path: str) -> None:
        if path == "/en_us/aws/latest/userguide/toc-contents.json":
            self.send_json(200, CHINA_TOC)
        elif path == "/en_us/aws/latest/userguide/services.html":
            self.send_body(200, CHINA_SERVICES_HTML.encode(), "text/html; charset=utf-8")
        elif path == "/en_us/aws/latest/userguide/s3.html":
            self.send_body(200, CHINA_PAGE_HTML.encode(), "text/html; charset=utf-8")
        elif path.startswith(CRAWL_CN_GUIDE):
            self.crawl_guide(path, {CRAWL_CN_GUIDE: json.dumps(CRAWL_CN_TOC).encode()}, CN_PREFIX)
        else:
            self.send_body(404, b"<html><body>Not found</body></html>", "text/html")

    def crawl_guide(self, path: str, tocs: dict[str, bytes], prefix: str = "") -> None:
        """A crawl guide's TOC, or one of its pages (`path` is relative to the origin's partition prefix)."""
        guide, _slash, name = path.rpartition("/")
        guide += "/"
        if name == "toc-contents.json" and guide in tocs:
            self.send_body(200, tocs[guide], "application/json")
            return
        known = next((g for g in tocs if path.startswith(g) and g not in CRAWL_BAD_TOCS), None)
        if known is None or not name.endswith(".html") or prefix + path in self.state.gone:
            self.send_body(404, b"<html><body><h1>Page not found</h1></body></html>", "text/html")
            return
        if known == CRAWL_GUIDE and path == CRAWL_GUIDE + "Welcome.html":
            self.send_page(prefix + path, self.state.pages["/AmazonRDS/latest/UserGuide/Welcome.html"][1])
            return
        relative = path[len(known) :]
        title = self.state.crawl_titles.get(known, {}).get(relative, name.removesuffix(".html"))
        with self.state.lock:
            revision = self.state.revisions[prefix + path]
        self.send_page(prefix + path, crawl_page_html(known, relative, title, revision))

    def special(self, path: str) -> None:
        rds = "/AmazonRDS/latest/UserGuide/Welcome.html"
        if path in FORWARDS:
            status, answer = FORWARDS[path]
            if isinstance(answer, bytes):
                self.send_body(status, answer, "text/html; charset=utf-8")
            else:
                self.redirect(status, answer)
        elif path == "/test/redirect-relative.html":
            self.redirect(301, "../../AmazonRDS/latest/UserGuide/Welcome.html")
        elif path == "/test/redirect-origin.html":
            self.redirect(302, f"http://{self.headers['Host']}{rds}")
        elif path == "/test/redirect-public.html":
            self.redirect(302, f"{PUBLIC}{rds}")
        elif path == "/test/redirect-offsite.html":
            self.redirect(302, "https://evil.example.com/AmazonRDS/latest/UserGuide/Welcome.html")
        elif path == "/test/redirect-ip.html":
            self.redirect(302, "http://169.254.169.254/latest/meta-data/index.html")
        elif path == "/test/redirect-loop.html":
            self.redirect(302, "/test/redirect-loop.html")
        elif path == "/test/error-500.html":
            self.send_body(500, b"<html><body>Internal error</body></html>", "text/html")
        elif path == "/test/flaky.html":
            with self.state.lock:
                self.state.flaky[path] += 1
                attempt = self.state.flaky[path]
            if attempt % 2 == 1:
                self.send_body(503, b"busy", "text/plain")
            else:
                self.page(rds)
        elif path == "/test/hang.html":
            self.state.stopping.wait(60)
        elif path == "/test/huge.html":
            chunk = b"<p>" + b"x" * 1021 + b"</p>"
            body = b"<html><body><div id='main-content'>" + chunk * (10 * 1024) + b"</div></body></html>"
            self.send_body(200, body, "text/html")
        elif path == "/test/binary.html":
            self.send_body(200, bytes(range(256)) * 64, "application/octet-stream")
        elif path == "/test/no-article.html":
            self.send_body(200, b"<html><head><title>Empty</title></head><body></body></html>", "text/html")
        else:
            self.send_body(404, b"<html><body><h1>Page not found</h1></body></html>", "text/html")

    # --- POST (search) ---------------------------------------------------------------------------
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        self.state.count(path)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if path != "/search":
            self.send_body(404, b"not found", "text/plain")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, {"message": "bad json"})
            return
        self.state.last_search = body
        if self.search_outage():
            return
        phrase = body.get("textQuery", {}).get("input", "")
        if phrase == "upstream-error":
            self.send_json(500, {"message": "internal"})
            return
        self.send_json(200, self.search_answer(phrase))

    def search_answer(self, phrase: str) -> dict[str, Any]:
        words = [w for w in phrase.lower().split() if w]
        suggestions = []
        for path, title in self.state.titles.items():
            haystack = f"{title} {path}".lower()
            if words and not any(w in haystack for w in words):
                continue
            suggestions.append(
                {
                    "textExcerptSuggestion": {
                        "link": f"{PUBLIC}{path}",
                        "title": title,
                        "summary": f"Summary of {title}.",
                        "suggestionBody": f"Body excerpt about {title}.",
                        "metadata": {
                            "sections": ["Overview", "Details"],
                            "recommended_sections": ["Overview"],
                            "additional_urls": [],
                        },
                    }
                }
            )
        return {
            "queryId": "fixture-query-1",
            "facets": {"aws-docs-search-product": ["Amazon RDS"], "aws-docs-search-guide": ["User Guide"]},
            "suggestions": suggestions,
        }

    def search_outage(self) -> bool:
        """Answer as a failing search API would, when told to (OriginServer.search_fails); True if it did."""
        failure = self.state.search_failure
        if failure == "503":
            self.send_json(503, {"message": "Service Unavailable"})
        elif failure == "hang":
            self.state.search_released.wait(60)  # no answer: the connection closes when the test releases it
            self.close_connection = True
        return failure is not None

    def recommendations(self, url: str) -> None:
        if "upstream-error" in url:
            self.send_json(500, {"message": "internal"})
            return
        others = [p for p in self.state.titles if f"{PUBLIC}{p}" != url]
        item = lambda p: {"url": f"{PUBLIC}{p}", "assetTitle": self.state.titles[p]}  # noqa: E731
        self.send_json(
            200,
            {
                "journey": {"items": [{"intent": "Learn", "urls": [item(p) for p in others[:2]]}]},
                "new": {"items": [{**item(p), "dateCreated": "2026-03-01T00:00:00Z"} for p in others[2:4]]},
                "similar": {"items": [{**item(p), "abstract": f"About {self.state.titles[p]}."} for p in others[4:6]]},
            },
        )


class OriginServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = OriginState()
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def settings_env(self) -> dict[str, str]:
        """Environment for a server that fetches from this origin instead of AWS."""
        return {
            "AWS_DOCS_ORIGIN": self.base,
            "AWS_CN_DOCS_ORIGIN": self.base + CN_PREFIX,
            "AWS_DOCS_SEARCH_URL": self.base + "/search",
            "AWS_DOCS_RECOMMEND_URL": self.base + "/v1/recommendations",
            "DOCS_TRUST_ENV_PROXIES": "false",
        }

    def revise(self, path: str) -> None:
        """Change a crawl page's body (and so its ETag): the next conditional request gets a 200."""
        with self.state.lock:
            self.state.revisions[path] += 1

    def remove(self, path: str) -> None:
        """Make a crawl page answer 404 from now on (a page gone from the site)."""
        with self.state.lock:
            self.state.gone.add(path)

    def conditional_requests(self, path: str) -> tuple[int, int]:
        """(requests with If-None-Match, 304s answered) for a path so far."""
        with self.state.lock:
            return self.state.conditional[path], self.state.not_modified[path]

    def fail(self, path: str, failing: bool = True) -> None:
        """Make a page answer 503 until told otherwise (an origin outage)."""
        with self.state.lock:
            (self.state.failing.add if failing else self.state.failing.discard)(path)

    def search_fails(self, failure: str | None) -> None:
        """Make the search API answer 503 ("503"), never answer ("hang"), or answer again (None)."""
        assert failure in (None, "503", "hang"), failure
        with self.state.lock:
            self.state.search_failure = failure
            if failure == "hang":
                self.state.search_released.clear()
            else:
                self.state.search_released.set()

    def hits(self, path: str) -> int:
        with self.state.lock:
            return self.state.hits[path]

    def start(self) -> OriginServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self.state.search_released.set()
        self.shutdown()
        self.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the AWS documentation fixtures on loopback.")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    server = OriginServer(args.port)
    print(json.dumps(server.settings_env()), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    time.sleep(0)


if __name__ == "__main__":
    main()
