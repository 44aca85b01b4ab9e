"""Per-tool rate rules (endpoint `tool:<name>`) against a real Daphne, set in the admin as an operator would to protect
the upstream search API: a refused call is a tool result naming the rule and when to retry, it never reaches the
upstream, other tools and other clients go on, and an edit takes effect at once."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from django.test import override_settings
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_gateway.protocol import REFUSED_META, RETRY_AFTER_META
from ops import rates, rulebook
from tests.ops import conftest
from tests.support.admin import post_form
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.witness import RDS, RDS_TEXT

SEARCH = "tool:search_documentation"


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        **origin.settings_env(), MCP_RATELIMIT_ENABLED="true", MCP_AUTH_REQUIRED="true", OPS_RULES_POLL="0.2"
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def tokens(server: DaphneServer) -> dict[str, str]:
    """Two API keys, two clients (made by the management command, in one process)."""
    made = server.manage("shell", "-c", MAKE_KEYS)
    assert made.returncode == 0, made.stderr
    return dict(line.split(" ", 1) for line in made.stdout.split("\n") if line.startswith(("alpha ", "beta ")))


MAKE_KEYS = """
from io import StringIO
from django.core.management import call_command
for name in ("alpha", "beta"):
    out = StringIO()
    call_command("create_api_key", name, stdout=out)
    print(name, out.getvalue().strip())
"""


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
    Hourly rates: a counter's window does not roll over during a test."""
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
    listing = await admin.get("/admin/ops/ratelimitrule/")
    assert not any(name in listing.text for name in (">typo<", ">nonsense<", ">streams-of-a-tool<"))


async def test_a_per_key_rule_stops_that_tool_for_that_key_only(
    server: DaphneServer, origin: OriginServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with (
        rule(admin, "search-api-per-key", "key", "2/h") as pk,
        client_of(server, tokens["alpha"]) as alpha,
        client_of(server, tokens["beta"]) as beta,
    ):
        upstream = origin.hits("/search")
        assert [(await search(alpha))[0] for _ in range(2)] == [False, False]
        refused, text, meta = await search(alpha)
        assert refused and meta[RETRY_AFTER_META] == 3600
        assert "search-api-per-key" in text and "retry after 3600 s" in text
        assert origin.hits("/search") == upstream + 2  # the refused call never reached the upstream
        # The same client's other tools, and another key's searches, go on.
        page = await alpha.call_tool("read_documentation", {"url": RDS, "max_length": 300})
        assert not page.is_error and RDS_TEXT in page.content[0].text
        assert not (await search(beta))[0]
        # An edit in the admin takes effect at once: no restart, no wait for a poll.
        form = {"name": "search-api-per-key", "scope": "key", "endpoint": SEARCH, "rate": "100/h", "enabled": "on"}
        edited = await post_form(admin, f"/admin/ops/ratelimitrule/{pk}/change/", {**form, "allowlist": ""})
        assert "was changed successfully" in edited.text
        assert not (await search(alpha))[0]


async def test_a_global_rule_counts_every_client_together(
    server: DaphneServer, admin: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    async with (
        rule(admin, "search-api-global", "global", "3/h"),
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
        rule(admin, "search-api-per-ip", "ip", "1/h"),
        client_of(server, tokens["alpha"]) as alpha,
        client_of(server, tokens["beta"]) as beta,
    ):
        assert not (await search(alpha))[0]
        assert (await search(beta))[0]


async def test_a_tool_rule_counts_only_its_tool_and_no_request_rule_counts_tool_calls(book: rulebook.RuleBook) -> None:
    """In process: `tool:<name>` rules meet only calls of that tool; `*` and transport rules never count a call."""
    book.rules += [conftest.rule(931, "key", "1/h", endpoint=SEARCH), conftest.rule(932, "ip", "1/h")]
    with override_settings(MCP_RATELIMIT_ENABLED=True):
        assert await rates.check_tool("192.0.2.93", "k1", "search_documentation") is None
        refusal = await rates.check_tool("192.0.2.93", "k1", "search_documentation")
        assert refusal is not None and refusal.headers == [("retry-after", "3600")]
        assert refusal.message == (
            "Rate limit rule-931 (1/h per API key) on tool search_documentation exceeded; retry after 3600 s"
        )
        assert await rates.check_tool("192.0.2.93", "k2", "search_documentation") is None  # another key
        assert await rates.check_tool("192.0.2.93", "k1", "read_documentation") is None  # another tool
        assert await rates.check_tool("192.0.2.93", "", "search_documentation") is None  # no key: not counted
        # The per-IP `*` rule (1/h) was never spent by those calls: the next request still passes.
        assert await rates.check_rate("192.0.2.93", "k1", "streamable") is None
