"""Which URLs may be read, and where they are fetched from.

A page URL is checked against the public docs host of its partition before anything is fetched;
its path is then fetched from the configured origin (`AWS_DOCS_ORIGIN`, `AWS_CN_DOCS_ORIGIN`), so
tests and benchmarks can point the origin at a local server while clients keep the public URLs.
A guide's directory (`/lambda/latest/dg/`, or `/lambda/latest/dg` without the slash) is a readable
address too: AWS answers it by redirecting to the guide's start page, which fetch.py follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from django.conf import settings

PUBLIC_HOSTS = {"aws": "docs.aws.amazon.com", "aws-cn": "docs.amazonaws.cn"}
MAX_URL_LENGTH = 2048
# Characters a docs path may hold once decoded: what AWS uses, nothing that changes its meaning.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/\- ]*$")
# What a refusal of the site's home page points to instead, per host (the China partition has no search).
_EXAMPLE_GUIDE = {"docs.aws.amazon.com": "/lambda/latest/dg/", "docs.amazonaws.cn": "/en_us/aws/latest/userguide/"}
_FINDER = {"docs.aws.amazon.com": "search_documentation", "docs.amazonaws.cn": "get_available_services"}


class AddressError(ValueError):
    """A URL this server will not fetch; the message says why, for the model to read."""


@dataclass(frozen=True, slots=True)
class DocAddress:
    """A checked documentation address: a page (`/guide/page.html`) or a guide's directory (`/guide/`).

    `path` is decoded and normal: it starts with "/", has no '.', '..' or empty segments, and ends in
    ".html" (a page) or "/" (a directory; an extension-less last segment is given its slash, so both
    spellings share one cache entry and relative links resolve below it). A directory is fetched like a
    page; the origin redirects it to the guide's start page, and `Page.served` says which page that was.
    """

    partition: str
    path: str
    fragment: str = ""

    @property
    def is_directory(self) -> bool:
        return self.path.endswith("/")

    @property
    def host(self) -> str:
        return PUBLIC_HOSTS[self.partition]

    @property
    def url(self) -> str:
        """The canonical public URL, without fragment (cache keys, answers)."""
        return f"https://{self.host}{_quoted(self.path)}"

    def origin_url(self) -> str:
        """Where this page is actually fetched from."""
        return origin_base(self.partition) + _quoted(self.path)


def origin_base(partition: str) -> str:
    base = settings.AWS_CN_DOCS_ORIGIN if partition == "aws-cn" else settings.AWS_DOCS_ORIGIN
    return base.rstrip("/")


@lru_cache(maxsize=4096)
def _quoted(path: str) -> str:
    return quote(path)


def partition_of_host(host: str) -> str | None:
    for partition, public in PUBLIC_HOSTS.items():
        if host == public:
            return partition
    return None


def parse_doc_url(raw: object, partition: str) -> DocAddress:
    """Validate a client's URL for `partition`; raise AddressError with a clear reason otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise AddressError("The URL is empty: give the full address of a documentation page.")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise AddressError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    return _parse_doc_url(url, partition)


@lru_cache(maxsize=4096)  # agents read the same pages again and again; refusals are not cached
def _parse_doc_url(url: str, partition: str) -> DocAddress:
    """`url` is stripped and at most MAX_URL_LENGTH long, so the cache holds at most ~8 MB."""
    host = PUBLIC_HOSTS[partition]
    if _UNSAFE_CHARS.search(url):
        raise AddressError("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise AddressError(f"The URL cannot be parsed: {exc}") from None
    if not parts.scheme and not parts.netloc:
        parts = _completed(url, host)
    if parts.scheme.lower() not in ("https", "http"):
        raise AddressError(f"Only https URLs on {host} can be read.")
    _check_host(parts.netloc.lower(), partition)
    path = _check_path(unquote(parts.path), host)
    return DocAddress(partition, path, unquote(parts.fragment))


def _completed(url: str, host: str) -> SplitResult:
    """A URL written without scheme: a root-relative link of an answer (`/guide/page.html`) or the host without
    `https://` is read on this partition's host; a link relative to a page cannot be resolved without it."""
    if url.startswith("/") and not url.startswith("//"):
        return urlsplit(f"https://{host}{url}")
    if url.lower().startswith(f"{host}/"):
        return urlsplit(f"https://{url}")
    raise AddressError(
        f"{url[:200]} is a link relative to a page: resolve it against the page's URL (an answer states it at its "
        f"top) and give the absolute URL, such as https://{host}/guide/latest/page.html."
    )


def _check_host(netloc: str, partition: str) -> None:
    """The URL's host must be the partition's docs host exactly: no user, no port, no look-alike."""
    host = PUBLIC_HOSTS[partition]
    if "@" in netloc:
        raise AddressError("URLs with user names or passwords are not allowed.")
    if ":" in netloc:
        raise AddressError(f"URLs with a port are not allowed; use https://{host}/...")
    if netloc == host:
        return
    other = partition_of_host(netloc)
    if other is not None:
        raise AddressError(
            f"{netloc} belongs to the {other} partition; this connection serves {partition} ({host}). "
            f"Connect with ?partition={other} to read it."
        )
    raise AddressError(f"Only pages on {host} can be read; {netloc or 'this URL'} is not an AWS documentation host.")


def _check_path(path: str, host: str) -> str:
    """The path if it is a page (ending in .html) or a guide's directory, with a directory's slash added.

    Segments are checked one by one (not through normpath, which would drop a directory's slash): no
    '.', '..' or empty ones, so the path fetched is the path the client named."""
    if path in ("", "/"):
        raise AddressError(
            f"https://{host}/ is the site's home page, not documentation: give a page or a guide's address "
            f"(such as https://{host}{_EXAMPLE_GUIDE[host]}), or use {_FINDER[host]} to find one."
        )
    if not _SAFE_PATH.match(path) or "//" in path:
        raise AddressError("The URL path contains characters that are not allowed.")
    segments = path[1:].split("/")
    if any(segment in (".", "..") for segment in segments):
        raise AddressError("The URL path must not contain '.' or '..' segments.")
    last = segments[-1]
    if last.endswith(".html") or last == "":
        return path
    if "." not in last:  # /lambda/latest/dg: a guide's directory written without its slash
        return path + "/"
    raise AddressError(
        f"The URL must point to an HTML page on {host} (a path ending in .html) or to a guide's directory "
        "(a path ending in /)."
    )


def follow_redirect(current: DocAddress, location: str) -> DocAddress:
    """Where a redirect leads, read as if the public host had sent it; anything off-site is refused.

    A relative Location resolves against the public URL; an absolute one on the origin's base maps
    back to the public host; one on the public host itself is taken as it is.
    """
    location = location.strip()
    base = origin_base(current.partition)
    if location.startswith(base + "/"):
        location = f"https://{current.host}" + location[len(base) :]
    target = urljoin(current.url, location)
    try:
        address = parse_doc_url(target, current.partition)
    except AddressError as exc:
        raise AddressError(f"The page redirects somewhere that cannot be read ({target[:200]}): {exc}") from None
    return address
