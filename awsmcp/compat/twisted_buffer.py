"""The unsent-output bound: how many bytes a client that stopped reading leaves in Twisted's write buffer.

Written for Twisted 26.10.0: it reads `FileDescriptor`'s private buffer fields (`dataBuffer`, `offset`,
`_tempDataBuffer`, `_tempDataLen`), which no public API exposes. Daphne writes whatever the application
sends into that buffer, which grows without end when the client stops reading. This guards a memory
bound, so on another Twisted version the server refuses to start (`PIN.fits()`) instead of losing it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from awsmcp.compat.bounds import bounds
from awsmcp.compat.pins import Pin

log = logging.getLogger(__name__)


def _touches() -> Mapping[str, tuple[object, list[str]]]:
    from twisted.internet import abstract, tcp

    return {
        "twisted.internet.abstract.FileDescriptor": (
            abstract.FileDescriptor(reactor=object()),  # type: ignore[arg-type]  # buffers are set in __init__
            ["dataBuffer", "offset", "_tempDataBuffer", "_tempDataLen"],
        ),
        "twisted.internet.tcp.Connection": (tcp.Connection, ["abortConnection", "connected"]),
    }


PIN = Pin("awsmcp.compat.twisted_buffer", {"twisted": "26.10.0"}, _touches, guards_bound=True)


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


def over_bound(protocol: Any) -> bool:
    """Cut the connection when more than `bounds.unsent_bytes` still wait unsent; True if it was cut.

    Judged on what is still unsent from earlier messages, so that one large answer to a client that
    reads is never cut: a client that stopped reading makes the process hold at most the bound plus
    one message. The application then gets `http.disconnect` / `websocket.disconnect`."""
    transport = protocol.transport
    if transport is None or unsent_bytes(transport) <= bounds.unsent_bytes:
        return False
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
    return True
