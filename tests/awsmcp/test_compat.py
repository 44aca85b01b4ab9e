"""awsmcp.compat against the real Daphne and Twisted objects: a real `daphne.server.Server` subclass built with
the project's application, its real HTTP factory and channel, Twisted's `Request`: the pins, the request-body
bound, the unsent-bytes reading, reaping, and the factories the entry point installs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import daphne.server
import pytest
from daphne import http_protocol, ws_protocol
from twisted.internet import abstract
from twisted.internet.testing import StringTransport

from awsmcp import compat
from awsmcp.compat import daphne_server, pins, twisted_buffer, twisted_http
from awsmcp.compat.bounds import bounds


class _Transport(StringTransport):
    """Twisted's test transport, with the half-close a TCP transport has."""

    connected = True

    def loseWriteConnection(self) -> None:
        self.write_closed = True


@pytest.fixture(autouse=True)
def _bounds_restored() -> Iterator[None]:
    saved = dataclasses.replace(bounds)
    yield
    bounds.body_bytes, bounds.unsent_bytes = saved.body_bytes, saved.unsent_bytes


@pytest.fixture
def server() -> daphne_server.Server:
    """The server `python -m awsmcp.serve` runs, as `Server.run` prepares it before listening."""
    from awsmcp.asgi import application

    built = daphne_server.Server(application, endpoints=["tcp:port=0:interface=127.0.0.1"])
    built.connections = {}
    built.ws_factory = daphne_server.WebSocketFactory(built, server=built.server_name)
    return built


def _channel(server: daphne_server.Server, limit: int) -> tuple[Any, _Transport]:
    bounds.body_bytes = limit
    channel = daphne_server.HTTPFactory(server).buildProtocol(None)
    transport = _Transport()
    channel.makeConnection(transport)
    return channel, transport


def _requests(server: daphne_server.Server) -> list[twisted_http.Request]:
    return [protocol for protocol in server.connections if isinstance(protocol, twisted_http.Request)]


async def _finish(server: daphne_server.Server) -> None:
    """Cancel the application instances a test started, so none outlives its event loop."""
    instances = [d["application_instance"] for d in server.connections.values() if "application_instance" in d]
    for instance in instances:
        instance.cancel()
    await asyncio.gather(*instances, return_exceptions=True)


# --- pins -------------------------------------------------------------------------------------
def test_every_pin_fits_the_installed_libraries() -> None:
    for pin in (twisted_http.PIN, twisted_buffer.PIN, daphne_server.PIN, daphne_server.REAP_PIN, *compat.OTHER_PINS):
        assert pin.problems() == [], pin.name
    assert compat.check_all() == [pin.name for pin in compat.OTHER_PINS]


def test_a_bound_whose_internals_are_gone_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(http_protocol.WebRequest, "handle_reply")
    with pytest.raises(pins.IncompatibleLibrary, match=r"daphne\.http_protocol\.WebRequest\.handle_reply is gone"):
        twisted_http.PIN.fits()


def test_another_version_refuses_a_bound_but_only_skips_tuning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pins, "installed", lambda dist: "99.0" if dist == "daphne" else pins.version(dist))
    with pytest.raises(pins.IncompatibleLibrary, match=r"daphne 99\.0 \(written for 4\.2\.3\).*will not start"):
        daphne_server.PIN.fits()
    assert daphne_server.REAP_PIN.fits() is False
    assert "daphne 99.0 (written for 4.2.3)" in caplog.text and "skipped" in caplog.text


def test_install_points_daphnes_server_at_the_bounded_factories(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPFactory", "WebSocketFactory"):
        monkeypatch.setattr(daphne.server, name, getattr(daphne.server, name))  # restored after the test
    monkeypatch.setattr(daphne_server.Server, "reaps", False)
    daphne_server.install()
    assert daphne.server.HTTPFactory is daphne_server.HTTPFactory
    assert daphne.server.WebSocketFactory is daphne_server.WebSocketFactory
    assert daphne_server.Server.reaps is True


# --- the factories ------------------------------------------------------------------------------
def test_the_factories_build_the_bounded_classes_and_keep_daphnes_behaviour(server: daphne_server.Server) -> None:
    channel, _ = _channel(server, 1000)
    assert channel.requestFactory is twisted_http.Request
    assert issubclass(twisted_http.Request, http_protocol.WebRequest)
    assert server.ws_factory.protocol is daphne_server.WebSocketProtocol
    assert issubclass(daphne_server.WebSocketProtocol, ws_protocol.WebSocketProtocol)
    assert daphne_server.HTTPFactory(server).log(None) is None  # type: ignore[arg-type]  # Twisted's line is gone


async def test_a_form_body_reaches_the_app_raw_and_twisted_does_not_parse_it(server: daphne_server.Server) -> None:
    channel, _ = _channel(server, 1000)
    channel.dataReceived(
        b"POST /nowhere?q=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 3\r\n\r\na=1"
    )
    [request] = _requests(server)
    assert request.args == {b"q": [b"1"]}  # the query string only: the form body is left to the application
    assert request.application_queue.get_nowait()["body"] == b"a=1"
    await _finish(server)


# --- the request-body bound ---------------------------------------------------------------------
def test_a_declared_length_over_the_limit_gets_413_and_never_reaches_the_app(server: daphne_server.Server) -> None:
    channel, transport = _channel(server, 1000)
    channel.dataReceived(b"POST /mcp HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 413 ") and b"the limit is 1000 bytes" in answer
    assert b"100 Continue" not in answer and transport.write_closed
    channel.dataReceived(b"x" * 5000)  # the rest of the upload is dropped as it comes
    assert transport.value() == answer
    assert all("application_instance" not in details for details in server.connections.values())


def test_a_chunked_body_is_cut_at_the_limit_even_when_it_ends_in_the_same_read(server: daphne_server.Server) -> None:
    channel, transport = _channel(server, 1000)
    chunk = b"%x\r\n%s\r\n" % (600, b"x" * 600)
    channel.dataReceived(
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n"
    )
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert all("application_instance" not in details for details in server.connections.values())


async def test_bodies_within_the_limit_reach_the_app_whole(server: daphne_server.Server) -> None:
    for framing, body in (
        (b"Content-Length: 1000", b"y" * 1000),
        (b"Transfer-Encoding: chunked", b"3e8\r\n" + b"y" * 1000 + b"\r\n0\r\n\r\n"),
    ):
        earlier = set(_requests(server))
        channel, transport = _channel(server, 1000)
        channel.dataReceived(b"POST /mcp HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n" + body)
        assert transport.value() == b""
        [request] = set(_requests(server)) - earlier
        queue = request.application_queue
        assert b"".join(queue.get_nowait()["body"] for _ in range(queue.qsize())) == b"y" * 1000
    await _finish(server)


# --- the unsent-output bound --------------------------------------------------------------------
def test_unsent_bytes_are_read_from_the_descriptor_under_any_wrapping() -> None:
    descriptor = abstract.FileDescriptor(reactor=object())  # type: ignore[arg-type]
    descriptor.dataBuffer, descriptor.offset, descriptor._tempDataLen = b"x" * 100, 10, 5
    wrapped = SimpleNamespace(transport=descriptor)  # TLS wraps the TCP transport so
    assert twisted_buffer.unsent_bytes(descriptor) == twisted_buffer.unsent_bytes(wrapped) == 95
    assert twisted_buffer.unsent_bytes(SimpleNamespace(transport=None)) == 0


def test_a_reply_over_the_unsent_bound_cuts_the_connection_and_frees_the_buffer() -> None:
    descriptor = abstract.FileDescriptor(reactor=object())  # type: ignore[arg-type]
    descriptor.dataBuffer, descriptor.offset = b"x" * 100, 0
    aborted: list[bool] = []
    descriptor.abortConnection = lambda: aborted.append(True)  # type: ignore[method-assign]
    protocol = SimpleNamespace(transport=descriptor)
    bounds.unsent_bytes = 100
    assert twisted_buffer.over_bound(protocol) is False and aborted == []
    descriptor.dataBuffer += b"x"
    assert twisted_buffer.over_bound(protocol) is True and aborted == [True]
    assert twisted_buffer.unsent_bytes(descriptor) == 0


async def test_both_protocols_cut_a_client_over_the_unsent_bound_instead_of_writing(
    server: daphne_server.Server,
) -> None:
    bounds.unsent_bytes = 100
    channel, _ = _channel(server, 1000)
    channel.dataReceived(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    [request] = _requests(server)
    websocket = server.ws_factory.buildProtocol(None)
    assert isinstance(websocket, daphne_server.WebSocketProtocol)
    websocket.client_addr, websocket.path = ["127.0.0.1", 50000], b"/mcp/ws"  # what its handshake sets
    for protocol, message in (
        (request, {"type": "http.response.start", "status": 200}),
        (websocket, {"type": "websocket.send", "text": "x"}),
    ):
        descriptor = abstract.FileDescriptor(reactor=object())  # type: ignore[arg-type]
        descriptor.dataBuffer, descriptor.offset = b"x" * 101, 0
        aborted: list[bool] = []
        descriptor.abortConnection = lambda aborted=aborted: aborted.append(True)  # type: ignore[method-assign]
        protocol.transport = descriptor
        protocol.handle_reply(message)  # Daphne's own handler would raise or write; it is never reached
        assert aborted == [True] and descriptor.dataBuffer == b""
    await _finish(server)


# --- reaping ------------------------------------------------------------------------------------
async def test_a_finished_request_is_forgotten_at_once_but_failures_are_left_to_daphne(
    server: daphne_server.Server,
) -> None:
    loop = asyncio.get_running_loop()
    done, failed, running = loop.create_future(), loop.create_future(), loop.create_future()
    done.set_result(None)
    failed.set_exception(RuntimeError("boom"))
    server.connections.update(
        {
            "done": {"application_instance": done, "disconnected": 1.0},
            "failed": {"application_instance": failed, "disconnected": 1.0},
            "open": {"application_instance": done},  # its connection is still up (a WebSocket, say)
            "running": {"application_instance": running, "disconnected": 1.0},
        }
    )
    for name in ("done", "failed", "open"):
        daphne_server.reap(server, name, server.connections[name]["application_instance"])
    assert set(server.connections) == {"failed", "open", "running"}  # Daphne's checker logs the failure


async def test_the_server_reaps_a_request_of_the_real_application_as_it_ends(
    server: daphne_server.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daphne_server.Server, "reaps", True)
    channel, transport = _channel(server, 1000)
    channel.dataReceived(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    [details] = server.connections.values()
    await asyncio.wait_for(details["application_instance"], 10)
    assert transport.value().startswith(b"HTTP/1.1 200 ")
    assert server.connections == {}  # forgotten at once, not at Daphne's next check a second later
