"""Pins for the doors, against a real Daphne: the exact Host and Origin statuses, each of the two body-size caps
on its own path, the per-process stream cap, and the WebSocket's key check, frame limit and rate limit, and the
JSON-RPC code of a rate-limit refusal on HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import ACCEPT_BOTH, initialize_request, request

LIMIT = 64 * 1024
STREAM_CAP = 4
RATE_LIMITED = -32029


@pytest.fixture(scope="module")
def plain(origin: OriginServer) -> Iterator[DaphneServer]:
    """No keys, no request rates; a small body limit and a per-process cap of four streams."""
    with daphne(**origin.settings_env(), MCP_MAX_BODY_BYTES=str(LIMIT), MCP_MAX_CONNECTIONS=str(STREAM_CAP)) as srv:
        yield srv
        assert srv.alive(), srv.log()


RULES = """
from ops.models import RateLimitRule
RateLimitRule.objects.create(name="pinned-http", scope="ip", endpoint="streamable", rate="3/m")
RateLimitRule.objects.create(name="pinned-ws", scope="ip", endpoint="websocket", rate="6/m")
from django.core.management import call_command
call_command("create_api_key", "pinned-agent")
"""


@pytest.fixture(scope="module")
def guarded(origin: OriginServer) -> Iterator[tuple[DaphneServer, str]]:
    """API keys required and request rates on: 3 a minute on Streamable HTTP, 6 a minute on the WebSocket."""
    with daphne(**origin.settings_env(), MCP_AUTH_REQUIRED="true", MCP_RATELIMIT_ENABLED="true") as srv:
        made = srv.manage("shell", "-c", RULES)  # one Django start for the rules and the key
        assert made.returncode == 0, made.stderr
        time.sleep(1.5)  # the rule book reloads within OPS_RULES_POLL (1 s)
        yield srv, made.stdout.strip().splitlines()[-1]
        assert srv.alive(), srv.log()


# --- Host and Origin ------------------------------------------------------------------------------
ENTRANCES = [("POST", "/mcp"), ("GET", "/mcp/sse"), ("POST", "/mcp/message?session_id=x")]


@pytest.mark.parametrize(("method", "path"), ENTRANCES)
async def test_a_foreign_host_gets_421_and_a_foreign_origin_403(plain: DaphneServer, method: str, path: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        url = f"{plain.base}{path}"
        body = initialize_request()
        host = await http.request(method, url, json=body, headers={"accept": ACCEPT_BOTH, "host": "evil.example"})
        assert host.status_code == 421, host.text
        assert "Host not allowed" in host.text
        origin = await http.request(
            method, url, json=body, headers={"accept": ACCEPT_BOTH, "origin": "https://evil.example"}
        )
        assert origin.status_code == 403, origin.text
        assert "Origin not allowed" in origin.text
        both = await http.request(
            method,
            url,
            json=body,
            headers={"accept": ACCEPT_BOTH, "host": "evil.example", "origin": "https://evil.example"},
        )
        assert both.status_code == 421  # the Host is checked first


async def test_a_loopback_origin_and_host_are_let_in(plain: DaphneServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for host in ("localhost", f"127.0.0.1:{plain.port}", "[::1]"):
            reply = await http.post(
                plain.mcp_url,
                json=initialize_request(),
                headers={"accept": ACCEPT_BOTH, "host": host, "origin": f"http://{host}"},
            )
            assert reply.status_code == 200, (host, reply.text)


def test_without_tls_there_is_no_hsts_and_cookies_are_not_secure(plain: DaphneServer) -> None:
    """The counterpart of tests/security/test_pinned_settings.py: these follow MCP_BEHIND_TLS, off here."""
    forged = {"x-forwarded-proto": "https"}  # believed only behind TLS (from a trusted proxy)
    with httpx.Client(base_url=plain.base, timeout=10) as http:
        page = http.get("/admin/login/", headers=forged)
        assert page.status_code == 200
        assert "strict-transport-security" not in page.headers
        assert "; secure" not in page.headers["set-cookie"].lower()
        # Were the request taken for HTTPS, Django's CSRF check would demand a Referer (403 without one).
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None
        login = http.post(
            "/admin/login/",
            data={"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": token.group(1)},
            headers=forged,
        )
        assert login.status_code == 200 and "correct username and password" in login.text, login.status_code


# --- the two body caps, each on its own path ---------------------------------------------------------
def _post_head(port: int, framing: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"accept: {ACCEPT_BOTH}\r\n{framing}\r\n\r\n".encode()
    )
    return sock


def _answer(sock: socket.socket, within: float) -> bytes:
    """What the server sent within `within` seconds (b"" when it said nothing)."""
    sock.settimeout(within)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""
    finally:
        sock.close()


def test_a_declared_length_over_the_limit_is_refused_before_any_body_byte(plain: DaphneServer) -> None:
    """Only the headers' Content-Length can answer here: no byte of the body is ever sent."""
    sock = _post_head(plain.port, f"content-length: {LIMIT + 1}")
    answer = _answer(sock, 3.0)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert f"the limit is {LIMIT} bytes".encode() in answer


def test_a_declared_length_at_the_limit_is_read(plain: DaphneServer) -> None:
    body = json.dumps(request("ping", {"pad": ""})).encode()
    body = body.replace(b'"pad": ""', b'"pad": "' + b"x" * (LIMIT - len(body)) + b'"')
    assert len(body) == LIMIT
    sock = _post_head(plain.port, f"content-length: {LIMIT}")
    sock.sendall(body)
    answer = _answer(sock, 5.0)
    assert not answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(plain: DaphneServer) -> None:
    """No length to judge from: the cap on the bytes as they arrive answers, before the body has ended."""
    sock = _post_head(plain.port, "transfer-encoding: chunked")
    block = 8 * 1024
    for _ in range(LIMIT // block + 2):  # past the limit, and the closing zero-length chunk never comes
        sock.sendall(b"%x\r\n" % block + b"x" * block + b"\r\n")
    answer = _answer(sock, 3.0)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert f"the limit is {LIMIT} bytes".encode() in answer


# --- the per-process stream cap -------------------------------------------------------------------------
async def test_the_process_stream_cap_answers_503(plain: DaphneServer) -> None:
    async def open_stream() -> tuple[int, dict[str, str], asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", plain.port)
        writer.write(b"GET /mcp/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        return int(head[0].split()[1]), headers, writer

    held = [await open_stream() for _ in range(STREAM_CAP)]
    try:
        assert [status for status, _headers, _writer in held] == [200] * STREAM_CAP
        status, headers, writer = await open_stream()
        writer.close()
        assert status == 503 and headers.get("retry-after") == "5"
    finally:
        for _status, _headers, stream in held:
            stream.close()
    await asyncio.sleep(1.0)  # the slots are given back as the streams close
    status, _headers, writer = await open_stream()
    writer.close()
    assert status == 200


# --- the WebSocket ---------------------------------------------------------------------------------------
async def _ws(server: DaphneServer, token: str | None = None) -> ClientConnection:
    headers = {"authorization": f"Bearer {token}"} if token else None
    return await connect(server.ws_url, subprotocols=[Subprotocol("mcp")], additional_headers=headers)


async def _call(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_a_websocket_frame_over_the_limit_is_refused_and_the_socket_stays(plain: DaphneServer) -> None:
    async with await _ws(plain) as ws:
        assert (await _call(ws, initialize_request()))["id"] == 0
        big = request("ping", {"pad": "x" * LIMIT}, msg_id=7)  # a valid ping, only too big
        refused = await _call(ws, big)
        assert refused["error"]["code"] == -32600, refused
        assert "too large" in refused["error"]["message"]
        small = await _call(ws, request("ping", {"pad": "x" * (LIMIT - 100)}, msg_id=8))
        assert small == {"jsonrpc": "2.0", "id": 8, "result": {}}


async def test_the_websocket_handshake_checks_the_api_key(guarded: tuple[DaphneServer, str]) -> None:
    server, token = guarded
    for wrong in (None, token[:-4] + "XXXX", "amcp_nothing"):
        with pytest.raises(InvalidStatus) as refused:
            await _ws(server, wrong)
        assert refused.value.response.status_code == 403
    async with await _ws(server, token) as ws:
        assert "result" in await _call(ws, initialize_request())


async def test_an_open_websocket_is_rate_limited_with_32029_and_stays_open(guarded: tuple[DaphneServer, str]) -> None:
    """6 a minute on the WebSocket (the handshake counts, and other tests' sockets, refused handshakes too: a
    refused credential counts against its address's rate): frames past the budget are refused with the
    rate-limit code, and the connection stays up."""
    server, token = guarded
    async with await _ws(server, token) as ws:
        answers = [await _call(ws, initialize_request())]
        answers += [await _call(ws, request("ping", msg_id=n)) for n in range(1, 7)]
        passed = [("result" in a) for a in answers]
        assert passed == sorted(passed, reverse=True) and not passed[-1], answers
        for refused in answers[passed.count(True) :]:
            assert refused["error"]["code"] == RATE_LIMITED, refused
            assert refused["error"]["message"].startswith("Too Many Requests: rate limit pinned-ws (6/m)")
        await asyncio.wait_for(await ws.ping(), 5)  # still open


async def test_streamable_http_is_rate_limited_with_429_and_32029(guarded: tuple[DaphneServer, str]) -> None:
    server, token = guarded
    headers = {"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        replies = [await http.post(server.mcp_url, json=initialize_request(), headers=headers) for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    refused = replies[3]
    assert refused.headers["retry-after"] == "60"
    assert refused.json()["error"]["code"] == RATE_LIMITED
    assert refused.json()["error"]["message"].startswith("Too Many Requests: rate limit pinned-http (3/m)")
