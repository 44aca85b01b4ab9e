"""Fetching Client ID Metadata Documents: DOT's SSRF-hardened fetcher (https only, every resolved address public,
connect to the checked address, no redirects, a size cap), with two changes.

- The whole fetch, body included, is bounded by CIMD_FETCH_TIMEOUT_SECONDS: a document that trickles in is cut
  off at the deadline (urllib3's timeouts bound each read, not the sum of them).
- MCP_OAUTH_CIMD_ALLOW_HOSTS names host[:port] that may be reached although not public: the hook tests use
  to serve documents from loopback. Empty in production; nothing else is relaxed.

The document's `grant_types` is cut down to the grants this server uses (authorization_code, refresh_token)
before DOT reads it: DOT wants exactly one besides refresh_token, and VS Code's document also lists the
device-code grant. A document without authorization_code is refused.
"""

from __future__ import annotations

import json
import ssl
import time
from typing import Any
from urllib.parse import ParseResult

import urllib3
from django.conf import settings
from oauth2_provider import cimd
from oauth2_provider.settings import oauth2_settings

CHUNK = 4096
USED_GRANT_TYPES = ("authorization_code", "refresh_token")


class Fetcher(cimd.SafeMetadataFetcher):
    """DOT's fetcher with a whole-fetch deadline and the test allow-list."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        parsed = cimd._validate_client_id_url(client_id)
        port = parsed.port or 443
        ips = self._addresses(parsed, port)
        deadline = time.monotonic() + oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        headers = {"Host": parsed.netloc, "Accept": "application/json, application/*+json"}
        context = ssl.create_default_context()
        last: Exception | None = None
        for ip in ips:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            pool = urllib3.HTTPSConnectionPool(
                host=ip,
                port=port,
                timeout=urllib3.Timeout(connect=remaining, read=remaining, total=remaining),
                retries=False,
                maxsize=1,
                ssl_context=context,
                server_hostname=parsed.hostname,
            )
            try:
                response = pool.urlopen("GET", path, headers=headers, redirect=False, preload_content=False)
                try:
                    document, max_age = self._read_before(response, deadline)
                    return used_grants_only(document), max_age
                finally:
                    response.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                last = exc
            finally:
                pool.close()
        raise cimd.CIMDError(f"could not fetch client_id document: {last or 'deadline passed'}")

    @staticmethod
    def _addresses(parsed: ParseResult, port: int) -> list[str]:
        """DOT's resolve-and-check, skipped only for an allow-listed host[:port]."""
        host = parsed.hostname
        allowed = settings.MCP_OAUTH_CIMD_ALLOW_HOSTS
        if host in allowed or f"{host}:{port}" in allowed or parsed.netloc in allowed:
            return sorted({str(info[4][0]) for info in cimd.socket.getaddrinfo(host, port)})
        return list(cimd._resolve_and_validate(host, port))

    def _read_before(self, response: Any, deadline: float) -> tuple[dict[str, Any], int]:
        """DOT's checks (status, JSON media type, size cap), reading the body in chunks until the deadline."""
        if response.status != 200:
            raise cimd.CIMDError(f"client_id document returned HTTP {response.status}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not (
            media_type.startswith("application/") and media_type.endswith("+json")
        ):
            raise cimd.CIMDError(f"client_id document is not JSON (Content-Type: {media_type!r})")
        limit = oauth2_settings.CIMD_MAX_DOCUMENT_SIZE
        body = b""
        while len(body) <= limit:
            if time.monotonic() > deadline:
                raise cimd.CIMDError("client_id document took longer than the fetch deadline")
            chunk = response.read1(CHUNK) if hasattr(response, "read1") else response.read(CHUNK)
            if not chunk:
                break
            body += chunk
        if len(body) > limit:
            raise cimd.CIMDError("client_id document exceeds the maximum allowed size")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise cimd.CIMDError("client_id document is not valid JSON") from exc
        if not isinstance(data, dict):
            raise cimd.CIMDError("client_id document must be a JSON object")
        return data, cimd._effective_max_age(response.headers.get("Cache-Control"))


def used_grants_only(document: dict[str, Any]) -> dict[str, Any]:
    """The document with `grant_types` cut to the grants this server uses; refused without authorization_code.
    No `grant_types` (RFC 7591: authorization_code) and a malformed one are left to DOT."""
    grants = document.get("grant_types")
    if not isinstance(grants, list) or not all(isinstance(grant, str) for grant in grants):
        return document
    used = [grant for grant in USED_GRANT_TYPES if grant in grants]
    if "authorization_code" not in used:
        raise cimd.CIMDError(
            f"client_id document grant_types {grants!r} lack authorization_code, the only grant this server offers"
        )
    return document | {"grant_types": used}
