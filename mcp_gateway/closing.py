"""Why the server ends a session, as the WebSocket close codes it sends: the one place they are defined.

Autobahn (Daphne's WebSocket library) accepts from an application only 1000 and 3000-4999, so 1008 ("policy")
itself raises `invalid close code` instead of closing; RFC 6455 leaves 4000-4999 to applications. Legacy SSE and
Streamable HTTP have no close code: their stream ends, and the reason is logged. Clients may read the code to decide
whether reconnecting helps (after 4001 it does; after 4003 only with a new credential).
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    CLOSED_BY_OPERATOR = 4000  # an operator closed it (the admin's "Close connection" action)
    PING_TIMEOUT = 4001  # MCP_PING_MISSES_BEFORE_CLOSE server pings in a row went unanswered
    CREDENTIAL_ENDED = 4003  # its API key or OAuth grant was revoked, or its token expired
    POLICY = 4008  # a server rule: not initialized in time, idle too long, evicted for a session cap (as 1008)
