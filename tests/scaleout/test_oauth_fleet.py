"""OAuth across a fleet: two Daphne processes with `MCP_AUTH=oauth` sharing a real redis-server and a real
PostgreSQL (REDIS_URL, DATABASE_URL), behind nginx with the shipped config (no stickiness), must act as one
authorization server and one protected resource: a code made on one process is redeemed on the other, a token
minted on either works on both, and revoking a token or disabling a person on one ends the streams held by the other.

Clients address the fleet by nginx's name (its Host, port included: the shipped config passes `$http_host`); to
choose which process serves a leg, a request is pinned to one backend's port while its URL, and so its Host, still
names nginx (`Pinned`). Access tokens are
JWTs signed with one key shared by both processes (MCP_OAUTH_SIGNING_KEY, made here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.support.issuer import oauth_env, password_hash
from tests.support.nginx import Nginx
from tests.support.oauth_browser import PASSWORD, Browser, Grant, pkce
from tests.support.origin import OriginServer
from tests.support.processes import (
    DaphneServer,
    PostgresServer,
    RedisServer,
    daphne,
    free_port,
    postgres_server,
    redis_server,
)
from tests.support.raw import ACCEPT_BOTH, LegacySse, initialize_request, request, sse_events
from tests.support.witness import RDS, RDS_TEXT

PEOPLE = ("alice", "bob", "carol", "dave", "erin")
BOUND = 20.0  # seconds: a bound for a hang (an ended grant's streams close within two polls of 0.5 s), not a speed
REDIRECT = "http://127.0.0.1:9/callback"
SCOPE = "docs:read docs:search"


class Pinned(httpx.AsyncBaseTransport):
    """Sends every request to one backend's port, keeping the URL and Host the client addressed (nginx)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        there = httpx.Request(
            request.method,
            request.url.copy_with(port=self.port),
            headers=request.headers,  # its Host names nginx
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self.inner.handle_async_request(there)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class PinnedBrowser(Browser):
    """The person's browser, every page of it served by one process."""

    port: int = 0

    def web(self) -> httpx.AsyncClient:
        if self._web is None:
            self._web = httpx.AsyncClient(
                follow_redirects=False, timeout=20, cookies=self.cookies, transport=Pinned(self.port)
            )
            self.cookies = self._web.cookies
        return self._web


@dataclass
class Fleet:
    a: DaphneServer
    b: DaphneServer
    nginx: Nginx
    database: str

    @property
    def issuer(self) -> str:
        return f"{self.nginx.base}/oauth"

    def on(self, server: DaphneServer, token: str = "", **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client whose requests, addressed to nginx, all land on `server`."""
        headers = bearer(token) if token else {}
        return httpx.AsyncClient(transport=Pinned(server.port), headers=headers, **{"timeout": 20, **kwargs})


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def signing_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def add_people(database: str, people: tuple[str, ...]) -> None:
    """People able to sign in, written to PostgreSQL as the admin stores them."""
    with psycopg.connect(database, autocommit=True) as conn:
        for name in people:
            conn.execute(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
                " is_active, date_joined) VALUES (%s, false, %s, '', '', '', false, true, now())",
                (password_hash(PASSWORD), name),
            )


def set_active(database: str, username: str, active: bool) -> None:
    """What unticking "Active" in the admin writes."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE auth_user SET is_active = %s WHERE username = %s", (active, username))


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def pem() -> str:
    return signing_pem()


@pytest.fixture(scope="module")
def fleet(origin: OriginServer, redis: RedisServer, postgres: PostgresServer, pem: str) -> Iterator[Fleet]:
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-oauth-fleet-"))
    db = workdir / "unused.sqlite3"
    env = oauth_env(
        origin,
        REDIS_URL=redis.url,
        DATABASE_URL=postgres.url,
        MCP_OAUTH_JWT_ACCESS_TOKENS="true",
        MCP_OAUTH_SIGNING_KEY=pem,
        TRUSTED_PROXIES="127.0.0.1",  # nginx
    )
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        a = stack.enter_context(daphne(db_path=db, **env))
        db.touch()  # A's start migrated PostgreSQL: B need not migrate again
        add_people(postgres.url, PEOPLE)
        b = stack.enter_context(daphne(db_path=db, **env))
        proxy = stack.enter_context(Nginx([a.port, b.port]))
        yield Fleet(a, b, proxy, postgres.url)
        assert a.alive(), a.log()[-3000:]
        assert b.alive(), b.log()[-3000:]


# --- the flow, leg by leg on the process the test chooses ----------------------------------------------------------


async def server_metadata(fleet: Fleet, server: DaphneServer) -> dict[str, Any]:
    async with fleet.on(server) as http:
        answer = await http.get(f"{fleet.nginx.base}/.well-known/oauth-authorization-server/oauth")
    assert answer.status_code == 200, answer.text[:300]
    return dict(answer.json())


async def register(fleet: Fleet, server: DaphneServer) -> str:
    """A public client made by dynamic client registration on `server`; its client_id."""
    meta = await server_metadata(fleet, server)
    async with fleet.on(server) as http:
        made = await http.post(
            meta["registration_endpoint"],
            json={
                "client_name": "fleet client",
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            },
        )
    assert made.status_code == 201, made.text[:300]
    return str(made.json()["client_id"])


async def token_request(fleet: Fleet, server: DaphneServer, data: dict[str, str]) -> httpx.Response:
    async with fleet.on(server) as http:
        return await http.post(f"{fleet.nginx.base}/oauth/token/", data=data)


async def sign_in(
    fleet: Fleet, person: str, authorize_on: DaphneServer, token_on: DaphneServer, register_on: DaphneServer
) -> Grant:
    """The real flow (DCR, authorization code with S256 PKCE and `resource`, sign-in and consent, code exchange),
    each leg served by the process named for it."""
    client_id = await register(fleet, register_on)
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": fleet.nginx.mcp_url,
    }
    browser = PinnedBrowser(person, PASSWORD, port=authorize_on.port)
    try:
        got = await browser.code(f"{fleet.nginx.base}/oauth/authorize/?{urlencode(query)}")
    finally:
        await browser.aclose()
    assert got.state == state and got.iss == fleet.issuer  # RFC 9207: the fleet's one issuer
    answer = await token_request(
        fleet,
        token_on,
        {
            "grant_type": "authorization_code",
            "code": got.code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": fleet.nginx.mcp_url,
        },
    )
    assert answer.status_code == 200, answer.text[:300]
    body = answer.json()
    return Grant(client_id, body["access_token"], body["refresh_token"], body.get("scope", ""), body)


async def session_of(fleet: Fleet, http: httpx.AsyncClient, token: str) -> dict[str, str]:
    """A raw Streamable HTTP session opened with this token; the headers its later requests carry."""
    url = fleet.nginx.mcp_url
    reply = await http.post(url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, **bearer(token)})
    assert reply.status_code == 200, (reply.status_code, reply.headers.get("www-authenticate"), reply.text[:300])
    headers = {
        "accept": ACCEPT_BOTH,
        "mcp-session-id": reply.headers["mcp-session-id"],
        "mcp-protocol-version": "2025-11-25",
        **bearer(token),
    }
    note = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    assert note.status_code == 202, note.text
    return headers


def read_call(msg_id: int = 5) -> dict[str, object]:
    return request("tools/call", {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 200}}, msg_id)


async def read_on(fleet: Fleet, server: DaphneServer, token: str) -> str:
    """Open a session on `server` with this token and call a tool there; the tool's text."""
    async with fleet.on(server) as http:
        headers = await session_of(fleet, http, token)
        reply = await http.post(
            fleet.nginx.mcp_url, json=read_call(), headers={**headers, "accept": "application/json"}
        )
    assert reply.status_code == 200, reply.text[:300]
    return str(reply.json()["result"]["content"][0]["text"])


async def status_on(fleet: Fleet, server: DaphneServer, token: str) -> int:
    """The status of a fresh initialize with this bearer on `server`."""
    async with fleet.on(server) as http:
        reply = await http.post(
            fleet.nginx.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, **bearer(token)}
        )
    return reply.status_code


async def refused_on(fleet: Fleet, server: DaphneServer, token: str) -> int:
    """The status `server` settles on for this token: a validated token may be remembered for
    MCP_OAUTH_TOKEN_CACHE_SECONDS (the poll, 0.5 s) after it ended, so ask until 401 or the bound."""
    status = 0
    for _ in range(int(BOUND / 0.25)):
        status = await status_on(fleet, server, token)
        if status == 401:
            break
        await asyncio.sleep(0.25)
    return status


async def drained(events: AsyncIterator[object]) -> None:
    """Read a stream to its end; the server closing a chunked body mid-way is an end too (no read timeout here:
    the caller bounds the wait, so a stream that never ends fails instead of passing on a timeout)."""
    with contextlib.suppress(httpx.RemoteProtocolError):
        async for _event in events:
            pass


@contextlib.asynccontextmanager
async def websocket_on(fleet: Fleet, server: DaphneServer, token: str) -> AsyncIterator[ClientConnection]:
    """A WebSocket MCP session through `server`'s port, its handshake naming nginx."""
    async with connect(
        fleet.nginx.ws_url,
        host="127.0.0.1",
        port=server.port,
        subprotocols=[Subprotocol("mcp")],
        additional_headers=bearer(token),
    ) as ws:
        await ws.send(json.dumps(initialize_request()))
        assert "result" in json.loads(await ws.recv())
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        yield ws


# --- the tests -------------------------------------------------------------------------------------------------


async def test_a_pinned_request_reaches_the_chosen_port_under_nginxs_name(fleet: Fleet) -> None:
    """The other tests' choice of process rests on this: a pinned request goes to the port it is pinned to (none
    listening: refused, not quietly served by nginx) and carries nginx's Host."""
    nobody = DaphneServer(free_port(), fleet.a.proc, fleet.a.log_path, {})
    with pytest.raises(httpx.ConnectError):
        await server_metadata(fleet, nobody)
    assert (await server_metadata(fleet, fleet.a))["issuer"] == fleet.issuer


async def test_a_code_made_on_one_process_is_redeemed_on_the_other(fleet: Fleet) -> None:
    a, b = fleet.a, fleet.b
    grant = await sign_in(fleet, "alice", authorize_on=a, token_on=b, register_on=b)
    assert RDS_TEXT in await read_on(fleet, a, grant.access_token)
    assert RDS_TEXT in await read_on(fleet, b, grant.access_token)

    refresh = {"grant_type": "refresh_token", "refresh_token": grant.refresh_token, "client_id": grant.client_id}
    refreshed = await token_request(fleet, b, refresh)
    assert refreshed.status_code == 200, refreshed.text[:300]
    newer = refreshed.json()
    assert newer["refresh_token"] != grant.refresh_token  # rotated
    assert RDS_TEXT in await read_on(fleet, a, newer["access_token"])

    for server in (a, b):  # the spent refresh token, again, on either process
        again = await token_request(fleet, server, refresh)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", (server.port, again.text)
    # Its reuse revoked the family (README): the newer token ends on both processes too.
    assert await refused_on(fleet, a, newer["access_token"]) == 401
    assert await refused_on(fleet, b, newer["access_token"]) == 401


async def test_revoking_at_b_ends_the_streams_held_by_a(fleet: Fleet) -> None:
    a, b = fleet.a, fleet.b
    grant = await sign_in(fleet, "carol", authorize_on=b, token_on=a, register_on=a)
    witness_grant = await sign_in(fleet, "bob", authorize_on=a, token_on=b, register_on=a)
    answers: list[str] = []
    stop = asyncio.Event()

    async def witness() -> None:
        """Another person's session on A, calling a tool again and again while carol's grant ends."""
        async with fleet.on(a, witness_grant.access_token) as http:
            headers = await session_of(fleet, http, witness_grant.access_token)
            n = 100
            while not stop.is_set():
                n += 1
                reply = await http.post(
                    fleet.nginx.mcp_url, json=read_call(n), headers={**headers, "accept": "application/json"}
                )
                assert reply.status_code == 200, reply.text[:300]
                assert reply.json()["id"] == n
                answers.append(reply.json()["result"]["content"][0]["text"])
                await asyncio.sleep(0.05)

    watching = asyncio.create_task(witness())
    try:
        async with (
            fleet.on(a, grant.access_token, timeout=httpx.Timeout(20, read=None)) as http,
            websocket_on(fleet, a, grant.access_token) as ws,
            LegacySse(http, fleet.nginx.sse_url) as legacy,
        ):
            await legacy.initialize()
            assert (await legacy.post(read_call(2))).status_code == 202
            assert RDS_TEXT in (await legacy.next_message(timeout=BOUND))["result"]["content"][0]["text"]
            await ws.send(json.dumps(request("tools/list", msg_id=2)))
            assert "result" in json.loads(await ws.recv())

            async with fleet.on(b) as at_b:
                revoked = await at_b.post(
                    f"{fleet.nginx.base}/oauth/revoke_token/",
                    data={"token": grant.access_token, "token_type_hint": "access_token", "client_id": grant.client_id},
                )
            assert revoked.status_code == 200, revoked.text

            async def ws_closed() -> None:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.recv()

            await asyncio.wait_for(asyncio.gather(ws_closed(), drained(legacy.events)), BOUND)
        seen = len(answers)
        for _ in range(int(BOUND / 0.1)):  # the witness is still answered after the other person's streams ended
            if len(answers) >= seen + 3 or watching.done():
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(watching, BOUND)  # raises what the witness saw go wrong
    assert len(answers) >= seen + 3, (seen, len(answers))
    assert all(RDS_TEXT in text for text in answers)
    assert await refused_on(fleet, a, grant.access_token) == 401
    assert await refused_on(fleet, b, grant.access_token) == 401
    assert await status_on(fleet, a, witness_grant.access_token) == 200


async def test_disabling_the_person_ends_their_stream_on_b(fleet: Fleet) -> None:
    a, b = fleet.a, fleet.b
    grant = await sign_in(fleet, "erin", authorize_on=a, token_on=a, register_on=b)
    async with fleet.on(b, timeout=httpx.Timeout(20, read=None)) as http:
        session = await session_of(fleet, http, grant.access_token)
        get_headers = {**session, "accept": "text/event-stream"}
        async with http.stream("GET", fleet.nginx.mcp_url, headers=get_headers) as stream:
            assert stream.status_code == 200
            await asyncio.to_thread(set_active, fleet.database, "erin", False)
            await asyncio.wait_for(drained(sse_events(stream)), BOUND)
    assert await refused_on(fleet, a, grant.access_token) == 401
    assert await refused_on(fleet, b, grant.access_token) == 401


async def test_one_issuer_and_one_signing_key_for_the_fleet(fleet: Fleet, pem: str) -> None:
    a, b = fleet.a, fleet.b
    meta_a, meta_b = await server_metadata(fleet, a), await server_metadata(fleet, b)
    assert meta_a == meta_b and meta_a["issuer"] == fleet.issuer
    for _ in range(4):  # through nginx itself, a new connection each time: whichever process answers
        async with httpx.AsyncClient(timeout=20) as http:
            answer = await http.get(f"{fleet.nginx.base}/.well-known/oauth-authorization-server/oauth")
        assert answer.json() == meta_a
    for server in (a, b):
        async with fleet.on(server) as http:
            resource = (await http.get(f"{fleet.nginx.base}/.well-known/oauth-protected-resource/mcp")).json()
            jwks = (await http.get(f"{fleet.nginx.base}/oauth/.well-known/jwks.json")).json()
        assert resource["resource"] == fleet.nginx.mcp_url
        assert resource["authorization_servers"] == [fleet.issuer]
        (published,) = jwks["keys"]
        assert published["n"] == jwk.JWK.from_pem(pem.encode()).export_public(as_dict=True)["n"]  # the test's key

    grant = await sign_in(fleet, "dave", authorize_on=a, token_on=a, register_on=a)
    header = jwt.get_unverified_header(grant.access_token)
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"] == published["kid"]
    claims = jwt.decode(
        grant.access_token,
        jwt.PyJWK.from_dict(published),  # B's JWKS checks a token A signed
        algorithms=["RS256"],
        audience=fleet.nginx.mcp_url,
        issuer=fleet.issuer,
    )
    assert claims["sub"] == "dave" and claims["client_id"] == grant.client_id
    assert RDS_TEXT in await read_on(fleet, b, grant.access_token)
