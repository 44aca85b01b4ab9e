"""Raw HTTP against a real Daphne with `MCP_AUTH=oauth`: the challenges every MCP endpoint answers, the
protected-resource metadata, scopes, session ownership, the built-in authorization server's refusals, and the end
of open streams when a grant is revoked or a person disabled, while another person's witness session reads on.
Tokens are minted through the real flow (tests/support/oauth_browser.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.admin import csrf_token, post_form
from tests.support.issuer import STAFF, access_token_ids, issuer_of, oauth_server, refused_soon, set_active
from tests.support.oauth_browser import PASSWORD, Browser, Grant, metadata, mint, pkce, register
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer
from tests.support.raw import ACCEPT_BOTH, LegacySse, initialize_request, request, sse_events, streamable_session
from tests.support.witness import RDS, RDS_TEXT, Witness, while_witnessed

PEOPLE = ("alice", "bob", "carol", "dave", "erin", "wendy")
ENDED_WITHIN = 6.0  # an ended grant's streams close within this (two polls of 0.5 s, a reload, and slack)


@pytest.fixture(scope="module")
def protected(origin: OriginServer) -> Iterator[DaphneServer]:
    with oauth_server(origin, people=dict.fromkeys(PEOPLE, PASSWORD)) as server:
        yield server
        assert server.alive(), server.log()[-3000:]


SIGNED_IN: dict[tuple[int, str], httpx.Cookies] = {}  # (server port, person) -> their browser's cookies


async def token_for(server: DaphneServer, name: str, scope: str = "docs:read docs:search") -> Grant:
    """A token minted through the real flow; the person signs in once per server (PBKDF2 costs a second)."""
    browser = Browser(name, PASSWORD, cookies=SIGNED_IN.get((server.port, name), httpx.Cookies()))
    try:
        return await mint(browser, issuer_of(server), server.mcp_url, scope=scope)
    finally:
        SIGNED_IN[(server.port, name)] = browser.cookies
        await browser.aclose()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def challenge(response: httpx.Response) -> dict[str, str]:
    """The auth-params of a Bearer WWW-Authenticate header (RFC 6750 §3)."""
    header = response.headers.get("www-authenticate", "")
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


async def session_of(http: httpx.AsyncClient, server: DaphneServer, token: str) -> dict[str, str]:
    """A raw Streamable HTTP session opened with this token; the headers its later requests carry."""
    return await streamable_session(http, server.mcp_url, token=token)


def read_call(msg_id: int = 5) -> dict[str, object]:
    return request("tools/call", {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 200}}, msg_id)


def search_call(msg_id: int = 6) -> dict[str, object]:
    return request("tools/call", {"name": "search_documentation", "arguments": {"search_phrase": "RDS"}}, msg_id)


# --- the resource server's doors -------------------------------------------------------------------------------


async def test_no_token_gets_the_exact_challenge_on_every_endpoint(protected: DaphneServer) -> None:
    expected = (
        f'Bearer resource_metadata="{protected.base}/.well-known/oauth-protected-resource/mcp", '
        'scope="docs:read docs:search"'
    )
    async with httpx.AsyncClient(timeout=10) as http:
        answers = {
            "POST /mcp": await http.post(protected.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH}),
            "GET /mcp/sse": await http.get(protected.sse_url, headers={"accept": "text/event-stream"}),
            "POST /mcp/message": await http.post(f"{protected.base}/mcp/message?session_id=0123", json=request("ping")),
        }
    for door, answer in answers.items():
        assert answer.status_code == 401, (door, answer.text)
        assert answer.headers["www-authenticate"] == expected, door


async def test_a_bad_token_is_invalid_token(protected: DaphneServer) -> None:
    good = await token_for(protected, "alice")
    async with httpx.AsyncClient(timeout=10) as http:
        # A real token in the query string is not read (bearer_methods_supported: header): no token at all.
        in_query = await http.post(
            protected.mcp_url,
            params={"access_token": good.access_token},
            json=initialize_request(),
            headers={"accept": ACCEPT_BOTH},
        )
        assert in_query.status_code == 401 and "error" not in challenge(in_query), in_query.headers

        for token in ("not-a-token", "amcp_looks_like_a_key_but_keys_are_off", "a" * 40):
            answer = await http.post(
                protected.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, **bearer(token)}
            )
            assert answer.status_code == 401, answer.text
            params = challenge(answer)
            assert params["error"] == "invalid_token"
            assert params["resource_metadata"] == f"{protected.base}/.well-known/oauth-protected-resource/mcp"


async def test_websocket_handshake_without_a_token_is_refused(protected: DaphneServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(protected.ws_url, subprotocols=["mcp"]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 403  # Daphne's refusal; no challenge can ride on it


async def test_protected_resource_metadata_root_and_path_forms(protected: DaphneServer) -> None:
    base = protected.base
    async with httpx.AsyncClient(timeout=10) as http:
        root = await http.get(f"{base}/.well-known/oauth-protected-resource")
        forms = {
            path: await http.get(f"{base}/.well-known/oauth-protected-resource{path}")
            for path in ("/mcp", "/mcp/sse", "/mcp/message", "/mcp/ws")
        }
        authorization_server = await metadata(f"{base}/oauth")
    assert root.status_code == 200 and root.headers["content-type"].startswith("application/json")
    document = root.json()
    assert document["resource"] == f"{base}/mcp"
    assert document["authorization_servers"] == [f"{base}/oauth"]
    assert document["bearer_methods_supported"] == ["header"]
    assert {"docs:read", "docs:search"} <= set(document["scopes_supported"])
    assert "offline_access" not in document["scopes_supported"]
    for path, answer in forms.items():
        assert answer.status_code == 200, (path, answer.text)
        form = answer.json()
        assert form["resource"] == f"{base}/mcp", form  # the canonical URI: a parent of every endpoint
        assert form["authorization_servers"] == [f"{base}/oauth"]
    # What a client finds next: the authorization server, naming itself byte for byte as the metadata did.
    assert authorization_server["issuer"] == document["authorization_servers"][0]
    assert authorization_server["code_challenge_methods_supported"] == ["S256"]
    assert authorization_server["client_id_metadata_document_supported"] is True
    assert authorization_server["authorization_response_iss_parameter_supported"] is True


async def test_a_missing_scope_is_403_insufficient_scope(protected: DaphneServer) -> None:
    grant = await token_for(protected, "alice", scope="docs:search")
    assert grant.scope.split() == ["docs:search"]
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await session_of(http, protected, grant.access_token)
        refused = await http.post(protected.mcp_url, json=read_call(), headers=headers)
        assert refused.status_code == 403, refused.text
        params = challenge(refused)
        assert params["error"] == "insufficient_scope"
        assert params["scope"].split() == ["docs:read"]
        allowed = await http.post(protected.mcp_url, json=search_call(), headers=headers)
        assert allowed.status_code == 200, allowed.text
        # Legacy SSE: the POST of the call is refused the same way.
        async with (
            httpx.AsyncClient(timeout=30, headers=bearer(grant.access_token)) as keyed,
            LegacySse(keyed, protected.sse_url) as legacy,
        ):
            await legacy.initialize()
            posted = await legacy.post(read_call(7))
            assert posted.status_code == 403, posted.text
            assert challenge(posted)["error"] == "insufficient_scope"


async def test_another_persons_session_id_is_404(protected: DaphneServer) -> None:
    """A session belongs to the person who opened it; the admin's connections list names that person."""
    alice, bob = await token_for(protected, "alice"), await token_for(protected, "bob")
    async with httpx.AsyncClient(timeout=30) as http:
        hers = await session_of(http, protected, alice.access_token)
        stolen = {**hers, **bearer(bob.access_token)}
        answer = await http.post(protected.mcp_url, json=request("tools/list", msg_id=2), headers=stolen)
        assert answer.status_code == 404, answer.text
        own = await http.post(protected.mcp_url, json=request("tools/list", msg_id=3), headers=hers)
        assert own.status_code == 200, own.text
        admin = await staff_browser(protected)
        try:
            for _ in range(40):  # the row is written as the session opens, off the request's path
                listing = await admin.get("/admin/ops/connection/", params={"q": hers["mcp-session-id"]})
                if "oauth:alice" in listing.text:
                    break
                await asyncio.sleep(0.25)
            assert "oauth:alice" in listing.text, listing.text[-2000:]
        finally:
            await admin.aclose()


# --- the built-in authorization server's refusals, over the wire ----------------------------------------------


async def authorize_url(server: DaphneServer, **params: str) -> str:
    meta = await metadata(issuer_of(server))
    return f"{meta['authorization_endpoint']}?{urlencode(params)}"


async def test_authorization_refusals(protected: DaphneServer) -> None:
    """PKCE missing or `plain`, no `resource` or another server's (RFC 8707 `invalid_target`), an unregistered or
    open redirect: none yields a code."""
    issuer = issuer_of(protected)
    redirect = "http://127.0.0.1:9/callback"
    client_id = await register(issuer, redirect)
    _verifier, challenge_s256 = pkce()
    common = {"response_type": "code", "client_id": client_id, "state": "s1", "resource": protected.mcp_url}
    common["scope"] = "docs:read"
    browser = Browser("alice", PASSWORD)
    seen: dict[str, httpx.Response] = {}
    try:
        seen["pkce missing"] = await browser.authorize(await authorize_url(protected, **common, redirect_uri=redirect))
        seen["pkce plain"] = await browser.authorize(
            await authorize_url(
                protected, **common, redirect_uri=redirect, code_challenge="x" * 43, code_challenge_method="plain"
            )
        )
        s256 = {"code_challenge": challenge_s256, "code_challenge_method": "S256", "redirect_uri": redirect}
        for name, resource in (
            ("no resource", None),
            ("another resource", "https://other.example/mcp"),
            ("look-alike resource", protected.mcp_url + "x"),
        ):
            asked = {**common, **s256, "resource": resource}
            seen[name] = await browser.authorize(
                await authorize_url(protected, **{k: v for k, v in asked.items() if v is not None})
            )
        for name, uri in (
            ("redirect not registered", "http://127.0.0.1:9/elsewhere"),
            ("open redirect", "https://evil.example/callback"),
            ("look-alike loopback", "http://127.0.0.1.evil.example:9/callback"),
        ):
            seen[name] = await browser.authorize(
                await authorize_url(
                    protected, **common, redirect_uri=uri, code_challenge=challenge_s256, code_challenge_method="S256"
                )
            )
    finally:
        await browser.aclose()
    expected = {
        "pkce missing": "invalid_request",
        "pkce plain": "invalid_request",
        "no resource": "invalid_target",
        "another resource": "invalid_target",
        "look-alike resource": "invalid_target",
    }
    for name, error in expected.items():
        answer = seen[name]
        # A page on the authorization server, never a redirect: with open registration anyone can register a
        # redirect URI, and an error must not turn the server into an open redirector (RFC 9700 §4.11.2).
        assert answer.status_code == 400 and "location" not in answer.headers, (name, answer.status_code)
        assert error in answer.text and "code=" not in answer.text, name
        assert answer.request.method == "GET", name  # refused before any consent page was shown
    for name in ("redirect not registered", "open redirect", "look-alike loopback"):
        answer = seen[name]
        assert answer.status_code == 400 and "location" not in answer.headers, (name, answer.status_code)


async def test_registration_refusals(protected: DaphneServer) -> None:
    """Dynamic registration takes https redirect URIs, http ones to loopback only, and the private-use schemes of
    MCP_OAUTH_REDIRECT_SCHEMES (Cursor's `cursor://`); not http to another host, an unlisted scheme, or
    `javascript:`, each refused saying why."""
    endpoint = (await metadata(issuer_of(protected)))["registration_endpoint"]
    answers = {}
    refused = {
        "http://evil.example/callback": "http is for loopback hosts only",
        "myapp://callback": "the myapp scheme is not allowed",
        "javascript:alert(1)": "the javascript scheme is never allowed",
    }
    accepted = (
        "https://ok.example/callback",
        "http://localhost:8787/callback",
        "cursor://anysphere.cursor-mcp/oauth/callback",
    )
    async with httpx.AsyncClient(timeout=10) as http:
        for uri in (*refused, *accepted):
            body = {"client_name": "t", "redirect_uris": [uri], "token_endpoint_auth_method": "none"}
            answers[uri] = await http.post(endpoint, json=body)
    for uri, answer in answers.items():
        print(f"registration with {uri}: {answer.status_code} {answer.text[:120]}")
    for uri, reason in refused.items():
        assert answers[uri].status_code == 400, (uri, answers[uri].text)
        assert (
            answers[uri].json()["error"] == "invalid_redirect_uri"
            and reason in answers[uri].json()["error_description"]
        )
    for uri in accepted:
        assert answers[uri].status_code == 201, (uri, answers[uri].text)


async def test_a_code_and_a_refresh_token_work_once(protected: DaphneServer) -> None:
    issuer = issuer_of(protected)
    redirect = "http://127.0.0.1:9/callback"
    meta = await metadata(issuer)
    client_id = await register(issuer, redirect)
    verifier, challenge_s256 = pkce()
    browser = Browser("alice", PASSWORD)
    try:
        got = await browser.code(
            await authorize_url(
                protected,
                response_type="code",
                client_id=client_id,
                redirect_uri=redirect,
                scope="docs:read docs:search",
                state="s2",
                code_challenge=challenge_s256,
                code_challenge_method="S256",
                resource=protected.mcp_url,
            )
        )
    finally:
        await browser.aclose()
    assert got.iss == issuer  # RFC 9207
    exchange = {
        "grant_type": "authorization_code",
        "code": got.code,
        "redirect_uri": redirect,
        "client_id": client_id,
        "code_verifier": verifier,
        "resource": protected.mcp_url,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        wrong = await http.post(meta["token_endpoint"], data={**exchange, "code_verifier": "w" * 43})
        first = await http.post(meta["token_endpoint"], data=exchange)
        replay = await http.post(meta["token_endpoint"], data=exchange)
        assert first.status_code == 200, first.text
        assert "no-store" in first.headers["cache-control"]
        tokens = first.json()
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id}
        refreshed = await http.post(meta["token_endpoint"], data=refresh)
        assert refreshed.status_code == 200, refreshed.text
        again = await http.post(meta["token_endpoint"], data=refresh)
        newer = refreshed.json()["access_token"]
        after_reuse = await http.post(
            protected.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, **bearer(newer)}
        )
    # A wrong verifier spends the code in oauthlib's order of checks or not: either way no token comes of it.
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert after_reuse.status_code == 401  # reuse protection revoked the family


# --- the end of open streams ------------------------------------------------------------------------------------


async def staff_browser(server: DaphneServer) -> httpx.AsyncClient:
    """An httpx client signed in to the admin as the prepared database's superuser."""
    client = httpx.AsyncClient(base_url=server.base, timeout=15, follow_redirects=True)
    page = await client.get("/admin/login/")
    reply = await client.post(
        "/admin/login/?next=/admin/",
        data={"username": STAFF, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(page.text)},
        headers={"referer": f"{server.base}/admin/login/"},
    )
    assert reply.status_code == 200 and "logout" in reply.text.lower(), reply.text[:500]
    return client


@contextlib.asynccontextmanager
async def websocket_session(server: DaphneServer, token: str) -> AsyncIterator[object]:
    async with connect(server.ws_url, subprotocols=["mcp"], additional_headers=bearer(token)) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps(initialize_request()))
        assert "result" in json.loads(await ws.recv())
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        yield ws


async def streams_end(server: DaphneServer, grant: Grant, end: object) -> float:
    """Open a legacy SSE stream, a WebSocket session and a Streamable HTTP GET stream with this grant's token,
    call `end()`, and return how long the server took to close all three. Then the token opens nothing."""
    witness_grant = await token_for(server, "wendy")
    async with (
        Witness(server, token=witness_grant.access_token) as seen,
        httpx.AsyncClient(timeout=15, headers=bearer(grant.access_token)) as http,
        websocket_session(server, grant.access_token) as ws,
        LegacySse(http, server.sse_url) as legacy,
    ):
        await legacy.initialize()
        assert (await legacy.post(read_call(2))).status_code == 202
        answer = await legacy.next_message(timeout=30)
        assert RDS_TEXT in answer["result"]["content"][0]["text"]
        await ws.send(json.dumps(request("tools/list", msg_id=2)))  # type: ignore[attr-defined]
        assert "result" in json.loads(await ws.recv())  # type: ignore[attr-defined]
        session = await session_of(http, server, grant.access_token)
        async with http.stream("GET", server.mcp_url, headers={**session, "accept": "text/event-stream"}) as get:
            assert get.status_code == 200

            started = time.monotonic()
            await end()  # type: ignore[operator]

            async def ws_closed() -> None:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.recv()  # type: ignore[attr-defined]

            async def drained(events: AsyncIterator[object]) -> None:
                with contextlib.suppress(httpx.HTTPError):
                    async for _event in events:
                        pass

            await asyncio.wait_for(
                asyncio.gather(ws_closed(), drained(legacy.events), drained(sse_events(get))), ENDED_WITHIN
            )
            elapsed = time.monotonic() - started
        assert await refused_soon(server, grant.access_token), "the ended grant's token still opens the server"
        await while_witnessed(seen)
    seen.assert_unharmed()
    return elapsed


async def test_revoking_the_grant_rfc7009_ends_open_streams(protected: DaphneServer) -> None:
    grant = await token_for(protected, "carol")
    meta = await metadata(issuer_of(protected))

    async def revoke() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for kind in ("refresh_token", "access_token"):
                answer = await http.post(
                    meta["revocation_endpoint"],
                    data={"token": getattr(grant, kind), "token_type_hint": kind, "client_id": grant.client_id},
                )
                assert answer.status_code == 200, answer.text

    elapsed = await streams_end(protected, grant, revoke)
    print(f"RFC 7009 revocation: streams ended after {elapsed:.2f} s")


async def test_revoking_tokens_in_the_admin_ends_open_streams(protected: DaphneServer) -> None:
    grant = await token_for(protected, "dave")
    admin = await staff_browser(protected)
    pks = access_token_ids(protected, "dave")
    assert pks

    async def revoke() -> None:
        answer = await post_form(
            admin,
            "/admin/oauth2_provider/accesstoken/",
            {"action": "revoke_tokens", "_selected_action": [str(pk) for pk in pks], "index": "0"},
        )
        assert "Revoked" in answer.text, answer.text[:500]

    try:
        elapsed = await streams_end(protected, grant, revoke)
    finally:
        await admin.aclose()
    print(f"admin revocation: streams ended after {elapsed:.2f} s")


async def test_disabling_the_person_ends_open_streams(protected: DaphneServer) -> None:
    grant = await token_for(protected, "erin")

    async def disable() -> None:
        set_active(protected, "erin", False)

    elapsed = await streams_end(protected, grant, disable)
    print(f"user disabled: streams ended after {elapsed:.2f} s")


# --- keys and tokens side by side --------------------------------------------------------------------------------


async def test_keys_and_oauth_both_open_the_door(origin: OriginServer) -> None:
    with oauth_server(origin, keys=("ci-robot",), MCP_AUTH="keys+oauth") as server:
        key = server.env["AWSMCP_TEST_KEY_ci-robot"]
        grant = await token_for(server, "alice")
        async with httpx.AsyncClient(timeout=30) as http:
            for token in (key, grant.access_token):
                headers = await session_of(http, server, token)
                answer = await http.post(server.mcp_url, json=read_call(), headers=headers)
                assert answer.status_code == 200 and RDS_TEXT in answer.text, answer.text[:300]
            wrong_key = await http.post(
                server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH, **bearer("amcp_" + "x" * 40)}
            )
            assert wrong_key.status_code == 401
            none = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
            assert none.status_code == 401
            assert challenge(none)["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")
