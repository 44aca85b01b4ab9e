"""The Python SDK's own OAuth client (`mcp.client.auth.OAuthClientProvider`, SDK 2.3) against a real Daphne with
`MCP_AUTH=oauth`: discovery from the 401, registration (RFC 7591) or a Client ID Metadata Document, authorization
code with PKCE through the built-in authorization server, a docs tool answering with real fixture content, a
forced refresh, and a step-up from `docs:search` to `docs:read` on a 403 `insufficient_scope`. Over Streamable
HTTP and legacy SSE. The browser step is tests/support/oauth_browser.py.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.support.issuer import oauth_server, refused_soon
from tests.support.oauth_browser import Browser, metadata, pkce
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer
from tests.support.witness import RDS, RDS_TEXT

REDIRECT = "http://127.0.0.1:9/callback"  # never reached: the browser helper reads the code from the redirect
TRANSPORTS = ("streamable-http", "sse")
# What VS Code registers (microsoft/vscode issue #278512); its document also lists the device-code grant.
VSCODE_REDIRECTS = [
    "https://insiders.vscode.dev/redirect",
    "https://vscode.dev/redirect",
    "http://127.0.0.1/",
    "http://127.0.0.1:33418/",
]
CIMD_TIMEOUT = 2  # seconds the server may spend on one metadata document; the trickle below takes far longer


@dataclass
class Memory:
    """The SDK's TokenStorage, in memory; keeps every token it was given so tests can compare them."""

    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None
    history: list[OAuthToken] = field(default_factory=list)

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Cimd(ThreadingHTTPServer):
    """The client's own https origin serving its Client ID Metadata Document, with a certificate from a throw-away
    CA that only the authorization server process trusts (its SSL_CERT_FILE)."""

    daemon_threads = True

    def __init__(self, workdir: Path) -> None:
        super().__init__(("127.0.0.1", 0), CimdHandler)
        self.hits = 0
        self.ca_file, cert, key = make_certificates(workdir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.origin = f"https://localhost:{self.server_address[1]}"
        self.url = f"{self.origin}/clients/awsmcp-tests.json"

    @property
    def document(self) -> dict[str, Any]:
        return {
            "client_id": self.url,
            "client_name": "awsmcp tests (CIMD)",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }


class CimdHandler(BaseHTTPRequestHandler):
    """The document, and under /hostile/ the ones an authorization server must refuse."""

    server: Cimd

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits += 1
        url = f"{self.server.origin}{self.path}"
        document = {**self.server.document, "client_id": url}
        if self.path == "/hostile/redirect.json":  # to the cloud metadata address
            self.send_response(302)
            self.send_header("Location", "https://169.254.169.254/latest/meta-data/client.json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/hostile/huge.json":
            document["client_name"] = "x" * 20_000
        elif self.path == "/hostile/mismatch.json":
            document["client_id"] = self.server.url
        elif self.path == "/hostile/secret.json":
            document |= {"token_endpoint_auth_method": "client_secret_basic", "client_secret": "s"}
        elif self.path == "/clients/vscode-like.json":  # the shape of VS Code's document (grant types, redirects)
            document |= {
                "client_name": "Visual Studio Code (test double)",
                "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
                "redirect_uris": VSCODE_REDIRECTS,
            }
        elif not self.path.startswith("/hostile/slow") and self.path not in (
            "/clients/awsmcp-tests.json",
            "/clients/vscode-like.json",
        ):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.startswith("/hostile/slow"):  # a trickle: far longer than MCP_OAUTH_CIMD_TIMEOUT in all
            with contextlib.suppress(OSError):
                for i in range(0, len(body), 16):
                    self.wfile.write(body[i : i + 16])
                    self.wfile.flush()
                    time.sleep(0.25)
            return
        self.wfile.write(body)


def make_certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for localhost and 127.0.0.1, valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "awsmcp throw-away test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = workdir / "ca.pem", workdir / "server.pem", workdir / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture(scope="module")
def cimd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cimd]:
    server = Cimd(tmp_path_factory.mktemp("cimd"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def protected(origin: OriginServer, cimd: Cimd) -> Iterator[DaphneServer]:
    """The server, trusting the throw-away CA and allowed to fetch metadata documents from loopback."""
    port = cimd.server_address[1]
    with oauth_server(
        origin,
        SSL_CERT_FILE=str(cimd.ca_file),
        MCP_OAUTH_CIMD_ALLOW_HOSTS=f"localhost:{port},127.0.0.1:{port}",
        MCP_OAUTH_CIMD_TIMEOUT=str(CIMD_TIMEOUT),
    ) as server:
        yield server
        assert server.alive(), server.log()[-3000:]


def provider(server_url: str, storage: Memory, browser: Browser, client_metadata_url: str | None = None):  # type: ignore[no-untyped-def]
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(REDIRECT)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        client_name="awsmcp tests (SDK)",
    )
    return OAuthClientProvider(
        server_url, metadata, storage, browser.redirect, browser.callback, client_metadata_url=client_metadata_url
    )


@asynccontextmanager
async def signed_in(
    server: DaphneServer, transport: str, storage: Memory, browser: Browser, client_metadata_url: str | None = None
) -> AsyncIterator[tuple[ClientSession, OAuthClientProvider]]:
    """An initialized SDK session whose HTTP client carries the OAuth provider (the sign-in happens on its 401)."""
    url = server.mcp_url if transport == "streamable-http" else server.sse_url
    auth = provider(url, storage, browser, client_metadata_url)
    if transport == "streamable-http":
        client = create_mcp_http_client(auth=auth)
        async with (
            client,
            streamable_http_client(url, http_client=client) as streams,
            ClientSession(streams[0], streams[1]) as session,
        ):
            await session.initialize()
            yield session, auth
    else:
        async with sse_client(url, auth=auth) as streams, ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            yield session, auth


async def read_rds(session: ClientSession) -> str:
    result = await session.call_tool("read_documentation", {"url": RDS, "max_length": 300})
    assert not result.is_error, result
    text = result.content[0].text  # type: ignore[union-attr]
    assert RDS_TEXT in text
    return text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_registration_sign_in_call_and_forced_refresh(protected: DaphneServer, transport: str) -> None:
    storage, browser = Memory(), Browser()
    async with signed_in(protected, transport, storage, browser) as (session, auth):
        await read_rds(session)
        assert len(browser.visited) == 1
        assert storage.client is not None and not storage.client.client_id.startswith("https://")  # registered (DCR)
        first = storage.tokens
        assert first is not None and first.refresh_token
        assert set((first.scope or "").split()) == {"docs:read", "docs:search"}

        # The token's end, as the client sees it: the next request refreshes first (no second sign-in).
        auth.context.token_expiry_time = time.time() - 1
        await read_rds(session)
        assert len(browser.visited) == 1
        second = storage.tokens
        assert second is not None and second.access_token != first.access_token
        assert second.refresh_token and second.refresh_token != first.refresh_token  # rotated
    assert await refused_soon(protected, first.access_token)  # the refreshed-away token no longer opens


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_client_id_metadata_document_instead_of_registration(
    protected: DaphneServer, cimd: Cimd, transport: str
) -> None:
    storage, browser = Memory(), Browser()
    async with signed_in(protected, transport, storage, browser, client_metadata_url=cimd.url) as (session, auth):
        await read_rds(session)
        assert storage.client is not None and storage.client.client_id == cimd.url  # no registration
        assert httpx.URL(browser.visited[0]).params["client_id"] == cimd.url
        assert cimd.hits >= 1  # the server read the document (once; later runs may use its cache)
        first = storage.tokens
        assert first is not None
        auth.context.token_expiry_time = time.time() - 1
        await read_rds(session)
        assert storage.tokens is not None and storage.tokens.access_token != first.access_token
    assert len(browser.visited) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_step_up_from_search_to_read(protected: DaphneServer, transport: str) -> None:
    """The person first grants only `docs:search`; reading a page is refused with 403 `insufficient_scope`
    naming `docs:read`, and the SDK asks again for the union, which is granted."""
    storage, browser = Memory(), Browser(grant_scope="docs:search")
    async with signed_in(protected, transport, storage, browser) as (session, _auth):
        assert storage.tokens is not None and (storage.tokens.scope or "").split() == ["docs:search"]
        found = await session.call_tool("search_documentation", {"search_phrase": "RDS", "limit": 3})
        assert not found.is_error, found
        browser.grant_scope = None
        await read_rds(session)
    assert len(browser.visited) == 2
    second = httpx.URL(browser.visited[1]).params["scope"].split()
    assert set(second) == {"docs:search", "docs:read"}
    assert storage.tokens is not None and set((storage.tokens.scope or "").split()) == {"docs:search", "docs:read"}


async def test_hostile_client_metadata_documents_are_refused(protected: DaphneServer, cimd: Cimd) -> None:
    """A client_id URL at a private or cloud-metadata address (not on the test allow-list: never fetched), and
    documents from the allowed test origin that redirect to such an address, are too big, trickle in, name
    another client_id or ask for a client secret: each is an unknown client, answered with an error page and no
    redirect (a redirect would hand an attacker's redirect URI the answer)."""
    meta = await metadata(f"{protected.base}/oauth")
    _verifier, challenge = pkce()
    cases = {
        "private address": "https://10.0.0.1/clients/c.json",
        "loopback, not allowed": "https://127.0.0.2/clients/c.json",
        "cloud metadata address": "https://169.254.169.254/latest/c.json",
        "IPv4-mapped IPv6 loopback": "https://[::ffff:127.0.0.1]/clients/c.json",
        "plain http": f"http://localhost:{cimd.server_address[1]}/clients/awsmcp-tests.json",
        "redirect to the metadata address": f"{cimd.origin}/hostile/redirect.json",
        "huge document": f"{cimd.origin}/hostile/huge.json",
        "slow document": f"{cimd.origin}/hostile/slow.json",
        "client_id not the URL": f"{cimd.origin}/hostile/mismatch.json",
        "asks for a client secret": f"{cimd.origin}/hostile/secret.json",
    }
    browser = Browser()
    seen: dict[str, httpx.Response] = {}
    try:
        for name, client_id in cases.items():
            query = {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": "docs:read",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": protected.mcp_url,
            }
            seen[name] = await browser.authorize(f"{meta['authorization_endpoint']}?{urlencode(query)}")
    finally:
        await browser.aclose()
    for name, answer in seen.items():
        print(f"hostile CIMD {name}: {answer.status_code} {answer.headers.get('location', '')}")
    for name, answer in seen.items():
        assert answer.status_code == 400 and "location" not in answer.headers, (name, answer.status_code)


async def test_a_document_shaped_like_vs_codes_is_accepted(protected: DaphneServer, cimd: Cimd) -> None:
    """VS Code's published document lists the device-code grant beside the two the server uses, and loopback
    redirects without a port: such a client signs in, on the random port VS Code falls back to."""
    meta = await metadata(f"{protected.base}/oauth")
    _verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": f"{cimd.origin}/clients/vscode-like.json",
        "redirect_uri": "http://127.0.0.1:59656/",
        "scope": "docs:read docs:search",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": protected.mcp_url,
    }
    browser = Browser()
    try:
        got = await browser.code(f"{meta['authorization_endpoint']}?{urlencode(query)}")
    finally:
        await browser.aclose()
    assert got.code and got.state == "s"
