"""The serving process's adaptations of Daphne and Twisted internals: startup tuning and two bounds.

Written for daphne 4.2.3, Twisted 26.10.0 and autobahn 26.10.2 (the versions pinned in
requirements.txt). `check_internals()` runs first and refuses to start when an attribute patched
here is gone, so an upgrade fails loudly at startup instead of silently losing a bound.

Tuning (each change measured in bench/, each keeps behaviour):
- Twisted parses each POST's Content-Type with the `email` package to look for form data (14% of
  the CPU of cached calls, per py-spy), and formats an access-log line that Daphne's log observer
  throws away. Daphne passes the raw body to ASGI and writes its own access log: neither is read.
- Daphne reaps finished requests once a second, so a second's worth of them (~50 objects each)
  outlives the young GC generations and makes every full collection slower; reap each at once.
- Objects from startup never die: freeze them out of the collector's sight.

Bounds (Daphne gives the ASGI app neither the body as it arrives nor back-pressure on output):
- Request bodies: Twisted spools a whole body to a temp file before Daphne hands it to the app,
  so the app's 413 came after the upload. A declared Content-Length over MCP_MAX_BODY_BYTES is
  refused from the headers, and a chunked body as soon as it passes the limit (`_refuse_body`).
- Unsent output: Daphne writes whatever the app sends into the Twisted transport's buffer, which
  grows without end when the client stops reading. A message that finds more than
  MCP_STREAM_BUFFER_BYTES still unsent aborts the connection instead of being written; the app then
  gets `http.disconnect` / `websocket.disconnect`.
"""

from __future__ import annotations

import functools
import gc
import io
import logging
import tempfile
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger(__name__)

WRITTEN_FOR = {"daphne": "4.2.3", "twisted": "26.10.0", "autobahn": "26.10.2"}


@dataclass
class Bounds:
    """What one connection may make the process hold; set from settings by `tune_daphne`."""

    body_bytes: int = 1024 * 1024  # MCP_MAX_BODY_BYTES
    unsent_bytes: int = 16 * 1024 * 1024  # MCP_STREAM_BUFFER_BYTES
    # After a 413 the rest of the upload is read and dropped for a moment, so that the client, still
    # sending, reads the answer instead of a reset; then the connection is cut.
    linger_seconds: float = 2.0
    linger_bytes: int = 4 * 1024 * 1024


bounds = Bounds()

# A chunked body stays in memory up to this size, as Twisted keeps a declared one (`_getContentFile`).
IN_MEMORY_BODY = 100_000


def _internals() -> dict[str, tuple[Any, list[str]]]:
    from autobahn.twisted.websocket import WebSocketServerProtocol
    from daphne import http_protocol, ws_protocol
    from daphne.server import Server
    from twisted.internet import abstract, tcp
    from twisted.web import http

    return {
        "twisted.web.http": (http, ["_parseContentType", "Request", "HTTPChannel"]),
        "twisted.web.http.Request": (
            http.Request,
            ["gotLength", "handleContentChunk", "requestReceived", "connectionLost"],
        ),
        "twisted.web.http.HTTPChannel": (
            http.HTTPChannel,
            ["dataReceived", "lineReceived", "rawDataReceived", "allHeadersReceived", "setTimeout"],
        ),
        "twisted.internet.abstract.FileDescriptor": (
            abstract.FileDescriptor(reactor=object()),  # type: ignore[arg-type]  # buffers are set in __init__
            ["dataBuffer", "offset", "_tempDataBuffer", "_tempDataLen", "loseWriteConnection"],
        ),
        "twisted.internet.tcp.Connection": (tcp.Connection, ["abortConnection", "connected"]),
        "daphne.http_protocol.WebRequest": (http_protocol.WebRequest, ["handle_reply", "process"]),
        "daphne.http_protocol.HTTPFactory": (http_protocol.HTTPFactory, ["log"]),
        "daphne.ws_protocol.WebSocketProtocol": (ws_protocol.WebSocketProtocol, ["handle_reply"]),
        "daphne.server.Server": (Server, ["create_application", "handle_reply"]),
        "autobahn WebSocketServerProtocol": (WebSocketServerProtocol, ["sendMessage", "transport"]),
    }


def check_internals() -> None:
    """Raise if an internal this module patches is missing; log when the versions differ from WRITTEN_FOR."""
    from importlib.metadata import version

    missing = [
        f"{owner}.{name}" for owner, (obj, names) in _internals().items() for name in names if not hasattr(obj, name)
    ]
    if missing:
        raise RuntimeError(
            "awsmcp.serving was written for "
            + ", ".join(f"{k} {v}" for k, v in WRITTEN_FOR.items())
            + "; these internals are gone: "
            + ", ".join(missing)
        )
    installed = {name: version(name) for name in WRITTEN_FOR}
    if installed != WRITTEN_FOR:
        log.warning("awsmcp.serving was written for %s and runs on %s: check its bounds", WRITTEN_FOR, installed)


def tune_daphne() -> None:
    try:
        from daphne import http_protocol
        from daphne.server import Server
        from twisted.web import http
    except ImportError:  # not running under Daphne (tests of plain modules, management commands)
        return
    from django.conf import settings

    check_internals()
    bounds.body_bytes = settings.MCP_MAX_BODY_BYTES
    bounds.unsent_bytes = settings.MCP_STREAM_BUFFER_BYTES
    bound_request_bodies()
    bound_unsent_output()

    parse = http._parseContentType
    if not hasattr(parse, "cache_info"):
        # Clients send a handful of distinct Content-Type lines; memoizing the parse keeps its result.
        http._parseContentType = functools.lru_cache(maxsize=64)(parse)

    def log_request(self: Any, request: Any) -> None:
        """Daphne logs each request itself (`--access-log`); Twisted's line went nowhere."""

    http_protocol.HTTPFactory.log = log_request  # type: ignore[method-assign]

    create = Server.create_application
    if getattr(create, "reaps", False):
        return

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        queue = create(self, protocol, scope)
        instance = self.connections.get(protocol, {}).get("application_instance")
        if instance is not None:
            instance.add_done_callback(functools.partial(_reap, self, protocol))
        return queue

    create_application.reaps = True  # type: ignore[attr-defined]
    Server.create_application = create_application  # type: ignore[method-assign]


def _reap(server: Any, protocol: Any, instance: Any) -> None:
    """Forget a finished request whose connection is done, as Daphne's checker would a second later.

    Failed or cancelled instances are left to the checker, which logs them."""
    details = server.connections.get(protocol)
    if details is None or details.get("application_instance") is not instance or not details.get("disconnected"):
        return
    if instance.cancelled() or instance.exception() is not None:
        return
    del server.connections[protocol]


# --- request bodies ----------------------------------------------------------------------------
def bound_request_bodies() -> None:
    """Patch Daphne's request class so a body over `bounds.body_bytes` is refused as it arrives."""
    from daphne.http_protocol import WebRequest
    from twisted.web import http

    if getattr(WebRequest.gotLength, "bounded", False):
        return
    received = http.Request.requestReceived

    def gotLength(self: Any, length: int | None) -> None:
        self.body_received = 0
        if length is not None and length > bounds.body_bytes:
            _refuse_body(self, f"a declared body of {length} bytes")
        elif length is None:  # chunked: its size is known only as it arrives
            self.content = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BODY)
        else:
            http.Request.gotLength(self, length)

    def handleContentChunk(self: Any, data: bytes) -> None:
        if getattr(self, "body_refused", False):
            return
        self.body_received += len(data)
        if self.body_received > bounds.body_bytes:
            _refuse_body(self, f"a chunked body past {self.body_received} bytes")
            return
        self.content.write(data)

    def requestReceived(self: Any, command: bytes, path: bytes, version: bytes) -> None:
        if getattr(self, "body_refused", False):  # the rest of a refused body ended in this same read
            return
        received(self, command, path, version)

    gotLength.bounded = True  # type: ignore[attr-defined]
    WebRequest.gotLength = gotLength  # type: ignore[method-assign]
    WebRequest.handleContentChunk = handleContentChunk  # type: ignore[method-assign]
    WebRequest.requestReceived = requestReceived  # type: ignore[method-assign]


def _refuse_body(request: Any, what: str) -> None:
    """Answer 413 at once and never read the body: the rest of the upload is dropped as it comes,
    for at most `bounds.linger_seconds` or `bounds.linger_bytes`, then the connection is cut."""
    from twisted.internet import reactor

    request.body_refused = True
    if request.content is not None:
        request.content.close()  # a spooled part of a chunked body is freed now
    request.content = io.BytesIO()
    channel = request.channel
    transport = channel.transport
    peer = transport.getPeer()
    log.warning(
        "refused %s from %s:%s: the limit is %d bytes",
        what,
        getattr(peer, "host", "?"),
        getattr(peer, "port", "?"),
        bounds.body_bytes,
    )
    message = f"Request body too large: the limit is {bounds.body_bytes} bytes"
    body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})
    transport.write(
        b"HTTP/1.1 413 Content Too Large\r\ncontent-type: application/json\r\n"
        + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        + body
    )
    request.requestHeaders.removeHeader(b"expect")  # no "100 Continue" after the refusal
    dropped = 0

    def drop(data: bytes) -> None:
        nonlocal dropped
        dropped += len(data)
        if dropped > bounds.linger_bytes:
            _abort(transport)

    # The instance attributes shadow the channel's parser for the rest of the connection, including
    # the bytes that came in the same read as the headers.
    channel.dataReceived = channel.lineReceived = channel.rawDataReceived = drop
    channel.setTimeout(None)
    transport.loseWriteConnection()  # the answer, then FIN; the client's close ends the connection
    reactor.callLater(bounds.linger_seconds, _abort, transport)


def _abort(transport: Any) -> None:
    if transport.connected:
        transport.abortConnection()


# --- unsent output -----------------------------------------------------------------------------
def bound_unsent_output() -> None:
    """Patch Daphne's HTTP and WebSocket protocols so a connection whose client stopped reading is cut
    when a message comes while more than `bounds.unsent_bytes` still wait in its transport."""
    from daphne.http_protocol import WebRequest
    from daphne.ws_protocol import WebSocketProtocol

    for protocol_class in (WebRequest, WebSocketProtocol):
        reply = protocol_class.handle_reply
        if getattr(reply, "bounded", False):
            continue

        def handle_reply(self: Any, message: dict[str, Any], reply: Any = reply) -> None:
            # Judged on what is still unsent from earlier messages, so that one large answer to a client
            # that reads is never cut: a client that stopped reading makes the process hold at most the
            # bound plus one message.
            transport = self.transport
            if transport is not None and unsent_bytes(transport) > bounds.unsent_bytes:
                _drop_slow_reader(self, transport)
                return
            reply(self, message)

        handle_reply.bounded = True  # type: ignore[attr-defined]
        protocol_class.handle_reply = handle_reply  # type: ignore[method-assign]


def _descriptor(transport: Any) -> Any:
    """The file descriptor under a transport (TLS wraps the TCP one), which holds the unsent bytes."""
    while transport is not None and not hasattr(transport, "dataBuffer"):
        transport = getattr(transport, "transport", None)
    return transport


def unsent_bytes(transport: Any) -> int:
    """Bytes written to the transport that the kernel has not taken yet (the client is not reading)."""
    fd = _descriptor(transport)
    if fd is None:
        return 0
    return len(fd.dataBuffer) - fd.offset + fd._tempDataLen


def _drop_slow_reader(protocol: Any, transport: Any) -> None:
    fd = _descriptor(transport)
    log.warning(
        "closed %r: its client stopped reading, %d bytes unsent (the limit is %d)",
        protocol,
        unsent_bytes(transport),
        bounds.unsent_bytes,
    )
    transport.abortConnection()
    if fd is not None:  # aborted: nothing will be written, free the bytes now
        fd.dataBuffer, fd.offset, fd._tempDataBuffer, fd._tempDataLen = b"", 0, [], 0


# Allocations between young collections (CPython's default is 700). Every young collection promotes
# what is alive at that instant, in-flight requests included, and enough promotions trigger a full
# collection; with 10,000 open streams (~170 tracked objects each) a full one takes about a second.
YOUNG_GENERATION_THRESHOLD = 20_000


def freeze_startup_heap() -> None:
    """Move everything imported at startup out of the garbage collector's sight, and collect the
    young generation less often.

    Django, Twisted, lxml and the schemas leave ~120,000 long-lived objects, and every full
    collection walked them all: 60-100 ms pauses a few times a second under load, which were the
    whole p95 of cached calls (bench/). They are never freed, so freezing them changes nothing else.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
