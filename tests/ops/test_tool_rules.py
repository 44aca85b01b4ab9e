"""Per-tool rate rules (endpoint `tool:<name>`) against a real Daphne, set in the admin as an operator would to protect
the upstream search API: a refused call is a tool result naming the rule and when to retry, it never reaches the
upstream, other tools and other clients go on, and an edit takes effect at once."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from django.test import Client, override_settings
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_gateway.protocol import REFUSED_META, RETRY_AFTER_META
from ops import rates, rulebook
from ops.models import RateLimitRule
from tests.ops import conftest
from tests.support.admin import post_form, staff_client
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import ACCEPT_BOTH, initialize_request, streamable_session
from tests.support.witness import RDS, RDS_TEXT

SEARCH = "tool:search_documentation"


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        # No poll in a test's time: an edit takes effect because the admin tells the process, not by a reload.
        **origin.settings_env(),
        MCP_RATELIMIT_ENABLED="true",
        MCP_AUTH_REQUIRED="true",
        OPS_RULES_POLL="3600",
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def tokens(server: DaphneServer, cookies: httpx.Cookies) -> dict[str, str]:
    """Two API keys, two clients, made in the admin (so that the server, which polls hourly here, knows them)."""

    async def make() -> dict[str, str]:
        async with staff_client(server, cookies) as admin:
            return {name: await add_key(admin, name) for name in ("alpha", "beta")}

    return asyncio.run(make())


async def add_key(admin: httpx.AsyncClient, name: str) -> str:
    """A key made with the admin's add form (owner and enabled among its fields); the token it shows once."""
    form = {"name": name, "owner": "", "enabled": "on", "rate_override": ""}
    added = await post_form(admin, "/admin/ops/apikey/add/", form)
    found = re.search(rf"API key {re.escape(name)}: (\S+) \(shown once", added.text)
    assert found, added.text[-2000:]
    return found.group(1)


@asynccontextmanager
async def client_of(server: DaphneServer, token: str) -> AsyncIterator[ClientSession]:
    """The SDK's Streamable HTTP client with an API key."""
    http = create_mcp_http_client(headers={"authorization": f"Bearer {token}"})
    async with (
        http,
        streamable_http_client(server.mcp_url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        yield session


async def search(session: ClientSession) -> tuple[bool, str, dict[str, object]]:
    """One search with a phrase never asked before (so it is no cached answer): (refused, text, _meta)."""
    result = await session.call_tool("search_documentation", {"search_phrase": f"rds {uuid.uuid4().hex[:10]}"})
    meta = result.meta or {}
    refused = meta.get(REFUSED_META) == "rate"
    assert refused == bool(result.is_error), result
    return refused, result.content[0].text, meta


async def add_rule(admin: httpx.AsyncClient, name: str, scope: str, endpoint: str, rate: str) -> httpx.Response:
    form = {"name": name, "scope": scope, "endpoint": endpoint, "rate": rate, "enabled": "on", "allowlist": ""}
    return await post_form(admin, "/admin/ops/ratelimitrule/add/", form)


async def rule_pk(admin: httpx.AsyncClient, name: str) -> str:
    listing = await admin.get("/admin/ops/ratelimitrule/")
    found = re.search(rf'href="/admin/ops/ratelimitrule/(\d+)/change/[^"]*">{re.escape(name)}<', listing.text)
    assert found, listing.text[:500]
    return found.group(1)


@asynccontextmanager
async def rule(admin: httpx.AsyncClient, name: str, scope: str, rate: str) -> AsyncIterator[str]:
    """A rule on the search tool for the test's length (deleted after, so tests do not count into each other).
    Daily rates: a counter's window does not roll over during a test."""
    added = await add_rule(admin, name, scope, SEARCH, rate)
    assert "was added successfully" in added.text, added.text[-2000:]
    pk = await rule_pk(admin, name)
    try:
        yield pk
    finally:
        deleted = await post_form(admin, f"/admin/ops/ratelimitrule/{pk}/delete/", {"post": "yes"})
        assert deleted.status_code == 200


async def test_the_admin_takes_only_endpoints_it_can_enforce(admin: httpx.AsyncClient) -> None:
    page = await admin.get("/admin/ops/ratelimitrule/add/")
    assert "tool:&lt;name&gt;" in page.text and "tool:<name>" not in page.text  # the help text reads tool:<name>
    unknown = await add_rule(admin, "typo", "ip", "tool:search_docs", "5/m")
    assert "This server has no tool &#x27;search_docs&#x27;" in unknown.text
    assert "search_documentation" in unknown.text and "read_documentation" in unknown.text  # the tools, listed
    nonsense = await add_rule(admin, "nonsense", "ip", "mcp", "5/m")
    assert "is not an endpoint" in nonsense.text
    counted = await add_rule(admin, "streams-of-a-tool", "streams_per_ip", SEARCH, "5/m")
    assert "counts calls" in counted.text
    # Session caps are checked on Streamable HTTP only (the stream is the session on sse and websocket).
    for endpoint in ("sse", "websocket"):
        unchecked = await add_rule(admin, f"sessions-on-{endpoint}", "sessions_per_ip", endpoint, "5/d")
        assert f"Nothing checks live sessions per IP on {endpoint}: that scope takes *, streamable." in unchecked.text
    listing = await admin.get("/admin/ops/ratelimitrule/")
    refused = (">typo<", ">nonsense<", ">streams-of-a-tool<", ">sessions-on-sse<", ">sessions-on-websocket<")
    assert not any(name in listing.text for name in refused)


@pytest.mark.django_db
def test_rules_saved_before_the_check_show_as_never_checked(admin_client: Client) -> None:
    """A row the form would refuse now (made before it did) is marked in the rules list, not silently ignored."""
    RateLimitRule.objects.create(name="old-sse-sessions", scope="sessions_per_ip", endpoint="sse", rate="5/d")
    RateLimitRule.objects.create(name="streamable-sessions", scope="sessions_per_ip", endpoint="streamable", rate="5/d")
    listing = admin_client.get("/admin/ops/ratelimitrule/").content.decode()
    for name, checked in (("old-sse-sessions", "False"), ("streamable-sessions", "True")):
        row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*>{name}<(?:(?!</tr>).)*</tr>", listing, re.S)
        assert row, listing[-2000:]
        assert f'alt="{checked}"' in row.group(0)  # the "checked" column (enabled is a checkbox here)


async def test_a_stream_cap_on_streamable_holds(
    server: DaphneServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """`streams_per_ip` on `streamable` caps GET streams (their claims name the transport as the rules do)."""
    added = await add_rule(admin, "one-streamable-stream", "streams_per_ip", "streamable", "1/d")
    assert "was added successfully" in added.text, added.text[-2000:]
    pk = await rule_pk(admin, "one-streamable-stream")
    try:
        async with httpx.AsyncClient(timeout=20) as http:
            first = await streamable_session(http, server.mcp_url, token=tokens["alpha"])
            second = await streamable_session(http, server.mcp_url, token=tokens["alpha"])
            async with http.stream("GET", server.mcp_url, headers={**first, "accept": "text/event-stream"}) as held:
                assert held.status_code == 200
                refused = await http.get(server.mcp_url, headers={**second, "accept": "text/event-stream"})
                assert refused.status_code == 429 and "1 concurrent streams per IP" in refused.text
            for headers in (first, second):
                await http.delete(server.mcp_url, headers=headers)
    finally:
        await post_form(admin, f"/admin/ops/ratelimitrule/{pk}/delete/", {"post": "yes"})


async def test_a_per_key_rule_stops_that_tool_for_that_key_only(
    server: DaphneServer, origin: OriginServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with (
        rule(admin, "search-api-per-key", "key", "2/d") as pk,
        client_of(server, tokens["alpha"]) as alpha,
        client_of(server, tokens["beta"]) as beta,
    ):
        upstream = origin.hits("/search")
        assert [(await search(alpha))[0] for _ in range(2)] == [False, False]
        refused, text, meta = await search(alpha)
        assert refused and meta[RETRY_AFTER_META] == 86400
        assert "search-api-per-key" in text and "retry after 86400 s" in text
        assert origin.hits("/search") == upstream + 2  # the refused call never reached the upstream
        # The same client's other tools, and another key's searches, go on.
        page = await alpha.call_tool("read_documentation", {"url": RDS, "max_length": 300})
        assert not page.is_error and RDS_TEXT in page.content[0].text
        assert not (await search(beta))[0]
        # An edit in the admin takes effect at once: no restart, no wait for a poll.
        form = {"name": "search-api-per-key", "scope": "key", "endpoint": SEARCH, "rate": "100/d", "enabled": "on"}
        edited = await post_form(admin, f"/admin/ops/ratelimitrule/{pk}/change/", {**form, "allowlist": ""})
        assert "was changed successfully" in edited.text
        assert not (await search(alpha))[0]


async def test_a_global_rule_counts_every_client_together(
    server: DaphneServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with (
        rule(admin, "search-api-global", "global", "3/d"),
        client_of(server, tokens["alpha"]) as alpha,
        client_of(server, tokens["beta"]) as beta,
    ):
        outcomes = [(await search(client))[0] for client in (alpha, beta, alpha)]
        assert outcomes == [False, False, False]
        assert (await search(beta))[0] and (await search(alpha))[0]


async def test_a_per_ip_rule_counts_the_address(
    server: DaphneServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """Both keys call from 127.0.0.1: under a per-IP rule they share the address's count."""
    async with (
        rule(admin, "search-api-per-ip", "ip", "1/d"),
        client_of(server, tokens["alpha"]) as alpha,
        client_of(server, tokens["beta"]) as beta,
    ):
        assert not (await search(alpha))[0]
        assert (await search(beta))[0]


async def test_a_tool_rule_counts_only_its_tool_and_no_request_rule_counts_tool_calls(book: rulebook.RuleBook) -> None:
    """In process: `tool:<name>` rules meet only calls of that tool; `*` and transport rules never count a call."""
    book.rules += [conftest.rule(931, "key", "1/d", endpoint=SEARCH), conftest.rule(932, "ip", "1/d")]
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_tool("192.0.2.93", "k1", "search_documentation") is None
        refusal = await rates.check_tool("192.0.2.93", "k1", "search_documentation")
        assert refusal is not None and refusal.headers == [("retry-after", "86400")]
        assert refusal.message == (
            "Rate limit rule-931 (1/d per API key) on tool search_documentation exceeded; retry after 86400 s"
        )
        assert await rates.check_tool("192.0.2.93", "k2", "search_documentation") is None  # another key
        assert await rates.check_tool("192.0.2.93", "k1", "read_documentation") is None  # another tool
        assert await rates.check_tool("192.0.2.93", "", "search_documentation") is None  # no key: not counted
        # The per-IP `*` rule (1/d) was never spent by those calls: the next request still passes.
        assert await rates.check_rate("192.0.2.93", "k1", "streamable") is None


async def test_a_keys_rate_override_does_not_lift_a_tool_rule(book: rulebook.RuleBook) -> None:
    """The override is the key's request rate: a per-key tool rule (protecting an upstream) still holds it."""
    book.keys["k3prefix"] = rulebook.Key("k3", "hash", "1000/d")
    book.rules += [conftest.rule(941, "key", "1/d", endpoint=SEARCH), conftest.rule(942, "key", "1/d")]
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_tool("192.0.2.94", "k3", "search_documentation") is None
        refusal = await rates.check_tool("192.0.2.94", "k3", "search_documentation")
        assert refusal is not None and "rule-941 (1/d per API key)" in refusal.message
        # Its request rate is the override's, not the `*` rule's 1/d.
        assert [await rates.check_rate("192.0.2.94", "k3", "streamable") for _ in range(3)] == [None] * 3


async def test_calls_with_bad_arguments_are_not_counted(
    server: DaphneServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """Tasks are installed (search is offered as a task) and the client declares none: a call that cannot run is
    answered as invalid, never counted by the tool's rule."""
    async with rule(admin, "search-api-bad-calls", "key", "1/d"), client_of(server, tokens["beta"]) as beta:
        for _ in range(2):
            bad = await beta.call_tool("search_documentation", {})
            assert bad.is_error and "Invalid arguments" in bad.content[0].text
        assert not (await search(beta))[0]  # the rule's one call is still there
        assert (await search(beta))[0]


async def test_the_key_admin_edits_owner_and_enabled(
    server: DaphneServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """The add and change forms show the owner and enabled fields; unticking enabled there refuses the key."""
    add_page = (await admin.get("/admin/ops/apikey/add/")).text
    assert 'name="owner"' in add_page and 'name="enabled"' in add_page
    name = f"gamma-{uuid.uuid4().hex[:6]}"
    token = await add_key(admin, name)
    async with client_of(server, token) as gamma:
        assert not (await gamma.call_tool("read_documentation", {"url": RDS, "max_length": 100})).is_error
    listing = await admin.get("/admin/ops/apikey/", params={"q": name})
    pk = re.search(r'href="/admin/ops/apikey/(\d+)/change/', listing.text)
    assert pk, listing.text[-2000:]
    change = f"/admin/ops/apikey/{pk.group(1)}/change/"
    page = (await admin.get(change)).text
    assert 'name="owner"' in page and 'name="enabled"' in page and "checked" in page
    edited = await post_form(admin, change, {"name": name, "owner": "", "rate_override": ""})  # enabled unticked
    assert "was changed successfully" in edited.text, edited.text[-2000:]
    async with httpx.AsyncClient(timeout=20) as http:
        reply = await http.post(
            server.mcp_url,
            json=initialize_request(),
            headers={"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 401, reply.text
