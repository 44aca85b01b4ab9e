"""The request-body bound, where Twisted receives the body, on Daphne's request class.

Written for Twisted 26.10.0 and daphne 4.2.3. Twisted spools a whole body to a temporary file before
Daphne hands it to the application, so an application's 413 would come after the upload. `Request`
overrides three methods Twisted documents as "not intended for users" (`gotLength`,
`handleContentChunk`, `requestReceived`) and answers from the channel's transport: a declared
Content-Length over MCP_MAX_BODY_BYTES is refused from the headers, a chunked body as soon as it passes
the limit. Skipping this would silently lift the bound, so on another version the server refuses to
start (`PIN.fits()`).

It also turns off Twisted's parsing of form bodies through the public `parsePOSTFormSubmission`
argument: Daphne hands the raw body to the application, so that parse (an `email` Content-Type parse
per POST, 14% of the CPU of cached calls) was never read.
"""

from __future__ import annotations

import inspect
import io
import logging
import tempfile
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import orjson
from daphne.http_protocol import WebRequest
from twisted.web import http

from awsmcp.compat import twisted_buffer
from awsmcp.compat.bounds import bounds
from awsmcp.compat.pins import Pin

log = logging.getLogger(__name__)

# A chunked body stays in memory up to this size, as Twisted keeps a declared one (`_getContentFile`).
IN_MEMORY_BODY = 100_000


def _touches() -> Mapping[str, tuple[object, list[str]]]:
    return {
        "twisted.web.http.Request": (http.Request, ["gotLength", "handleContentChunk", "requestReceived"]),
        "twisted.web.http.Request.__init__": (
            SimpleNamespace(**inspect.signature(http.Request.__init__).parameters),
            ["parsePOSTFormSubmission"],
        ),
        "twisted.web.http.HTTPChannel": (
            http.HTTPChannel,
            ["dataReceived", "lineReceived", "rawDataReceived", "setTimeout"],
        ),
        "daphne.http_protocol.WebRequest": (WebRequest, ["handle_reply", "process"]),
    }


PIN = Pin("awsmcp.compat.twisted_http", {"twisted": "26.10.0", "daphne": "4.2.3"}, _touches, guards_bound=True)


class Request(WebRequest):
    """Daphne's request, refusing a body over `bounds.body_bytes` as it arrives and cutting a client that
    stopped reading its answer (`twisted_buffer.over_bound`)."""

    body_received = 0
    body_refused = False
    content: Any  # Twisted's body file: a spooled file, or an empty one once refused

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(*args, **kwargs)

    def gotLength(self, length: int | None) -> None:
        self.body_received = 0
        if length is not None and length > bounds.body_bytes:
            refuse_body(self, f"a declared body of {length} bytes")
        elif length is None:  # chunked: its size is known only as it arrives
            self.content = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BODY)
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_refused:
            return
        self.body_received += len(data)
        if self.body_received > bounds.body_bytes:
            refuse_body(self, f"a chunked body past {self.body_received} bytes")
            return
        self.content.write(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.body_refused:  # the rest of a refused body ended in this same read
            return
        super().requestReceived(command, path, version)

    def handle_reply(self, message: dict[str, Any]) -> None:
        if not twisted_buffer.over_bound(self):
            super().handle_reply(message)


def refuse_body(request: Request, what: str) -> None:
    """Answer 413 at once and never read the body: the rest of the upload is dropped as it comes,
    for at most `bounds.linger_seconds` or `bounds.linger_bytes`, then the connection is cut."""
    from twisted.internet import reactor as twisted_reactor

    reactor: Any = twisted_reactor  # typed as zope interfaces, which mypy misreads
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
