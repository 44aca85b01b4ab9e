"""Startup tuning of Daphne and Twisted (awsmcp.serving): same behaviour, less work."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from daphne import http_protocol
from daphne.server import Server
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
