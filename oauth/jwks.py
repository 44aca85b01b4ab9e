"""An external issuer's signing keys (its JWKS), fetched with bounds and cached.

The JWKS URL is settings.MCP_OAUTH_JWKS_URL, else the `jwks_uri` of the issuer's metadata (RFC 8414, then OpenID
discovery). Every fetch is https (plain http only to a loopback address, where there is no network to tamper
with it), follows no redirect, reads at most MCP_OAUTH_JWKS_MAX_BYTES and ends by MCP_OAUTH_FETCH_TIMEOUT on the
clock (the docs fetcher's watchdog shuts a trickling socket), on the "fetch" pool, never on the event loop. Keys are
kept MCP_OAUTH_JWKS_TTL seconds; a token naming an unknown `kid` refetches at most once per REFETCH_INTERVAL, so a
flood of forged kids costs one fetch, not one per token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from awsmcp.pools import run_in
from docs_proxy import watchdog
from docs_proxy.fetch import GuardedAdapter

REFETCH_INTERVAL = 30.0  # seconds between refetches forced by an unknown kid (or after a failed fetch)
CHUNK = 8192


class FetchRefused(Exception):
    """The issuer's document could not be had within our bounds; the message says which."""


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """https only; http to a loopback address (tests, a co-located issuer) is the one exception."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise FetchRefused(f"refusing to fetch {url[:200]!r}: https only (http only to a loopback address)")


_session: requests.Session | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """A pooled session whose sockets obey the watchdog's deadline; no proxies from the environment."""
    global _session
    with _session_lock:
        if _session is None:
            new = requests.Session()
            adapter = GuardedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            new.mount("https://", adapter)
            new.mount("http://", adapter)
            new.trust_env = False
            _session = new
    return _session


def fetch_json(
    method: str, url: str, *, data: dict[str, str] | None = None, auth: tuple[str, str] | None = None
) -> Any:
    """GET or POST `url` for a JSON object, bounded in size and time (blocking: run it on the fetch pool)."""
    check_url(url)
    cap = int(getattr(settings, "MCP_OAUTH_JWKS_MAX_BYTES", 65536))
    timeout = float(getattr(settings, "MCP_OAUTH_FETCH_TIMEOUT", 5))
    deadline = time.monotonic() + timeout
    with watchdog.guarded(deadline) as guard:
        try:
            body = _read(method, url, data, auth, cap, deadline)
        except requests.RequestException as exc:
            if guard.expired:
                raise FetchRefused(f"{url[:200]} took longer than {timeout:g} s") from None
            raise FetchRefused(f"{url[:200]} could not be fetched ({exc.__class__.__name__})") from None
    try:
        found = json.loads(body)
    except ValueError:
        raise FetchRefused(f"{url[:200]} did not answer JSON") from None
    if not isinstance(found, dict):
        raise FetchRefused(f"{url[:200]} did not answer a JSON object")
    return found


def _read(
    method: str, url: str, data: dict[str, str] | None, auth: tuple[str, str] | None, cap: int, deadline: float
) -> bytes:
    left = max(0.05, deadline - time.monotonic())
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    response = session().request(
        method, url, data=data, auth=auth, headers=headers, timeout=(left, left), allow_redirects=False, stream=True
    )
    with response:
        if response.status_code != 200:
            raise FetchRefused(f"{url[:200]} answered HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchRefused(f"{url[:200]} is larger than {cap} bytes")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > cap:
                raise FetchRefused(f"{url[:200]} is larger than {cap} bytes")
            if time.monotonic() > deadline:
                raise FetchRefused(f"{url[:200]} took too long")
            chunks.append(chunk)
    return b"".join(chunks)


async def fetch(method: str, url: str, **kwargs: Any) -> Any:
    """fetch_json on the fetch pool; the caller waits no longer than the fetch timeout (plus a second)."""
    timeout = float(getattr(settings, "MCP_OAUTH_FETCH_TIMEOUT", 5))
    try:
        async with asyncio.timeout(timeout + 1.0):
            return await run_in("fetch", fetch_json, method, url, **kwargs)
    except TimeoutError:
        raise FetchRefused(f"{url[:200]} took longer than {timeout:g} s") from None


def discovery_urls(issuer: str) -> list[str]:
    """RFC 8414 §3.1 (well-known inserted before the issuer's path), then OpenID discovery (appended)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{issuer.rstrip('/')}/.well-known/openid-configuration",
    ]


async def jwks_uri(issuer: str) -> str:
    """settings.MCP_OAUTH_JWKS_URL, else the `jwks_uri` of the first metadata document naming this issuer."""
    configured = getattr(settings, "MCP_OAUTH_JWKS_URL", "")
    if configured:
        return str(configured)
    problems: list[str] = []
    for url in discovery_urls(issuer):
        try:
            document = await fetch("GET", url)
        except FetchRefused as exc:
            problems.append(str(exc))
            continue
        if document.get("issuer") != issuer:
            problems.append(f"{url[:200]} names another issuer")
            continue
        found = document.get("jwks_uri")
        if isinstance(found, str) and found:
            return found
        problems.append(f"{url[:200]} names no jwks_uri")
    raise FetchRefused("; ".join(problems))


class KeySet:
    """The issuer's current signing keys by `kid`, refreshed by age and (rate-limited) on an unknown kid."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.fetched_at = -float("inf")  # monotonic time of the last fetch attempt
        self.fetches = 0  # fetch attempts, for tests and logs
        self.problem = ""
        self.uri = ""  # the JWKS URL, once discovered
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        loop_id = id(asyncio.get_running_loop())
        lock = self._locks.get(loop_id)
        if lock is None:
            lock = self._locks[loop_id] = asyncio.Lock()
        return lock

    def _stale(self) -> bool:
        ttl = float(getattr(settings, "MCP_OAUTH_JWKS_TTL", 300))
        age = time.monotonic() - self.fetched_at
        # After a failure, wait REFETCH_INTERVAL rather than the TTL before trying again.
        return age >= (ttl if self.keys and not self.problem else min(ttl, REFETCH_INTERVAL))

    async def key(self, issuer: str, kid: str) -> dict[str, Any] | None:
        """The JWK for `kid` ("" = the only key), fetching when stale or (at most once per interval) unknown."""
        lock = self._lock()
        # Stale keys are refreshed by one caller; the others go on with the keys they have meanwhile.
        if self._stale() and not (self.keys and lock.locked()):
            async with lock:
                if self._stale():
                    await self._refresh(issuer)
        found = self._pick(kid)
        if found is None and time.monotonic() - self.fetched_at >= REFETCH_INTERVAL:
            async with lock:
                found = self._pick(kid)
                if found is None and time.monotonic() - self.fetched_at >= REFETCH_INTERVAL:
                    await self._refresh(issuer)
                    found = self._pick(kid)
        return found

    def _pick(self, kid: str) -> dict[str, Any] | None:
        if kid:
            return self.keys.get(kid)
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None

    async def _refresh(self, issuer: str) -> None:
        self.fetched_at = time.monotonic()  # any fetch counts: an unknown kid waits REFETCH_INTERVAL after it
        self.fetches += 1
        try:
            self.uri = self.uri or await jwks_uri(issuer)
            document = await fetch("GET", self.uri)
        except FetchRefused as exc:
            self.problem = str(exc)
            return
        keys = document.get("keys")
        if not isinstance(keys, list):
            self.problem = "the JWKS has no keys list"
            return
        self.keys = {str(jwk.get("kid", "")): jwk for jwk in keys if usable(jwk)}
        self.problem = ""


def usable(jwk: Any) -> bool:
    """A public signing key: an object with an asymmetric kty, `use` sig or absent, no private parts."""
    return (
        isinstance(jwk, dict)
        and jwk.get("kty") in ("RSA", "EC", "OKP")
        and jwk.get("use", "sig") == "sig"
        and "d" not in jwk
    )


_sets: dict[str, KeySet] = {}


def key_set(issuer: str) -> KeySet:
    """The process's key set for an issuer."""
    found = _sets.get(issuer)
    if found is None:
        found = _sets[issuer] = KeySet()
    return found


def forget() -> None:
    """Drop every cached key set (tests, settings changes)."""
    _sets.clear()
