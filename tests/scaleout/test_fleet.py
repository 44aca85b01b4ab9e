"""Two Daphne processes, redis-server and PostgreSQL as one server, behind nginx running the shipped
deploy/nginx/awsmcp.conf (least_conn, no stickiness; tests/support/nginx.py templates its ports). Both processes
share Redis (channel layer, caches, rate counters, stream leases) and PostgreSQL (rules, keys, the connections
table), chosen by REDIS_URL and DATABASE_URL alone. Some tests address a process directly to choose where a leg
lands; the others go through nginx.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from docs_proxy.convert import convert
from docs_proxy.paging import chunk_end
from tests.docs_proxy.test_cache import BASE, read
from tests.support.admin import close_from_admin, connection_rows, logged_in
from tests.support.clients import open_session
from tests.support.nginx import Nginx
from tests.support.origin import PAGES, OriginServer
from tests.support.processes import DaphneServer, PostgresServer, RedisServer, daphne, postgres_server, redis_server
from tests.support.raw import (
    ACCEPT_BOTH,
    LegacySse,
    initialize_request,
    request,
    sse_events,
    sse_messages,
    streamable_session,
)

PAGE = "/solutions/latest/constructs/aws-lambda-sns.html"


def page_markdown(path: str) -> str:
    """The Markdown the servers make of a fixture page (the same converter, run here)."""
    name = json.loads((PAGES / "MANIFEST.json").read_text())[BASE + path]
    return convert((PAGES / name).read_text(), BASE + path).markdown


LANDING = "/prescriptive-guidance/latest/migration-aws-environment/building-landing-zones.html"
FLEET_ENV = {
    "OPS_ACTIVITY_FLUSH": "0.5",
    "OPS_CONNECTION_LEASE": "3",
    "OPS_RULES_POLL": "0.5",
    "DOCS_PURGE_POLL": "0.2",
    "MCP_RATELIMIT_ENABLED": "true",
    "MCP_CONFORMANCE_FIXTURES": "1",  # test_reconnection: a tool that hangs up its stream mid-call
    "TRUSTED_PROXIES": "127.0.0.1",  # nginx, as the README says: its X-Forwarded-For names the client
}
CLIENT = "127.0.0.2"  # a client's own loopback address, so the address nginx forwards differs from nginx's own


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def fleet(
    origin: OriginServer, redis: RedisServer, postgres: PostgresServer
) -> Iterator[tuple[DaphneServer, DaphneServer, Nginx]]:
    db = Path(tempfile.mkdtemp(prefix="awsmcp-fleet-")) / "unused.sqlite3"
    env = {**origin.settings_env(), **FLEET_ENV, "REDIS_URL": redis.url, "DATABASE_URL": postgres.url}
    with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
        raise_per_ip_rate(a)
        with Nginx([a.port, b.port]) as proxy:
            yield a, b, proxy


def raise_per_ip_rate(server: DaphneServer) -> None:
    """Hundreds of sessions come from 127.0.0.1 here: lift the default 1000/h per IP for the fleet tests."""
    done = server.manage(
        "shell",
        "-c",
        "from ops.models import RateLimitRule as R; R.objects.filter(name='per-ip').update(rate='100000/h')",
    )
    assert done.returncode == 0, done.stderr


async def test_legacy_sse_post_on_b_reaches_the_stream_on_a(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = fleet
    async with httpx.AsyncClient(timeout=15) as http, LegacySse(http, a.sse_url) as sse:
        sse.post_url = sse.post_url.replace(f":{a.port}/", f":{b.port}/")  # every POST goes to process B
        await sse.initialize()
        for i in range(1, 21):
            assert (await sse.post(request("ping", msg_id=i))).status_code == 202
        replies = [await sse.next_message() for _ in range(20)]
        assert [r["id"] for r in replies] == list(range(1, 21))  # in order, on A's stream


async def test_streamable_session_continues_on_the_other_process(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = fleet
    async with httpx.AsyncClient(timeout=15) as http:
        headers = await streamable_session(http, a.mcp_url)
        call = request(
            "tools/call", {"name": "read_documentation", "arguments": {"url": BASE + PAGE, "max_length": 100}}
        )
        on_b = await http.post(b.mcp_url, json=call, headers={**headers, "accept": "application/json"})
        assert on_b.status_code == 200 and "AWS Documentation from" in on_b.json()["result"]["content"][0]["text"]
        assert (await http.delete(b.mcp_url, headers=headers)).status_code == 204


async def test_a_stream_resumed_on_the_other_process(fleet) -> None:  # type: ignore[no-untyped-def]
    """The call's stream drops on A; a GET with Last-Event-ID on B replays the missed events from Redis."""
    a, b, _ = fleet
    async with httpx.AsyncClient(timeout=15) as http:
        headers = await streamable_session(http, a.mcp_url)
        call = request("tools/call", {"name": "test_reconnection"}, msg_id=42)
        async with http.stream("POST", a.mcp_url, json=call, headers=headers) as response:
            events = [e async for e in sse_events(response)]
        assert all('"id":42' not in e.get("data", "") for e in events)  # A hung up before the reply
        resume = {**headers, "accept": "text/event-stream", "last-event-id": events[-1]["id"]}
        async with http.stream("GET", b.mcp_url, headers=resume) as response:
            assert response.status_code == 200
            messages = [m async for m in sse_messages(response)]
    assert messages[-1]["id"] == 42
    assert messages[-1]["result"]["content"][0]["text"] == "Reconnection test completed successfully"


async def test_legacy_sse_through_nginx(fleet, postgres: PostgresServer) -> None:  # type: ignore[no-untyped-def]
    """The stream and its POSTs each go through nginx; the endpoint event and every reply arrive while the stream
    stays open (proxy_buffering off). least_conn counts the open stream, so it sends every POST to the other
    process, which hands it to the stream through the channel layer."""
    a, b, proxy = fleet
    async with httpx.AsyncClient(timeout=15) as http, LegacySse(http, proxy.sse_url) as sse:
        assert sse.post_url.startswith(f"{proxy.base}/mcp/")  # the endpoint is relative: POSTs go through nginx
        await sse.initialize()
        for i in range(1, 11):
            assert (await sse.post(request("ping", msg_id=i))).status_code == 202
        assert [(await sse.next_message())["id"] for _ in range(10)] == list(range(1, 11))
        session_id = sse.post_url.rsplit("=", 1)[1]
        holder = (await recorded(postgres.url, [session_id]))[session_id][1]
    stream_port = a.port if f"-{a.proc.pid}-" in holder else b.port
    posts = {port for method, status, port in proxy.served(session_id) if method == "POST" and status == 202}
    assert posts == {({a.port, b.port} - {stream_port}).pop()}, (posts, stream_port)


async def test_a_stream_resumed_through_nginx_on_the_other_process(fleet) -> None:  # type: ignore[no-untyped-def]
    """A call's stream drops; the client's GET with Last-Event-ID goes through nginx too, and replays the missed
    events on whichever process nginx picks. Repeated until nginx's log shows the resumption on the other process
    than the call (least_conn alternates idle backends, so the first or second try does)."""
    _a, _b, proxy = fleet
    crossed = []
    async with httpx.AsyncClient(timeout=15) as http:
        for attempt in range(6):
            headers = await streamable_session(http, proxy.mcp_url)
            call = request("tools/call", {"name": "test_reconnection"}, msg_id=42)
            async with http.stream("POST", proxy.mcp_url, json=call, headers=headers) as response:
                events = [e async for e in sse_events(response)]
            assert all('"id":42' not in e.get("data", "") for e in events)  # hung up before the reply
            resume = {**headers, "accept": "text/event-stream", "last-event-id": events[-1]["id"]}
            async with http.stream("GET", proxy.mcp_url, headers=resume) as response:
                assert response.status_code == 200
                messages = [m async for m in sse_messages(response)]
            assert messages[-1]["id"] == 42, (attempt, messages)
            assert messages[-1]["result"]["content"][0]["text"] == "Reconnection test completed successfully"
            legs = [(method, port) for method, _status, port in proxy.served(headers["mcp-session-id"])]
            called = [port for method, port in legs if method == "POST"][-1]
            resumed = [port for method, port in legs if method == "GET"][-1]
            if called != resumed:
                crossed.append(attempt)
                break
    assert crossed, "nginx never sent the resumption to the other process"


async def test_websocket_through_nginx(fleet) -> None:  # type: ignore[no-untyped-def]
    """The shipped Upgrade/Connection headers and the upgrade map carry the MCP WebSocket through nginx."""
    _a, _b, proxy = fleet
    async with open_session(proxy, "websocket") as session:
        result = await session.call_tool("read_documentation", {"url": BASE + PAGE, "max_length": 100})
        assert not result.is_error and result.content[0].text.startswith(f"AWS Documentation from {BASE}{PAGE}")
        await session.send_ping()
        assert [tool.name for tool in (await session.list_tools()).tools]


def alpn(port: int, cafile: Path) -> str | None:
    """The protocol a TLS client offering h2 and http/1.1 gets: "h2" when the listen line enables HTTP/2."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.selected_alpn_protocol()


async def test_the_shipped_tls_listen(fleet) -> None:  # type: ignore[no-untyped-def]
    """The shipped `listen ... ssl http2` line and certificate directives, with a throwaway certificate: HTTP/2 is
    offered, and an MCP session works over TLS, its GET stream open."""
    _a, _b, proxy = fleet
    assert await asyncio.to_thread(alpn, proxy.tls_port, proxy.cert) == "h2"
    trust = ssl.create_default_context(cafile=str(proxy.cert))
    async with httpx.AsyncClient(verify=trust, timeout=15) as http:
        assert (await http.get(f"{proxy.tls_base}/healthz")).status_code == 200
        headers = await streamable_session(http, f"{proxy.tls_base}/mcp")
        call = request(
            "tools/call", {"name": "read_documentation", "arguments": {"url": BASE + PAGE, "max_length": 100}}
        )
        get = {**headers, "accept": "text/event-stream"}
        async with http.stream("GET", f"{proxy.tls_base}/mcp", headers=get) as stream:
            assert stream.status_code == 200
            reply = await http.post(
                f"{proxy.tls_base}/mcp", json=call, headers={**headers, "accept": "application/json"}
            )
        assert "AWS Documentation from" in reply.json()["result"]["content"][0]["text"]


async def test_what_nginx_itself_refuses(fleet) -> None:  # type: ignore[no-untyped-def]
    """The shipped limits act in nginx: /metrics only from the Prometheus network, bodies over 1m refused."""
    _a, _b, proxy = fleet
    async with httpx.AsyncClient(timeout=15) as http:
        assert (await http.get(f"{proxy.base}/healthz")).status_code == 200
        assert (await http.get(f"{proxy.base}/metrics")).status_code == 403
        big = await http.post(proxy.mcp_url, content=b"x" * (1024 * 1024 + 1), headers={"accept": ACCEPT_BOTH})
        assert big.status_code == 413 and "nginx" in big.text


def table_rows(database: str, session_ids: list[str], client_name: str) -> dict[str, tuple[str, str]]:
    """(remote_ip, process) of each session in the connections table, by id (or by client name: a WebSocket client
    never sees its id)."""
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT session_id, client_name, remote_ip, process FROM ops_connection"
            " WHERE session_id = ANY(%s) OR client_name = %s",
            (session_ids, client_name),
        ).fetchall()
    return {name if name == client_name else session: (ip, process) for session, name, ip, process in rows}


async def recorded(database: str, session_ids: list[str], client_name: str = "") -> dict[str, tuple[str, str]]:
    """The rows of these sessions once all are written (behind, within OPS_ACTIVITY_FLUSH)."""
    expected = len(session_ids) + bool(client_name)
    rows: dict[str, tuple[str, str]] = {}
    for _ in range(50):
        rows = await asyncio.to_thread(table_rows, database, session_ids, client_name)
        if len(rows) == expected:
            break
        await asyncio.sleep(0.2)
    return rows


async def test_the_server_records_the_address_nginx_forwards(fleet, postgres: PostgresServer) -> None:  # type: ignore[no-untyped-def]
    """With TRUSTED_PROXIES=127.0.0.1 the connections table names the client nginx saw, not nginx, on every
    transport; the client's own forged X-Forwarded-For counts for nothing, through nginx or straight to a process."""
    a, _b, proxy = fleet
    forged = {"x-forwarded-for": "203.0.113.9"}
    ws_name = f"ws-{secrets.token_hex(6)}"
    hello = initialize_request()
    hello["params"]["clientInfo"]["name"] = ws_name
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT)
    async with (
        httpx.AsyncClient(timeout=15, transport=transport, headers=forged) as http,
        LegacySse(http, proxy.sse_url) as sse,
        connect(
            proxy.ws_url, subprotocols=[Subprotocol("mcp")], local_addr=(CLIENT, 0), additional_headers=forged
        ) as ws,
    ):
        through = (await streamable_session(http, proxy.mcp_url))["mcp-session-id"]
        direct = (await streamable_session(http, a.mcp_url))["mcp-session-id"]
        await sse.initialize()
        legacy = sse.post_url.rsplit("=", 1)[1]
        await ws.send(json.dumps(hello))
        assert "result" in json.loads(await ws.recv())
        rows = await recorded(postgres.url, [through, direct, legacy], ws_name)
    ips = {session: ip for session, (ip, _process) in rows.items()}
    assert ips == {through: CLIENT, direct: CLIENT, legacy: CLIENT, ws_name: CLIENT}


async def test_an_operator_on_b_closes_sessions_held_by_a(fleet) -> None:  # type: ignore[no-untyped-def]
    """The admin's Close connection, served by B, ends A's legacy stream (through its channel) and A's Streamable
    HTTP session (through the control group): the stream ends, and the session is unknown on both processes."""
    a, b, _ = fleet
    admin = await logged_in(b)
    async with httpx.AsyncClient(timeout=15) as http, LegacySse(http, a.sse_url) as sse:
        await sse.initialize()
        legacy_id = sse.post_url.rsplit("=", 1)[1]
        headers = await streamable_session(http, a.mcp_url)
        streamable_id = headers["mcp-session-id"]
        rows: list[str] = []
        for _ in range(50):  # the connections table is written behind, within OPS_ACTIVITY_FLUSH
            listing = await admin.get("/admin/ops/connection/?state__exact=active")
            rows = connection_rows(listing.text, [legacy_id, streamable_id])
            if len(rows) == 2:
                break
            await asyncio.sleep(0.2)
        assert len(rows) == 2, "both sessions listed in B's admin"
        closed = await close_from_admin(admin, rows)
        assert "Asked 2 session(s) to close" in closed.text
        await sse.until_closed(10)  # A's legacy stream ends
        ping = request("ping", msg_id=7)
        for server in (a, b):
            for _ in range(50):
                gone = await http.post(server.mcp_url, json=ping, headers=headers)
                if gone.status_code == 404:
                    break
                await asyncio.sleep(0.2)
            assert gone.status_code == 404, (server.port, gone.status_code, gone.text)
    await admin.aclose()


async def test_streams_closing_on_a_lose_no_message_meant_for_its_other_streams(fleet) -> None:  # type: ignore[no-untyped-def]
    """A's legacy streams share one Redis pop of the channel layer; streams that end while messages for the others
    are being routed from B must not take any of those messages with them."""
    a, b, _ = fleet
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        kept = [await stack.enter_async_context(LegacySse(http, a.sse_url)) for _ in range(10)]
        for sse in kept:
            await sse.initialize()
        on_b = [sse.post_url.replace(f":{a.port}/", f":{b.port}/") for sse in kept]

        async def churn() -> None:  # streams open and end on A all along
            for _ in range(15):
                async with httpx.AsyncClient(timeout=30) as other, LegacySse(other, a.sse_url) as short:
                    await short.initialize()

        async def pings(index: int) -> list[int]:
            answered = []
            for n in range(15):
                body = request("ping", msg_id=1000 + n)
                reply = await http.post(on_b[index], json=body)
                assert reply.status_code == 202, reply.text
                answered.append((await kept[index].next_message(timeout=20))["id"])
            return answered

        results = await asyncio.gather(churn(), churn(), churn(), *(pings(i) for i in range(len(kept))))
        for answered in results[3:]:
            assert answered == [1000 + n for n in range(15)]


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
async def test_a_hundred_sessions_through_nginx(fleet, transport: str) -> None:  # type: ignore[no-untyped-def]
    _a, _b, proxy = fleet

    async def one(i: int) -> str:
        # A hundred SDK clients in this one process plus two servers, Redis and PostgreSQL share 2 cores: the
        # clients' own CPU makes a reply wait. The bounds are for a hang, not for speed (bench.scaleout measures it).
        async with open_session(proxy, transport, http_timeout=90, read_timeout_seconds=90) as session:
            result = await session.call_tool(
                "read_documentation", {"url": BASE + PAGE, "max_length": 100, "start_index": i}
            )
            assert not result.is_error
            await session.send_ping()
            return result.content[0].text

    texts = await asyncio.gather(*(one(i) for i in range(100)))
    markdown = page_markdown(PAGE)
    for i, text in enumerate(texts):
        assert text.startswith(f"AWS Documentation from {BASE}{PAGE}")
        body = text.split("\n\n", 1)[1].split("\n\n<e>Content truncated.")[0]
        assert body == markdown[i : chunk_end(markdown, i, 100)]  # each its own, correct answer


async def test_shared_cache_and_purge_across_processes(fleet, origin: OriginServer) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = fleet
    before = origin.hits(LANDING)
    await read(a, LANDING)
    await read(b, LANDING)
    assert origin.hits(LANDING) - before == 1  # B was served from L2 (Redis)
    done = a.manage("purge_docs_cache", "--url", BASE + LANDING)
    assert "removed 1 shared (L2)" in done.stdout, done.stdout + done.stderr
    await asyncio.sleep(1.0)
    await read(b, LANDING)
    assert origin.hits(LANDING) - before == 2  # B's L1 was emptied too


async def test_one_limit_across_both_processes(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = fleet
    made = a.manage(
        "shell",
        "-c",
        "from ops.models import RateLimitRule; RateLimitRule.objects.create(name='fleet-test', scope='global', endpoint='streamable', rate='10/m')",
    )
    assert made.returncode == 0, made.stderr
    await asyncio.sleep(1.5)  # both processes reload their rules
    statuses = []
    async with httpx.AsyncClient(timeout=10) as http:
        for i in range(12):
            server = a if i % 2 else b
            reply = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
            statuses.append(reply.status_code)
    a.manage(
        "shell", "-c", "from ops.models import RateLimitRule; RateLimitRule.objects.filter(name='fleet-test').delete()"
    )
    await asyncio.sleep(1.5)
    assert statuses.count(200) == 10 and statuses[10:] == [429, 429], statuses


async def test_redis_restart_degrades_then_recovers(fleet, redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = fleet
    await read(a, PAGE)
    redis.stop()
    try:
        during = await read(a, PAGE)  # L1 and the origin still serve
        assert during.startswith("AWS Documentation from")
    finally:
        redis.start()
    await asyncio.sleep(2.0)
    async with httpx.AsyncClient(timeout=15) as http, LegacySse(http, a.sse_url) as sse:
        sse.post_url = sse.post_url.replace(f":{a.port}/", f":{b.port}/")
        await sse.initialize()  # routed A <- B through Redis again, with no restart
        await sse.post(request("ping", msg_id=7))
        assert (await sse.next_message())["id"] == 7
    assert (await read(b, LANDING)).startswith("AWS Documentation from")


async def ended_or_answered(sse: LegacySse, msg_id: int) -> bool:
    """Whether a legacy stream still answers (a ping posted through nginx) or has ended (its process died)."""
    try:
        await sse.post(request("ping", msg_id=msg_id))
        return bool((await sse.next_message(timeout=30))["id"] == msg_id)
    except (StopAsyncIteration, httpx.RemoteProtocolError, httpx.ReadError):
        return False


async def test_a_killed_worker_behind_nginx(origin: OriginServer, redis: RedisServer) -> None:
    """SIGKILL one worker mid-run: streams nginx had sent there end, those on the survivor keep answering, every new
    request lands on the survivor (nginx's proxy_next_upstream passes a refused connection on, and the client never
    sees it), and the dead worker's sessions leave the connections table after OPS_CONNECTION_LEASE."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-kill-")) / "db.sqlite3"  # the embedded database, with Redis
    env = {**origin.settings_env(), **FLEET_ENV, "REDIS_URL": redis.url}
    with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b, Nginx([b.port, a.port]) as proxy:
        raise_per_ip_rate(a)
        async with (
            contextlib.AsyncExitStack() as stack,
            httpx.AsyncClient(timeout=15) as http,
            open_session(a, "streamable-http") as on_a,
            open_session(proxy, "streamable-http") as roaming,
        ):
            streams = [await stack.enter_async_context(LegacySse(http, proxy.sse_url)) for _ in range(4)]
            for sse in streams:  # least_conn spreads the streams over both workers
                await sse.initialize()
            call = {"url": BASE + PAGE, "max_length": 50}
            assert not (await roaming.call_tool("read_documentation", call)).is_error
            await asyncio.sleep(1.0)  # the connections table has B's sessions
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait(timeout=10)

            answered = [await ended_or_answered(sse, 100 + n) for n, sse in enumerate(streams)]
            assert True in answered and False in answered, answered  # streams were on both; A's answer still
            assert not (await on_a.call_tool("read_documentation", call)).is_error  # A's own sessions keep working
            for _ in range(3):  # the client through nginx carries on, whichever process began its session
                assert not (await roaming.call_tool("read_documentation", call)).is_error
            for _ in range(answered.count(False)):  # the clients whose streams ended reconnect, and land on A
                async with LegacySse(http, proxy.sse_url) as again:
                    await again.initialize()
                    assert await ended_or_answered(again, 7)
            for _ in range(4):  # new sessions: every one answered
                assert (
                    await http.post(proxy.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
                ).status_code == 200
            refused = "connect() failed (111: Connection refused) while connecting to upstream"
            assert refused in proxy.error_log() and f"127.0.0.1:{b.port}" in proxy.error_log()

            await asyncio.sleep(5.0)  # longer than OPS_CONNECTION_LEASE
            active = a.manage(
                "shell",
                "-c",
                "from ops.models import Connection as C; print(len(set(C.objects.filter(state='active').values_list('process', flat=True))))",
            )
            assert active.stdout.strip().splitlines()[-1] == "1", active.stdout + active.stderr  # only A's left
