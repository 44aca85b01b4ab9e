"""HTTP to the AWS documentation origins: one pooled `requests` session, bounded in time and size.

Everything here blocks; callers run it in the "fetch" pool (awsmcp.pools). Redirects are followed by
hand so that every hop is checked against the allowed hosts (see addresses.follow_redirect); a tiny page
with no article whose only purpose is a `<meta http-equiv="refresh">` (how some guide roots forward to
their start page) is followed the same way, as one more hop. Each
fetch has a whole-fetch deadline on the clock: the connections it uses register their sockets with
docs_proxy.watchdog, which shuts them down when the deadline passes, so a trickling or silent origin
costs at most DOCS_FETCH_DEADLINE and its thread is freed then.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from bs4 import BeautifulSoup, Tag
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager
from urllib3.response import HTTPResponse
from urllib3.util.retry import Retry

from awsmcp.pools import run_in
from docs_proxy import watchdog
from docs_proxy.addresses import AddressError, DocAddress, follow_redirect
from docs_proxy.convert import ARTICLE_SELECTORS, looks_like_html

T = TypeVar("T")
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
MAX_JSON_BYTES = 2 * 1024 * 1024
# Bodies we can decode (urllib3 decodes them as they are read, so the size cap applies to the page itself).
ACCEPT_ENCODING = "gzip, deflate"
READABLE_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
# A page this small may be a forwarding page (a guide root's meta refresh); a real page is larger or has an article.
META_REFRESH_MAX_BYTES = 16 * 1024
# The content of a refresh: a delay, then "url=" (optional, any case) and the target, perhaps quoted.
_REFRESH_CONTENT = re.compile(r"^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(.*)$", re.IGNORECASE | re.DOTALL)


class FetchError(Exception):
    """The origin could not give us the page; `message` tells the model what to do next."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


@dataclass(slots=True)
class Fetched:
    address: DocAddress  # where the page ended up, after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    elapsed: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


_sessions_lock = threading.Lock()
_session: requests.Session | None = None


_slots: dict[int, asyncio.Semaphore] = {}
# The deadline of the fetch running in this context (set by run_fetch; fetches without one start their own).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("fetch_deadline", default=None)
# What the fetch pool may still be doing after its caller gave up (a DNS lookup no deadline can cut).
GRACE = 1.0


def fetch_slots() -> asyncio.Semaphore:
    """At most DOCS_MAX_CONCURRENT_FETCHES origin requests per process: a flood of cold reads queues."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(id(loop))
    if slots is None:
        slots = _slots[id(loop)] = asyncio.Semaphore(settings.DOCS_MAX_CONCURRENT_FETCHES)
    return slots


async def run_fetch(fn: Callable[..., T], *args: Any, deadline: float, after: float = 0.0) -> T:
    """Run blocking `fn` (which fetches with `deadline`) on the fetch pool, in one of the process's fetch slots.

    The caller waits for a slot until the deadline at most, and gets its answer or a FetchError by the
    deadline plus `after` seconds (the work `fn` does after fetching, such as converting). The slot is
    held until the thread is really done, so the pool never queues more work than it has threads."""
    slots = fetch_slots()
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            await slots.acquire()
    except TimeoutError:
        raise FetchError(
            "Too many pages are being fetched from the documentation site right now; try again later.",
            retryable=True,
        ) from None
    token = _deadline.set(deadline)
    try:
        work = asyncio.ensure_future(run_in("fetch", fn, *args))  # the task's context carries the deadline
    finally:
        _deadline.reset(token)
    try:
        done, _ = await asyncio.wait({work}, timeout=max(0.0, deadline - time.monotonic()) + after + GRACE)
    except BaseException:  # the caller left (cancelled): the thread runs on, holding its slot
        _release_when_done(work, slots)
        raise
    if not done:
        _release_when_done(work, slots)
        raise FetchError(
            f"The documentation site took too long to answer (more than {settings.DOCS_FETCH_DEADLINE:g} s); "
            "try again later.",
            retryable=True,
        )
    slots.release()
    return work.result()


def _release_when_done(work: asyncio.Future[Any], slots: asyncio.Semaphore) -> None:
    """Free the slot once the thread is really done. Its outcome is nobody's any more: it is read, so that a
    failed fetch whose caller left does not log "exception was never retrieved"."""

    def finished(future: asyncio.Future[Any]) -> None:
        slots.release()
        if not future.cancelled():
            future.exception()

    work.add_done_callback(finished)


class _Guarded(HTTPConnection):
    """Registers the connection's socket with the fetch's deadline guard (see docs_proxy.watchdog).

    A base of both guarded classes: for HTTPS, super() is HTTPSConnection (the MRO puts it before HTTPConnection)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        guard = watchdog.current()
        if guard is not None:
            guard.attach(sock)
        return sock

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3's own override of http.client
        guard = watchdog.current()
        if guard is not None:
            guard.attach(self.sock)  # a kept-alive connection made by an earlier fetch
        return super().getresponse()


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


def _guard_pools(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}
    return manager


class GuardedAdapter(HTTPAdapter):
    """An adapter whose connections (direct or through an HTTP proxy) obey the fetch deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _guard_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        fresh = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if fresh and not proxy.lower().startswith("socks"):
            _guard_pools(manager)
        return manager


def deadline_from_now() -> float:
    return time.monotonic() + settings.DOCS_FETCH_DEADLINE


def _deadline_for(given: float | None) -> float:
    return given or _deadline.get() or deadline_from_now()


def user_agent() -> str:
    return settings.DOCS_USER_AGENT or f"awsmcp/{settings.VERSION} (AWS documentation MCP server)"


def session() -> requests.Session:
    """The process's pooled session: keep-alive to the origins, retries on 5xx and broken connections."""
    global _session
    if _session is None:
        with _sessions_lock:
            if _session is None:
                retry = Retry(
                    total=settings.DOCS_FETCH_RETRIES,
                    connect=settings.DOCS_FETCH_RETRIES,
                    read=0,  # a read that timed out once will not be quicker the second time
                    status=settings.DOCS_FETCH_RETRIES,
                    backoff_factor=0.2,
                    status_forcelist=(500, 502, 503, 504),
                    allowed_methods=frozenset({"GET", "POST"}),
                    raise_on_status=False,
                    redirect=False,
                    respect_retry_after_header=False,
                )
                adapter = GuardedAdapter(pool_connections=8, pool_maxsize=64, max_retries=retry)
                new = requests.Session()
                new.mount("https://", adapter)
                new.mount("http://", adapter)
                new.trust_env = settings.DOCS_TRUST_ENV_PROXIES
                _session = new
    return _session


def _unreachable(what: str, exc: requests.RequestException) -> FetchError:
    # With retries configured, urllib3 reports a read timeout as a ConnectionError: look inside.
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return FetchError(f"The {what} did not answer in time; try again later.", retryable=True)
    return FetchError(f"Could not reach the {what} ({exc.__class__.__name__}); try again later.", retryable=True)


def _timeouts(guard: watchdog.Guard) -> tuple[float, float]:
    left = max(0.05, guard.remaining())
    return (min(settings.DOCS_CONNECT_TIMEOUT, left), min(settings.DOCS_READ_TIMEOUT, left))


def _too_slow(what: str) -> FetchError:
    return FetchError(
        f"The {what} took too long to download (more than {settings.DOCS_FETCH_DEADLINE:g} s); try again later.",
        retryable=True,
    )


def _check_encoding(response: requests.Response, what: str) -> None:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in READABLE_ENCODINGS:
        raise FetchError(
            f"The {what} came with Content-Encoding {encoding[:40]!r}, which this server does not read "
            "(it asks for gzip or deflate only)."
        )


def _size(cap: int) -> str:
    return f"{cap // (1024 * 1024)} MB" if cap >= 1024 * 1024 else f"{cap // 1024} KB"


def _read_capped(response: requests.Response, cap: int, deadline: float, what: str) -> bytes:
    _check_encoding(response, what)
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise FetchError(f"The {what} is larger than the {_size(cap)} this server reads.")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > cap:
            raise FetchError(f"The {what} is larger than the {_size(cap)} this server reads.")
        if time.monotonic() > deadline:
            raise _too_slow(what)
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_page(
    address: DocAddress, etag: str | None = None, last_modified: str | None = None, deadline: float | None = None
) -> Fetched:
    """GET a documentation page (conditionally when validators are given), following checked redirects.

    `deadline` (monotonic) bounds the whole fetch, redirects included; by default run_fetch's deadline, or
    DOCS_FETCH_DEADLINE from now."""
    started = time.monotonic()
    with watchdog.guarded(_deadline_for(deadline)) as guard:
        try:
            return _fetch_page(address, etag, last_modified, guard, started)
        except FetchError:
            if guard.expired:
                raise _too_slow("page") from None
            raise


def _fetch_page(
    address: DocAddress, etag: str | None, last_modified: str | None, guard: watchdog.Guard, started: float
) -> Fetched:
    headers = _page_headers(etag, last_modified)
    current = address
    for _hop in range(MAX_REDIRECTS + 1):
        if guard.remaining() <= 0:
            raise _too_slow("page")
        try:
            response = session().get(
                current.origin_url(), headers=headers, timeout=_timeouts(guard), allow_redirects=False, stream=True
            )
        except requests.RequestException as exc:
            raise _unreachable("documentation site", exc) from None
        with response:
            if response.status_code in REDIRECTS:
                current = _redirected(current, response)
                continue
            fetched = _page_answer(current, response, guard, started)
        target = meta_refresh_target(fetched.body, fetched.content_type)
        if target is None:
            return fetched
        current = _forwarded(current, target, fetched.status)
    raise FetchError(f"The page redirects more than {MAX_REDIRECTS} times.")


def _page_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {
        "User-Agent": user_agent(),
        "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _redirected(current: DocAddress, response: requests.Response) -> DocAddress:
    """Where a redirect leads, if the address rules allow it there."""
    location = response.headers.get("location")
    if not location:
        raise FetchError("The documentation site sent a redirect without a location.", response.status_code)
    try:
        return follow_redirect(current, location)
    except AddressError as exc:
        raise FetchError(str(exc), response.status_code) from None


def meta_refresh_target(body: bytes, content_type: str) -> str | None:
    """The target of a forwarding page: a tiny HTML page without an article whose meta refresh names a URL.

    A page with an article is read as it is, refresh or not (the reader wants what it shows); so is a
    refresh without a URL, which only reloads the page."""
    if not body or len(body) > META_REFRESH_MAX_BYTES:
        return None
    lowered = body.lower()
    if b"http-equiv" not in lowered or b"refresh" not in lowered:  # most small pages are parsed no further
        return None
    if not looks_like_html(body, content_type):
        return None
    soup = BeautifulSoup(body, "html.parser")
    for selector in ARTICLE_SELECTORS:
        found = soup.select_one(selector)
        if found is not None and found.get_text(strip=True):
            return None
    for meta in soup.find_all("meta"):
        if not isinstance(meta, Tag) or str(meta.get("http-equiv", "")).strip().lower() != "refresh":
            continue
        match = _REFRESH_CONTENT.match(str(meta.get("content", "")))
        target = match.group(1).strip().strip("'\"").strip() if match else ""
        if target:
            return target
    return None


def _forwarded(current: DocAddress, target: str, status: int) -> DocAddress:
    """Where a forwarding page leads, under the same rules as an HTTP redirect."""
    try:
        return follow_redirect(current, target)
    except AddressError as exc:
        raise FetchError(str(exc), status) from None


def _page_answer(current: DocAddress, response: requests.Response, guard: watchdog.Guard, started: float) -> Fetched:
    """A final (not redirecting) answer: the page, a 304, or the FetchError its status means."""
    status = response.status_code
    if status == 304:
        return Fetched(current, status, elapsed=time.monotonic() - started)
    _refuse_status(current, status)
    try:
        body = _read_capped(response, settings.DOCS_MAX_PAGE_BYTES, guard.deadline, "page")
    except requests.RequestException:
        raise FetchError("The page download was interrupted; try again later.", retryable=True) from None
    content_type = response.headers.get("content-type", "")
    return Fetched(
        current,
        status,
        body,
        content_type=content_type,
        encoding=response.encoding if "charset" in content_type else None,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        elapsed=time.monotonic() - started,
    )


def _refuse_status(current: DocAddress, status: int) -> None:
    """Raise the FetchError for any status but 200."""
    if status == 404 or status == 410:
        raise FetchError(
            f"Page not found: {current.url} does not exist. Check the URL, or use "
            "search_documentation to find the page.",
            status,
        )
    if status >= 500:
        raise FetchError(f"The documentation site failed with HTTP {status}; try again later.", status, retryable=True)
    if status != 200:
        raise FetchError(f"The documentation site answered HTTP {status} for {current.url}.", status)


def request_json(
    method: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    body: Any = None,
    deadline: float | None = None,
    cap: int = MAX_JSON_BYTES,
) -> Any:
    """Call one of the docs APIs (search, recommendations) or read a guide's TOC; no redirects, at most `cap`
    bytes, bounded in time."""
    with watchdog.guarded(_deadline_for(deadline)) as guard:
        try:
            raw = _request_json(method, url, params, body, guard, cap)
        except FetchError:
            if guard.expired:
                raise _too_slow("answer of the documentation service") from None
            raise
    try:
        return json.loads(raw)
    except ValueError:
        raise FetchError("The documentation service sent an answer that is not JSON; try again later.") from None


def _request_json(
    method: str, url: str, params: dict[str, str] | None, body: Any, guard: watchdog.Guard, cap: int
) -> bytes:
    headers = {"User-Agent": user_agent(), "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    try:
        response = session().request(
            method,
            url,
            params=params,
            json=body,
            headers=headers,
            timeout=_timeouts(guard),
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        raise _unreachable("documentation service", exc) from None
    with response:
        if response.status_code >= 500:
            raise FetchError(
                f"The documentation service failed with HTTP {response.status_code}; try again later.",
                response.status_code,
                retryable=True,
            )
        if response.status_code != 200:
            raise FetchError(f"The documentation service answered HTTP {response.status_code}.", response.status_code)
        try:
            return _read_capped(response, cap, guard.deadline, "answer")
        except requests.RequestException:
            raise FetchError("The documentation service's answer was interrupted; try again later.") from None
