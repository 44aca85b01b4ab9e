"""The operators' flows in a real headless Chromium against a real Daphne: log in, see live sessions of every
transport, close one, tighten a rule and meet it, purge a page, make an API key. Each flow also captures the
README's screenshots of what it shows (tests/support/browser.py: `shoot`)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import mcp_types as types
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.support.browser import AdminBrowser
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer
from tests.support.raw import ACCEPT_BOTH, LegacySse, request

AWS = "https://docs.aws.amazon.com"
RDS_PATH = "/AmazonRDS/latest/UserGuide/Welcome.html"
PAGES = [RDS_PATH, "/cli/latest/reference/s3/cp.html", "/solutions/latest/constructs/aws-lambda-sns.html"]
CLOSE_ACTION = "close_connections"  # the action's <option value>: its label is for people and may change
CLIENTS = {  # transport -> (the client's name, query string): fixed, so the screenshots stay the same
    "streamable-http": ("sdk-streamable-http", ""),
    "sse": ("sdk-legacy-sse", ""),
    "websocket": ("sdk-websocket", "partition=aws-cn"),
}


def rows_with(driver: WebDriver, *texts: str) -> list[WebElement]:
    """The change list's rows whose text holds every one of `texts`."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    return [row for row in rows if all(text in row.text for text in texts)]


def initialize(name: str, version: str = "2025-11-25") -> dict[str, Any]:
    info = {"name": name, "version": "1.0"}
    return request("initialize", {"protocolVersion": version, "capabilities": {}, "clientInfo": info}, msg_id=0)


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
Ended = Callable[[float], Awaitable[None]]


@asynccontextmanager
async def live_stream(server: DaphneServer, transport: str, name: str) -> AsyncIterator[Ended]:
    """A session named `name` holding an open stream on `transport`; yields a wait for the server to end it."""
    async with httpx.AsyncClient(timeout=15) as http:
        if transport == "sse":
            async with LegacySse(http, server.sse_url) as sse:
                assert (await sse.post(initialize(name, "2024-11-05"))).status_code == 202
                assert "result" in await sse.next_message()
                await sse.post(INITIALIZED)
                yield sse.until_closed
        elif transport == "streamable-http":
            opened = await http.post(server.mcp_url, json=initialize(name), headers={"accept": ACCEPT_BOTH})
            assert opened.status_code == 200, opened.text
            headers = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            await http.post(server.mcp_url, json=INITIALIZED, headers={**headers, "accept": ACCEPT_BOTH})
            listen = {**headers, "accept": "text/event-stream"}
            async with http.stream("GET", server.mcp_url, headers=listen, timeout=None) as stream:
                assert stream.status_code == 200

                async def drained(timeout: float) -> None:
                    await asyncio.wait_for(_drain(stream.aiter_lines()), timeout)
                    ping = await http.post(server.mcp_url, json=request("ping", msg_id=9), headers=listen)
                    assert ping.status_code == 404, ping.text  # and the session is gone, not only its stream

                yield drained
        else:
            async with connect(server.ws_url, subprotocols=[Subprotocol("mcp")]) as ws:
                await ws.send(json.dumps(initialize(name)))
                assert "result" in json.loads(await ws.recv())
                await ws.send(json.dumps(INITIALIZED))

                async def closed(timeout: float) -> None:
                    await asyncio.wait_for(ws.wait_closed(), timeout)
                    code = ws.close_code
                    assert code == 1000 or (code is not None and 3000 <= code <= 4999), code

                yield closed


async def _drain(lines: AsyncIterator[str]) -> None:
    async for _line in lines:
        pass


def test_log_in(browser: AdminBrowser) -> None:
    browser.driver.delete_all_cookies()
    browser.logged_in = False
    browser.go("/admin/ops/connection/")
    browser.wait(lambda d: "/admin/login/" in d.current_url, "the redirect to the login page")
    browser.fill("#id_username", "operator")
    browser.fill("#id_password", "not-the-password")
    browser.find("#login-form [type=submit]").click()
    error = browser.find(".errornote")
    browser.check("correct username and password" in error.text, f"a refused login says why: {error.text!r}")
    browser.log_in()
    browser.check("awsmcp operations" in browser.text(), "the site header after logging in")


async def test_live_sessions_of_every_transport_are_listed(admin: AdminBrowser, server: DaphneServer) -> None:
    for path in PAGES:  # figures for the cache page's screenshot, read before the listed sessions open
        async with open_session(server, "streamable-http") as reader:
            await reader.call_tool("read_documentation", {"url": AWS + path, "max_length": 2000})
    async with AsyncExitStack() as stack:
        for transport, (name, query) in CLIENTS.items():
            info = types.Implementation(name=name, version="2.3.0")
            await stack.enter_async_context(open_session(server, transport, query=query, client_info=info))

        def listed(driver: WebDriver) -> bool:
            return all(rows_with(driver, name, transport) for transport, (name, _q) in CLIENTS.items())

        await asyncio.to_thread(admin.go, "/admin/ops/connection/?state__exact=active")
        await asyncio.to_thread(admin.wait_reloading, listed, "a row per transport with its client's name")

        # One active row per client: counted among the rows of these three names only, so that a session another
        # flow left open (whatever the tests' order) does not fail this one.
        def one_each(driver: WebDriver) -> bool:
            return all(len(rows_with(driver, name)) == 1 for name, _q in CLIENTS.values())

        await asyncio.to_thread(admin.wait_reloading, one_each, "one active row per client")
        await asyncio.to_thread(admin.shoot, "connections.png")

        def open_detail() -> None:
            row = rows_with(admin.driver, CLIENTS["websocket"][0])[0]
            row.find_element(By.CSS_SELECTOR, "th a").click()
            admin.wait(lambda d: "/change/" in d.current_url, "the connection's detail page")
            page = admin.text()
            admin.check(CLIENTS["websocket"][0] in page and "aws-cn" in page, "the detail shows client and partition")

        await asyncio.to_thread(open_detail)
        await asyncio.to_thread(admin.shoot, "connection-detail.png")


def _close_from_list(admin: AdminBrowser, name: str) -> None:
    """Find the session by its client's name with the search box, tick it and run the close action."""
    admin.go("/admin/ops/connection/")
    admin.fill("#searchbar", name)
    admin.find("#changelist-search [type=submit]").click()
    admin.wait(lambda d: "q=" in d.current_url, "the search's results page")
    rows = admin.wait_reloading(lambda d: rows_with(d, name), f"the row of {name}")
    admin.check(len(rows) == 1, f"one row for {name}, not {len(rows)}")
    admin.run_action(CLOSE_ACTION, rows)
    message = admin.wait(lambda d: admin.messages(), "the action's message")
    admin.check("Asked 1 session(s) to close" in message, f"the action asked one session to close: {message!r}")


@pytest.mark.parametrize("transport", ["streamable-http", "sse", "websocket"])
async def test_a_session_closed_from_the_admin_ends_its_stream(
    admin: AdminBrowser, server: DaphneServer, transport: str
) -> None:
    name = f"close-{transport}-{uuid.uuid4().hex[:8]}"
    async with live_stream(server, transport, name) as ended:
        await asyncio.to_thread(_close_from_list, admin, name)
        await ended(10)  # the client sees the server end its stream
    await asyncio.to_thread(
        admin.wait_reloading, lambda d: rows_with(d, name, "closed"), f"the row of {name} shown closed"
    )
    assert server.alive()


def _set_rate(admin: AdminBrowser, rule: str, rate: str, shot: str = "") -> str:
    """Open the rule from the rules list, write `rate` (and capture the form as `shot`), save; returns the rate it
    had."""
    admin.go("/admin/ops/ratelimitrule/")
    admin.wait(lambda d: d.find_elements(By.LINK_TEXT, rule), f"the rule {rule} in the list")
    admin.driver.find_element(By.LINK_TEXT, rule).click()
    field = admin.find("#id_rate")
    before = field.get_attribute("value") or ""
    admin.fill("#id_rate", rate)
    if shot:
        admin.shoot(shot)
    admin.find("input[name=_save]").click()
    message = admin.wait(lambda d: admin.messages(), "the save's message")
    admin.check("was changed successfully" in message, f"the rule was saved: {message!r}")
    return before


async def _statuses_until(server: DaphneServer, wanted: int, limit: int = 200) -> list[int]:
    """Initialize requests until one answers `wanted` (rules reload within OPS_RULES_POLL, so not at once)."""
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=10) as http:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(statuses) < limit:
            reply = await http.post(server.mcp_url, json=initialize("rule-probe"), headers={"accept": ACCEPT_BOTH})
            statuses.append(reply.status_code)
            if reply.status_code == wanted:
                if wanted == 429:
                    assert int(reply.headers["retry-after"]) > 0
                    assert reply.json()["error"]["message"].startswith("Too Many Requests")
                return statuses
            await asyncio.sleep(0.1)  # the rules reload on their own clock: ask again shortly
    raise AssertionError(f"no {wanted} among {statuses}")


async def test_a_rule_tightened_in_the_browser_refuses_the_next_calls(
    admin: AdminBrowser, server: DaphneServer
) -> None:
    await asyncio.to_thread(admin.go, "/admin/ops/ratelimitrule/")
    await asyncio.to_thread(admin.find, "#result_list")
    await asyncio.to_thread(admin.shoot, "rules.png")
    # Three a day. django-ratelimit's windows end at a per-key offset within the period, anywhere in it: with a day
    # the test's few seconds cross an end (and the count starts again) once in thousands of runs; with an hour,
    # once in a few hundred.
    before = await asyncio.to_thread(_set_rate, admin, "per-ip", "3/d", "rule-edit.png")
    try:
        statuses = await _statuses_until(server, 429)
        assert statuses.count(200) <= 3 + 10, statuses  # at most the old rule's last moments, then three
        again = await _statuses_until(server, 429, limit=1)
        assert again == [429]  # refused until the rule changes, not a single refusal
    finally:
        await asyncio.to_thread(_set_rate, admin, "per-ip", before)
    await _statuses_until(server, 200)  # back without a restart


async def test_a_page_purged_from_the_cache_page_is_read_from_the_origin_again(
    admin: AdminBrowser, server: DaphneServer, origin: OriginServer
) -> None:
    for _ in range(2):
        async with open_session(server, "streamable-http") as reader:
            await reader.call_tool("read_documentation", {"url": AWS + RDS_PATH, "max_length": 2000})
    before = origin.hits(RDS_PATH)

    def purge() -> str:
        admin.go("/admin/cache/")
        admin.wait_reloading(lambda d: AWS + RDS_PATH in admin.text(), "the page among the most read")
        admin.shoot("cache.png")
        admin.select("#id_what", "url")
        admin.fill("#id_target", AWS + RDS_PATH)
        admin.find("#id_target").submit()
        return str(admin.find("#purge-report").text)

    report = await asyncio.to_thread(purge)
    assert "removed 1 shared (L2) entries" in report, report
    async with open_session(server, "streamable-http") as reader:
        result = await reader.call_tool("read_documentation", {"url": AWS + RDS_PATH, "max_length": 2000})
        assert not result.is_error
    assert origin.hits(RDS_PATH) - before == 1


# Every token in the page's messages replaced by its prefix and a fixed run of dots (the screenshot stays the same).
MASK_TOKENS = """
for (const item of document.querySelectorAll('.messagelist li')) {
  item.textContent = item.textContent.replace(/amcp_[A-Za-z0-9_-]+/g, 'amcp_' + '\u2022'.repeat(24));
}
"""


async def test_an_api_key_made_in_the_browser_shows_its_token_once_and_opens_a_session(
    admin: AdminBrowser, server: DaphneServer
) -> None:
    name = "browser-agent"

    def create() -> str:
        admin.go("/admin/ops/apikey/add/")
        admin.fill("#id_name", name)
        admin.find("input[name=_save]").click()
        message = admin.wait(lambda d: admin.messages(), "the message with the token")
        found = re.search(r"amcp_[A-Za-z0-9_-]+", message)
        admin.check(found is not None, f"the token in the message: {message!r}")
        assert found
        # The screenshot shows the message with the token masked: a picture in the repository holds no credential.
        admin.driver.execute_script(MASK_TOKENS)
        admin.check(found.group(0) not in admin.driver.page_source, "the token is masked before the screenshot")
        admin.shoot("key-created.png")
        admin.driver.refresh()
        admin.find("#result_list")
        admin.check(found.group(0) not in admin.driver.page_source, "the token is gone after a reload")
        admin.driver.find_element(By.LINK_TEXT, name).click()
        admin.find("#id_name")
        admin.check(found.group(0) not in admin.driver.page_source, "the key's page never shows the token")
        return found.group(0)

    token = await asyncio.to_thread(create)
    async with httpx.AsyncClient(timeout=10) as http:
        bearer = {"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 10
        while True:  # keys reload within OPS_RULES_POLL
            opened = await http.post(server.mcp_url, json=initialize("keyed"), headers=bearer)
            if opened.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert opened.status_code == 200, opened.text
        session = {**bearer, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        await http.post(server.mcp_url, json=INITIALIZED, headers=session)
        listed = await http.post(server.mcp_url, json=request("tools/list", msg_id=2), headers=session)
        assert listed.status_code == 200 and "read_documentation" in listed.text, listed.text
        wrong = await http.post(
            server.mcp_url, json=initialize("keyed"), headers={**bearer, "authorization": f"Bearer {token}x"}
        )
        assert wrong.status_code == 401
