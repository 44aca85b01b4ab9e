"""awsmcp.serving against the real Daphne and Twisted objects: startup tuning (same behaviour, less work),
the internals check, the request-body bound and the unsent-bytes reading."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from daphne import http_protocol
from daphne.server import Server
from twisted.internet import abstract
from twisted.internet.testing import StringTransport
from twisted.web import http

from awsmcp import serving


def test_tuning_twice_wraps_once_and_keeps_content_type_parsing() -> None:
    serving.tune_daphne()
    parse, create = http._parseContentType, Server.create_application
    serving.tune_daphne()
    assert http._parseContentType is parse and Server.create_application is create
    assert parse(b"application/json; charset=utf-8") == b"application/json"
    assert parse(b"multipart/form-data; boundary=x") == b"multipart/form-data"
    assert parse(b"application/x-www-form-urlencoded") == b"application/x-www-form-urlencoded"
    assert http_protocol.HTTPFactory.log(None, None) is None  # Twisted's own access line is gone


async def test_a_finished_request_is_forgotten_at_once_but_failures_are_left_to_daphne() -> None:
    loop = asyncio.get_running_loop()
    done, failed, running = loop.create_future(), loop.create_future(), loop.create_future()
    done.set_result(None)
    failed.set_exception(RuntimeError("boom"))
    server = SimpleNamespace(
        connections={
            "done": {"application_instance": done, "disconnected": 1.0},
            "failed": {"application_instance": failed, "disconnected": 1.0},
            "open": {"application_instance": done},  # its connection is still up (a WebSocket, say)
            "running": {"application_instance": running, "disconnected": 1.0},
        }
    )
    for name in ("done", "failed", "open"):
        serving._reap(server, name, server.connections[name]["application_instance"])
    assert set(server.connections) == {"failed", "open", "running"}  # Daphne's checker logs the failure


class _Transport(StringTransport):
    """Twisted's test transport, with the half-close a TCP transport has."""

    connected = True

    def loseWriteConnection(self) -> None:
        self.write_closed = True


class _Server:
    """What Daphne's HTTPFactory asks of its server, recording the applications it would start."""

    proxy_forwarded_address_header = None
    root_path = ""
    server_name = "daphne"
    request_buffer_size = 8192

    def __init__(self) -> None:
        self.connections: dict[Any, dict[str, Any]] = {}
        self.started: list[dict[str, Any]] = []
        self.queues: list[asyncio.Queue[dict[str, Any]]] = []

    def protocol_connected(self, protocol: Any) -> None:
        self.connections[protocol] = {}

    def protocol_disconnected(self, protocol: Any) -> None:
        self.connections[protocol]["disconnected"] = True

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        self.started.append(scope)
        self.queues.append(asyncio.Queue())
        return self.queues[-1]


@pytest.fixture(autouse=True)
def _bounds_restored() -> Any:
    saved = dataclasses.replace(serving.bounds)
    yield
    serving.bounds.body_bytes, serving.bounds.unsent_bytes = saved.body_bytes, saved.unsent_bytes


def _channel(limit: int) -> tuple[Any, _Transport, _Server]:
    serving.bounds.body_bytes = limit
    serving.bound_request_bodies()
    server = _Server()
    channel = http_protocol.HTTPFactory(server).buildProtocol(None)
    transport = _Transport()
    channel.makeConnection(transport)
    return channel, transport, server


def test_every_internal_patched_is_there_and_a_missing_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    serving.check_internals()
    monkeypatch.delattr(http_protocol.WebRequest, "handle_reply")
    with pytest.raises(RuntimeError, match=r"daphne\.http_protocol\.WebRequest\.handle_reply"):
        serving.check_internals()


def test_a_declared_length_over_the_limit_gets_413_and_never_reaches_the_app() -> None:
    channel, transport, server = _channel(1000)
    channel.dataReceived(b"POST /mcp HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 413 ") and b"the limit is 1000 bytes" in answer
    assert b"100 Continue" not in answer and transport.write_closed
    channel.dataReceived(b"x" * 5000)  # the rest of the upload is dropped as it comes
    assert server.started == [] and transport.value() == answer


def test_a_chunked_body_is_cut_at_the_limit_even_when_it_ends_in_the_same_read() -> None:
    channel, transport, server = _channel(1000)
    chunk = b"%x\r\n%s\r\n" % (600, b"x" * 600)
    channel.dataReceived(
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n"
    )
    assert transport.value().startswith(b"HTTP/1.1 413 ") and server.started == []


def test_bodies_within_the_limit_reach_the_app_whole() -> None:
    for framing, body in (
        (b"Content-Length: 1000", b"y" * 1000),
        (b"Transfer-Encoding: chunked", b"3e8\r\n" + b"y" * 1000 + b"\r\n0\r\n\r\n"),
    ):
        channel, transport, server = _channel(1000)
        channel.dataReceived(b"POST /mcp HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n" + body)
        assert transport.value() == b"" and len(server.started) == 1
        queue = server.queues[0]
        assert b"".join(queue.get_nowait()["body"] for _ in range(queue.qsize())) == b"y" * 1000


def test_unsent_bytes_are_read_from_the_descriptor_under_any_wrapping() -> None:
    descriptor = abstract.FileDescriptor(reactor=object())  # type: ignore[arg-type]
    descriptor.dataBuffer, descriptor.offset, descriptor._tempDataLen = b"x" * 100, 10, 5
    wrapped = SimpleNamespace(transport=descriptor)  # TLS wraps the TCP transport so
    assert serving.unsent_bytes(descriptor) == serving.unsent_bytes(wrapped) == 95
    assert serving.unsent_bytes(SimpleNamespace(transport=None)) == 0
