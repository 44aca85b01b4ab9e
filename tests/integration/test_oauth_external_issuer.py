"""An organisation's own issuer, played by a second awsmcp Daphne running only its built-in authorization server
(a real issuer, not a mock): the protected server is started with `MCP_OAUTH_ISSUER` naming it and
`MCP_OAUTH_AUDIENCE` naming the audience that issuer puts in its tokens (its own resource identifier, as an
identity provider names an API; tests/support/issuer.py `external_issuer`).

- JWKS path: the issuer signs RS256 JWT access tokens (`MCP_OAUTH_JWT_ACCESS_TOKENS=true`) with a key the test
  gave it (`MCP_OAUTH_SIGNING_KEY`), so the test can also sign hostile tokens with the issuer's real key: expired,
  not yet valid, another issuer, another audience, no audience, unknown `kid`, tampered, `alg: none`, HS256 keyed
  with the public key.
- Introspection path: the issuer keeps opaque tokens; the protected server asks its RFC 7662 endpoint as a
  confidential client, and a token revoked at the issuer stops opening the server.

One pair of processes at a time (class-scoped fixtures).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.issuer import POLL, external_issuer, issuer_of, oauth_server, refused_soon
from tests.support.oauth_browser import USER, Browser, metadata, mint
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer
from tests.support.raw import ACCEPT_BOTH, initialize_request, request
from tests.support.witness import RDS, RDS_TEXT


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_key() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key, pem.decode()


async def status_with(server: DaphneServer, token: str) -> httpx.Response:
    """The answer to a fresh initialize carrying this bearer."""
    async with httpx.AsyncClient(timeout=15) as http:
        return await http.post(
            server.mcp_url,
            json=initialize_request(),
            headers={"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}"},
        )


async def read_with(server: DaphneServer, token: str) -> httpx.Response:
    """Initialize, then a read_documentation call, with this bearer; the call's answer."""
    headers = {"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await http.post(server.mcp_url, json=initialize_request(), headers=headers)
        assert opened.status_code == 200, opened.text
        headers |= {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        await http.post(server.mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        call = request("tools/call", {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 200}}, 2)
        return await http.post(server.mcp_url, json=call, headers=headers)


@pytest.fixture(scope="class")
def jwks_pair(origin: OriginServer) -> Iterator[tuple[DaphneServer, DaphneServer, rsa.RSAPrivateKey]]:
    """The issuer (JWT access tokens, signed with a key the test holds too) and the server it signs for."""
    key, pem = signing_key()
    with external_issuer(MCP_OAUTH_JWT_ACCESS_TOKENS="true", MCP_OAUTH_SIGNING_KEY=pem) as issuer:
        with oauth_server(origin, MCP_OAUTH_ISSUER=issuer_of(issuer), MCP_OAUTH_AUDIENCE=issuer.mcp_url) as protected:
            yield issuer, protected, key
            assert protected.alive(), protected.log()[-3000:]
        assert issuer.alive(), issuer.log()[-3000:]


@pytest.fixture(scope="class")
def kid(jwks_pair: tuple[DaphneServer, DaphneServer, rsa.RSAPrivateKey]) -> str:
    """The `kid` the issuer's JWKS publishes for its one key."""
    issuer = jwks_pair[0]
    meta = httpx.get(f"{issuer.base}/.well-known/oauth-authorization-server/oauth", timeout=10).json()
    keys = httpx.get(meta["jwks_uri"], timeout=10).json()["keys"]
    assert len(keys) == 1, keys
    return keys[0]["kid"]


def claims(issuer: DaphneServer, protected: DaphneServer, **changes: Any) -> dict[str, Any]:
    """An access token's claims as the issuer writes them, with `changes` (None removes a claim)."""
    now = int(time.time())
    body = {
        "iss": issuer_of(issuer),
        "sub": USER,
        "aud": issuer.mcp_url,  # the audience the issuer names this API by (MCP_OAUTH_AUDIENCE)
        "client_id": "hand-made",
        "scope": "docs:read docs:search",
        "iat": now,
        "exp": now + 600,
        "jti": f"test-{time.monotonic_ns()}",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def sign(key: rsa.RSAPrivateKey, kid: str, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


class TestJwks:
    async def test_metadata_names_the_external_issuer(self, jwks_pair) -> None:  # type: ignore[no-untyped-def]
        issuer, protected, _key = jwks_pair
        async with httpx.AsyncClient(timeout=10) as http:
            document = (await http.get(f"{protected.base}/.well-known/oauth-protected-resource/mcp")).json()
            refused = await http.post(protected.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
        assert document["authorization_servers"] == [issuer_of(issuer)]
        assert document["resource"] == protected.mcp_url
        assert refused.status_code == 401
        assert (await metadata(issuer_of(issuer)))["issuer"] == issuer_of(issuer)

    async def test_a_token_from_the_issuer_opens_the_server(self, jwks_pair, kid: str) -> None:  # type: ignore[no-untyped-def]
        issuer, protected, _key = jwks_pair
        browser = Browser()
        try:
            grant = await mint(browser, issuer_of(issuer), issuer.mcp_url)
        finally:
            await browser.aclose()
        header = json.loads(base64.urlsafe_b64decode(grant.access_token.split(".")[0] + "=="))
        assert header["alg"] == "RS256" and header["kid"] == kid
        claims = jwt.decode(grant.access_token, options={"verify_signature": False})
        assert claims["iss"] == issuer_of(issuer) and claims["aud"] in (issuer.mcp_url, [issuer.mcp_url])
        answer = await read_with(protected, grant.access_token)
        assert answer.status_code == 200 and RDS_TEXT in answer.text, answer.text[:300]

    async def test_hostile_tokens_are_refused(self, jwks_pair, kid: str) -> None:  # type: ignore[no-untyped-def]
        issuer, protected, key = jwks_pair
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        now = int(time.time())
        good = claims(issuer, protected)
        real = sign(key, kid, good)
        head, body, signature = real.split(".")
        tampered_body = b64(json.dumps({**good, "sub": "admin"}).encode())
        unsigned_head = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
        hs_head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
        hs_signature = b64(hmac.new(public_pem, f"{hs_head}.{body}".encode(), hashlib.sha256).digest())
        hostile = {
            "expired": sign(key, kid, claims(issuer, protected, iat=now - 7200, exp=now - 3600)),
            "not yet valid": sign(key, kid, claims(issuer, protected, nbf=now + 3600)),
            "wrong issuer": sign(key, kid, claims(issuer, protected, iss="https://issuer.example/oauth")),
            "another resource": sign(key, kid, claims(issuer, protected, aud="https://other.example/mcp")),
            "look-alike path": sign(key, kid, claims(issuer, protected, aud=issuer.mcp_url + "x")),
            "no audience": sign(key, kid, claims(issuer, protected, aud=None)),
            "unknown kid": sign(key, "no-such-kid", good),
            "tampered payload": f"{head}.{tampered_body}.{signature}",
            "tampered signature": f"{head}.{body}.{signature[:-6]}AAAAAA",
            "alg none": f"{unsigned_head}.{body}.",
            "HS256 keyed with the public key": f"{hs_head}.{body}.{hs_signature}",
        }
        seen = {name: await status_with(protected, token) for name, token in hostile.items()}
        control = await status_with(protected, real)
        assert control.status_code == 200, control.text  # the key and claims are right: only each change fails
        results = {
            name: (answer.status_code, answer.headers.get("www-authenticate", "")) for name, answer in seen.items()
        }
        for name, (status, header) in results.items():
            print(f"hostile JWT {name}: {status} {header}")
            assert status == 401 and 'error="invalid_token"' in header, (name, status, header)


@pytest.fixture(scope="class")
def introspection_pair(origin: OriginServer) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """The issuer (opaque tokens) and the server that asks its introspection endpoint about them."""
    with external_issuer() as issuer:
        client_id, secret = confidential_client(issuer)
        introspect = httpx.get(f"{issuer.base}/.well-known/oauth-authorization-server/oauth", timeout=10).json()[
            "introspection_endpoint"
        ]
        with oauth_server(
            origin,
            MCP_OAUTH_ISSUER=issuer_of(issuer),
            MCP_OAUTH_AUDIENCE=issuer.mcp_url,
            MCP_OAUTH_INTROSPECTION_URL=introspect,
            MCP_OAUTH_INTROSPECTION_CLIENT_ID=client_id,
            MCP_OAUTH_INTROSPECTION_CLIENT_SECRET=secret,
            MCP_OAUTH_TOKEN_CACHE_SECONDS=str(POLL),
        ) as protected:
            yield issuer, protected
            assert protected.alive(), protected.log()[-3000:]


class TestIntrospection:
    async def test_an_opaque_token_is_introspected_and_revocation_holds(self, introspection_pair) -> None:  # type: ignore[no-untyped-def]
        issuer, protected = introspection_pair
        browser = Browser()
        try:
            grant = await mint(browser, issuer_of(issuer), issuer.mcp_url)
        finally:
            await browser.aclose()
        assert grant.access_token.count(".") != 2  # opaque, not a JWT
        answer = await read_with(protected, grant.access_token)
        assert answer.status_code == 200 and RDS_TEXT in answer.text, answer.text[:300]
        meta = await metadata(issuer_of(issuer))
        async with httpx.AsyncClient(timeout=10) as http:
            revoked = await http.post(
                meta["revocation_endpoint"],
                data={"token": grant.refresh_token, "token_type_hint": "refresh_token", "client_id": grant.client_id},
            )
            assert revoked.status_code == 200, revoked.text
        assert await refused_soon(protected, grant.access_token), "a token revoked at the issuer still opens"
        refused = await status_with(protected, grant.access_token)
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
        # Neither is a token this issuer never made accepted.
        assert (await status_with(protected, "never-issued-" + "x" * 30)).status_code == 401


def confidential_client(issuer: DaphneServer) -> tuple[str, str]:
    """A confidential client of the issuer (RFC 7591, client_secret_basic): the protected server's credentials for
    the introspection endpoint."""
    meta = httpx.get(f"{issuer.base}/.well-known/oauth-authorization-server/oauth", timeout=10).json()
    made = httpx.post(
        meta["registration_endpoint"],
        json={
            "client_name": "awsmcp resource server",
            "redirect_uris": ["https://resource.example/unused"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "application_type": "web",
        },
        timeout=10,
    )
    assert made.status_code == 201, made.text
    return made.json()["client_id"], made.json()["client_secret"]
