"""HTTP to the AWS documentation origins: one pooled `requests` session, bounded in time and size.

Everything here blocks; the tools run it in a thread. Redirects are followed by hand so that every
hop is checked against the allowed hosts (see addresses.follow_redirect).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from docs_proxy.addresses import AddressError, DocAddress, follow_redirect

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
MAX_JSON_BYTES = 2 * 1024 * 1024


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


def fetch_slots() -> asyncio.Semaphore:
    """At most DOCS_MAX_CONCURRENT_FETCHES origin requests per process: a flood of cold reads queues."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(id(loop))
    if slots is None:
        slots = _slots[id(loop)] = asyncio.Semaphore(settings.DOCS_MAX_CONCURRENT_FETCHES)
    return slots


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
                adapter = HTTPAdapter(pool_connections=8, pool_maxsize=64, max_retries=retry)
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


def _timeouts() -> tuple[float, float]:
    return (settings.DOCS_CONNECT_TIMEOUT, settings.DOCS_READ_TIMEOUT)


def _read_capped(response: requests.Response, cap: int, deadline: float, what: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise FetchError(f"The {what} is larger than the {cap // (1024 * 1024)} MB this server reads.")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > cap:
            raise FetchError(f"The {what} is larger than the {cap // (1024 * 1024)} MB this server reads.")
        if time.monotonic() > deadline:
            raise FetchError(f"The {what} took too long to download; try again later.", retryable=True)
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_page(address: DocAddress, etag: str | None = None, last_modified: str | None = None) -> Fetched:
    """GET a documentation page (conditionally when validators are given), following checked redirects."""
    started = time.monotonic()
    deadline = started + settings.DOCS_FETCH_DEADLINE
    headers = {"User-Agent": user_agent(), "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = address
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            response = session().get(
                current.origin_url(), headers=headers, timeout=_timeouts(), allow_redirects=False, stream=True
            )
        except requests.RequestException as exc:
            raise _unreachable("documentation site", exc) from None
        with response:
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise FetchError("The documentation site sent a redirect without a location.", status)
                try:
                    current = follow_redirect(current, location)
                except AddressError as exc:
                    raise FetchError(str(exc), status) from None
                continue
            if status == 304:
                return Fetched(current, status, elapsed=time.monotonic() - started)
            if status == 404 or status == 410:
                raise FetchError(
                    f"Page not found: {current.url} does not exist. Check the URL, or use "
                    "search_documentation to find the page.",
                    status,
                )
            if status >= 500:
                raise FetchError(
                    f"The documentation site failed with HTTP {status}; try again later.", status, retryable=True
                )
            if status != 200:
                raise FetchError(f"The documentation site answered HTTP {status} for {current.url}.", status)
            try:
                body = _read_capped(response, settings.DOCS_MAX_PAGE_BYTES, deadline, "page")
            except requests.RequestException:
                raise FetchError("The page download was interrupted; try again later.", retryable=True) from None
            return Fetched(
                current,
                status,
                body,
                content_type=response.headers.get("content-type", ""),
                encoding=response.encoding if "charset" in response.headers.get("content-type", "") else None,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                elapsed=time.monotonic() - started,
            )
    raise FetchError(f"The page redirects more than {MAX_REDIRECTS} times.")


def request_json(method: str, url: str, *, params: dict[str, str] | None = None, body: Any = None) -> Any:
    """Call one of the docs APIs (search, recommendations); no redirects, bounded size and time."""
    deadline = time.monotonic() + settings.DOCS_FETCH_DEADLINE
    headers = {"User-Agent": user_agent(), "Accept": "application/json"}
    try:
        response = session().request(
            method,
            url,
            params=params,
            json=body,
            headers=headers,
            timeout=_timeouts(),
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
        raw = _read_capped(response, MAX_JSON_BYTES, deadline, "answer")
    try:
        return json.loads(raw)
    except ValueError:
        raise FetchError("The documentation service sent an answer that is not JSON; try again later.") from None
