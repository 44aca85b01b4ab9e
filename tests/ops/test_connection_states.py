"""Open, idle and gone sessions as the admin's Connections page and /metrics show them, on a real Daphne.

A Streamable HTTP client that exits without DELETE leaves its session in the server until the idle sweep: once its
stream is gone and OPS_ACTIVE_WINDOW has passed it is listed as idle and counted as idle, not open.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

from tests.support.admin import csrf_token, logged_in
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import streamable_session

WINDOW = 4.0  # OPS_ACTIVE_WINDOW of the test server: long beside its 0.2 s batches, short for the test's wait
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[DaphneServer]:
    with daphne(OPS_ACTIVITY_FLUSH="0.2", OPS_ACTIVE_WINDOW=str(WINDOW)) as srv:
        yield srv


@asynccontextmanager
async def sdk_session(server: DaphneServer, name: str, delete: bool) -> AsyncIterator[ClientSession]:
    """An SDK client over Streamable HTTP (it opens its GET stream); `delete=False` exits as a killed client would."""
    opener = streamable_http_client(server.mcp_url, terminate_on_close=delete)
    info = Implementation(name=name, version="1")
    async with opener as streams, ClientSession(streams[0], streams[1], client_info=info) as session:
        await session.initialize()
        yield session


def rows(listing: str) -> dict[str, dict[str, str]]:
    """The Connections list's rows by primary key: {column's field name: its text}."""
    found = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", listing, re.S):
        key = re.search(r'name="_selected_action" value="(\d+)"', row)
        if key:
            cells = re.findall(r'<t[dh] class="field-([a-z_]+)[^"]*">(.*?)</t[dh]>', row, re.S)
            found[key.group(1)] = {field: re.sub(r"<[^>]+>", "", text).strip() for field, text in cells}
    return found


def row_of(listing: str, field: str, text: str) -> tuple[str, dict[str, str]] | None:
    return next(((pk, row) for pk, row in rows(listing).items() if text in row.get(field, "")), None)


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    """Wait for a condition the server reaches by its own clock (the batch, the active window)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition was not met in time"
        await asyncio.sleep(0.1)


def gauge(metrics: str, name: str) -> float:
    """A gauge's Streamable HTTP value for the aws partition (0 when it has no such series)."""
    for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", metrics, re.M):
        if 'transport="streamable-http"' in labels and 'partition="aws"' in labels:
            return float(value)
    return 0.0


def detail_field(page: str, field: str) -> str:
    match = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert match, page[-2000:]
    return match.group(1).strip()


async def test_a_client_gone_without_delete_is_idle_while_streams_and_recent_calls_stay_open(
    server: DaphneServer,
) -> None:
    admin = await logged_in(server)
    listing = "/admin/ops/connection/"
    async with (
        sdk_session(server, "streaming-client", delete=True),
        httpx.AsyncClient(timeout=10) as http,
    ):
        busy = await streamable_session(http, server.mcp_url)  # no GET stream: open only while it talks
        async with sdk_session(server, "gone-client", delete=False):
            pass  # exits without DELETE: its GET stream closes, its session stays

        async def gone_is_idle() -> tuple[str, dict[str, str]] | None:
            found = row_of((await admin.get(listing)).text, "client", "gone-client")
            return found if found and found[1]["state"] == "idle (no open stream)" else None

        gone_pk, gone = await until(gone_is_idle)
        assert gone["last_activity"] not in ("", "-")  # idle, with when it last talked
        page = (await admin.get(listing + "?state__exact=active")).text
        assert row_of(page, "client", "streaming-client") is not None  # its GET stream is open: still active
        assert row_of(page, "client", "gone-client") is None

        # A call from the session with no stream: the batch that writes the call writes it as active.
        busy_pk = next(iter(rows((await admin.get(listing + "?q=" + busy["mcp-session-id"])).text)))
        before = int(detail_field((await admin.get(f"{listing}{busy_pk}/change/")).text, "messages_in"))
        listed = await http.post(server.mcp_url, json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, headers=busy)
        assert listed.status_code == 200

        async def busy_written() -> str | None:
            detail = (await admin.get(f"{listing}{busy_pk}/change/")).text
            return detail if int(detail_field(detail, "messages_in")) > before else None

        assert detail_field(await until(busy_written), "state") == "active"

        # /metrics agrees: the streaming and the busy sessions open, the gone one idle (old name kept).
        async def metrics_agree() -> str | None:
            await http.post(server.mcp_url, json={"jsonrpc": "2.0", "id": 6, "method": "ping"}, headers=busy)
            text = (await http.get(server.base + "/metrics")).text
            return text if gauge(text, "awsmcp_open_connections") == 2 else None

        metrics = await until(metrics_agree)
        assert gauge(metrics, "awsmcp_idle_sessions") == 1
        assert "# HELP awsmcp_idle_sessions" in metrics
        assert gone_pk != busy_pk
    await admin.aclose()


async def test_the_list_fits_and_the_detail_page_disconnects_a_session(server: DaphneServer) -> None:
    admin = await logged_in(server)
    async with sdk_session(server, "kicked-client", delete=True):

        async def listed() -> tuple[str, dict[str, str]] | None:
            return row_of((await admin.get("/admin/ops/connection/")).text, "client", "kicked-client 1")

        pk, row = await until(listed)
        assert list(row) == [
            "short_id", "client", "transport", "state", "remote_ip", "key_name", "opened_at", "last_activity"
        ]  # fmt: skip
        detail = (await admin.get(f"/admin/ops/connection/{pk}/change/")).text
        assert 'id="disconnect-session"' in detail and ">Disconnect session</button>" in detail
        assert ">Delete row</a>" in detail and "only removes this record" in detail
        assert 'class="closelink">Close<' not in detail  # no "Close" beside "Delete" any more
        assert detail_field(detail, "messages_in") != ""  # the counters moved here from the list
        # What the browser posts when the button is pressed: the change form's fields to the list's action.
        kicked = await admin.post(
            "/admin/ops/connection/",
            data={
                "csrfmiddlewaretoken": csrf_token(detail),
                "_selected_action": pk,
                "index": "0",
                "action": "close_connections",
            },
            headers={"referer": f"{server.base}/admin/ops/connection/{pk}/change/"},
        )
        assert "Asked 1 session(s) to close" in kicked.text

        async def closed() -> str | None:
            detail = (await admin.get(f"/admin/ops/connection/{pk}/change/")).text
            return detail if detail_field(detail, "state") == "closed" else None

        assert 'id="disconnect-session"' not in await until(closed)  # nothing left to disconnect
    await admin.aclose()


async def test_the_streams_rule_reads_as_concurrent_streams(server: DaphneServer) -> None:
    admin = await logged_in(server)
    page = (await admin.get("/admin/ops/ratelimitrule/")).text
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if ">streams-per-ip<" in r)
    assert '<td class="field-limit">100 concurrent streams per IP</td>' in row
    pk = re.search(r"/admin/ops/ratelimitrule/(\d+)/change/", row).group(1)  # type: ignore[union-attr]
    detail = (await admin.get(f"/admin/ops/ratelimitrule/{pk}/change/")).text
    assert "streams-per-ip: 100 concurrent streams per IP on *" in detail  # the page's title and breadcrumbs
    await admin.aclose()
