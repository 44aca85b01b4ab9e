"""Sessions of one API key never see another's, and a revoked key loses its open connections within seconds.

Two Daphne processes share a real redis-server (channel layer, caches, replayable streams) and one database, with
API keys required; every client below is another key's, and a witness session of its own key keeps reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.admin import logged_in, post_form
from tests.support.origin import OriginServer
from tests.support.processes import ROOT, DaphneServer, RedisServer, base_env, daphne, migrate, redis_server
from tests.support.raw import LegacySse, initialize_request, request, sse_events, streamable_session
from tests.support.witness import Witness, while_witnessed

KEYS = ("alice", "bob", "doomed", "witness")
POLL = 0.5  # MCP_KEY_REVOCATION_POLL and OPS_RULES_POLL here
ENDED_WITHIN = 6.0  # a revoked key's connections end within this (two polls, a reload, and slack)
RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"


def witness(server: DaphneServer, tokens: dict[str, str]) -> Witness:
    """The shared witness, with an API key (this fleet requires one)."""
    return Witness(server, token=tokens["witness"])


@pytest.fixture(scope="module")
def fleet(origin: OriginServer) -> Iterator[tuple[DaphneServer, DaphneServer, dict[str, str]]]:
    db = Path(tempfile.mkdtemp(prefix="awsmcp-isolation-")) / "db.sqlite3"
    with redis_server() as redis:
        env = fleet_env(origin, redis)
        migrate(db, base_env(SQLITE_PATH=str(db), **env))
        tokens = create_keys(db, env, KEYS)
        with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
            yield a, b, tokens


def fleet_env(origin: OriginServer, redis: RedisServer) -> dict[str, str]:
    return {
        **origin.settings_env(),
        "REDIS_URL": redis.url,
        "MCP_AUTH_REQUIRED": "true",
        "MCP_KEY_REVOCATION_POLL": str(POLL),
        "OPS_RULES_POLL": str(POLL),
    }


def create_keys(db: Path, env: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """API keys made as `manage.py create_api_key` makes them, in one process (each start costs seconds)."""
    script = (
        "import json; from ops.models import ApiKey; tokens = {}\n"
        f"for name in {list(names)!r}:\n"
        "    key = ApiKey(name=name); tokens[name] = key.issue_token(); key.save()\n"
        "print(json.dumps(tokens))"
    )
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=base_env(SQLITE_PATH=str(db), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(made.stdout.strip().splitlines()[-1])


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def open_session(http: httpx.AsyncClient, server: DaphneServer, token: str) -> dict[str, str]:
    """A raw Streamable HTTP session of this key; the headers its later requests carry."""
    return await streamable_session(http, server.mcp_url, token=token)


async def streamed_call(http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str]) -> tuple[str, str]:
    """A tool call answered as an event stream: (its first event id, the reply's text)."""
    call = request("tools/call", {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 200}}, 5)
    first_id, text = "", ""
    sse_first = {**headers, "accept": "text/event-stream, application/json"}
    async with http.stream("POST", server.mcp_url, json=call, headers=sse_first) as response:
        assert response.status_code == 200
        async for event in sse_events(response):
            first_id = first_id or event.get("id", "")
            if event.get("data"):
                text = json.loads(event["data"])["result"]["content"][0]["text"]
    assert first_id and "Amazon Relational Database Service" in text
    return first_id, text


async def resume(http: httpx.AsyncClient, server: DaphneServer, headers: dict[str, str], last_event_id: str) -> str:
    """GET with Last-Event-ID: the status, and what the stream carried (empty unless 200)."""
    replayed: list[str] = []
    get = {**headers, "accept": "text/event-stream", "last-event-id": last_event_id}
    async with http.stream("GET", server.mcp_url, headers=get) as response:
        if response.status_code != 200:
            await response.aread()
            return f"{response.status_code} {response.text}"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                async for event in sse_events(response):
                    if event.get("data"):
                        replayed.append(event["data"])
    return "200 " + "\n".join(replayed)


async def test_a_stream_is_replayed_only_to_the_session_that_owns_it(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, tokens = fleet
    async with witness(a, tokens) as seen, httpx.AsyncClient(timeout=15) as http:
        alice = await open_session(http, a, tokens["alice"])
        event_id, _text = await streamed_call(http, a, alice)
        bob_on_a = await open_session(http, a, tokens["bob"])
        bob_on_b = await open_session(http, b, tokens["bob"])
        alice_again = await open_session(http, b, tokens["alice"])  # the same key, another session
        for intruder in (bob_on_a, bob_on_b, alice_again):
            answer = await resume(http, b if intruder is not bob_on_a else a, intruder, event_id)
            assert answer.startswith("404 ") and "Relational Database" not in answer, answer
        # The owner itself resumes on either process (control: the stream is there to be replayed).
        for server in (b, a):
            answer = await resume(http, server, alice, event_id)
            assert answer.startswith("200 ") and "Relational Database" in answer, answer[:200]
        await while_witnessed(seen)
    seen.assert_unharmed()


@contextlib.asynccontextmanager
async def websocket_session(server: DaphneServer, token: str) -> AsyncIterator[object]:
    async with connect(server.ws_url, subprotocols=["mcp"], additional_headers=auth(token)) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps(initialize_request()))
        assert "result" in json.loads(await ws.recv())
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        yield ws


async def test_a_revoked_key_loses_every_open_connection_on_every_process(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, tokens = fleet
    token = tokens["doomed"]
    admin = await logged_in(b)
    listing = await admin.get("/admin/ops/apikey/")
    found = re.search(r'href="/admin/ops/apikey/(\d+)/change/[^"]*">doomed<', listing.text)
    assert found, listing.text[:500]
    doomed_pk = found.group(1)
    async with (
        witness(a, tokens) as seen_a,
        witness(b, tokens) as seen_b,
        httpx.AsyncClient(timeout=15, headers=auth(token)) as http,
        websocket_session(a, token) as ws,
        LegacySse(http, b.sse_url) as legacy,
    ):
        await legacy.initialize()
        session = await open_session(http, a, token)
        get = {**session, "accept": "text/event-stream"}
        async with http.stream("GET", a.mcp_url, headers=get) as standalone:
            assert standalone.status_code == 200
            await ws.send(json.dumps(request("tools/list", msg_id=2)))  # type: ignore[attr-defined]
            assert "result" in json.loads(await ws.recv())  # type: ignore[attr-defined]

            # Revoked from the admin of the other process: its connections here end as well.
            revoked = await post_form(
                admin, "/admin/ops/apikey/", {"action": "revoke", "_selected_action": doomed_pk, "index": "0"}
            )
            assert "Revoked 1 key(s)" in revoked.text
            started = time.monotonic()

            async def ws_closed() -> int:
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await ws.recv()  # type: ignore[attr-defined]
                return closed.value.rcvd.code if closed.value.rcvd else 0

            async def drained(events: AsyncIterator[object]) -> None:
                with contextlib.suppress(httpx.HTTPError):
                    async for _event in events:
                        pass

            code, _, _ = await asyncio.wait_for(
                asyncio.gather(ws_closed(), drained(legacy.events), drained(sse_events(standalone))), ENDED_WITHIN
            )
            elapsed = time.monotonic() - started
        assert code == 4003  # its credential ended (mcp_gateway.closing.CloseCode.CREDENTIAL_ENDED)
        assert elapsed < ENDED_WITHIN
        # Further calls with the key are refused, on the session it opened and anywhere else.
        for server in (a, b):
            later = await http.post(server.mcp_url, json=request("tools/list", msg_id=3), headers=session)
            assert later.status_code == 401, later.text
            assert later.json()["error"]["message"].startswith("Unauthorized")
        assert (await legacy.post(request("tools/list", msg_id=4))).status_code == 401
        await while_witnessed(seen_a, seen_b)
    await admin.aclose()
    seen_a.assert_unharmed()
    seen_b.assert_unharmed()
