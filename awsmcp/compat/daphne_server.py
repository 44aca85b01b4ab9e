"""Daphne's server with awsmcp's request and WebSocket classes, and finished requests forgotten at once.

Written for daphne 4.2.3 (and autobahn 26.10.2 under its WebSocket protocol). Daphne's CLI takes a
server class (`CommandLineInterface.server_class`, a public hook), but `Server.run` builds its HTTP and
WebSocket factories from the names `daphne.server.HTTPFactory` and `daphne.server.WebSocketFactory`;
`install()` points those names at the subclasses here, which carry the two bounds (request bodies,
unsent output). That guards security bounds, so on another Daphne the server refuses to start.

Reaping is tuning: Daphne forgets finished requests once a second, so a second's worth of them (~50
objects each) outlives the young GC generations and makes every full collection slower. `Server`
forgets each one as it ends, through Daphne's connection dict (`Server.connections`, private in all
but name); on another Daphne that is skipped with a warning (`REAP_PIN`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import daphne.server
from daphne import http_protocol, ws_protocol
from twisted.web import http

from awsmcp.compat import twisted_buffer, twisted_http
from awsmcp.compat.pins import Pin

log = logging.getLogger(__name__)


def _factories() -> Mapping[str, tuple[object, list[str]]]:
    return {
        "daphne.server": (daphne.server, ["HTTPFactory", "WebSocketFactory"]),
        "daphne.http_protocol.HTTPFactory": (http_protocol.HTTPFactory, ["buildProtocol"]),
        "daphne.ws_protocol.WebSocketFactory": (ws_protocol.WebSocketFactory, ["protocol"]),
        "daphne.ws_protocol.WebSocketProtocol": (ws_protocol.WebSocketProtocol, ["handle_reply", "transport"]),
    }


def _connections() -> Mapping[str, tuple[object, list[str]]]:
    return {"daphne.server.Server": (daphne.server.Server, ["create_application", "application_checker"])}


PIN = Pin("awsmcp.compat.daphne_server", {"daphne": "4.2.3", "autobahn": "26.10.2"}, _factories, guards_bound=True)
REAP_PIN = Pin("awsmcp.compat.daphne_server.Server (reaping)", {"daphne": "4.2.3"}, _connections)


class HTTPFactory(http_protocol.HTTPFactory):
    """Daphne's HTTP factory building the bounded `twisted_http.Request`, without Twisted's access log."""

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = twisted_http.Request
        return protocol

    def log(self, request: http.Request) -> None:
        """Daphne logs each request itself (`--access-log`); Twisted's line went nowhere."""


class WebSocketProtocol(ws_protocol.WebSocketProtocol):
    """Daphne's WebSocket protocol, cutting a client that stopped reading (`twisted_buffer.over_bound`)."""

    def handle_reply(self, message: dict[str, Any]) -> None:
        if not twisted_buffer.over_bound(self):
            super().handle_reply(message)


class WebSocketFactory(ws_protocol.WebSocketFactory):
    protocol = WebSocketProtocol


class Server(daphne.server.Server):
    """Daphne's server, forgetting a finished request as soon as its connection is done."""

    reaps = False  # set by install() when Daphne's connection dict is the one this was written for

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        queue = super().create_application(protocol, scope)
        if self.reaps:
            instance = self.connections.get(protocol, {}).get("application_instance")
            if instance is not None:
                instance.add_done_callback(functools.partial(reap, self, protocol))
        return queue


def reap(server: Any, protocol: Any, instance: Any) -> None:
    """Forget a finished request whose connection is done, as Daphne's checker would a second later.

    Failed or cancelled instances are left to the checker, which logs them."""
    details = server.connections.get(protocol)
    if details is None or details.get("application_instance") is not instance or not details.get("disconnected"):
        return
    if instance.cancelled() or instance.exception() is not None:
        return
    del server.connections[protocol]


def install() -> None:
    """Make Daphne's `Server.run` build the bounded factories; refuse to start if they cannot apply."""
    PIN.fits()
    Server.reaps = REAP_PIN.fits()
    daphne.server.HTTPFactory = HTTPFactory
    daphne.server.WebSocketFactory = WebSocketFactory
