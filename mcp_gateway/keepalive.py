"""Server pings on a stream: track the client's answers, and say when it has gone silent."""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings

from mcp_gateway.sessions import ClientReplyError, Emit, ServerSession, short_id

log = logging.getLogger(__name__)


async def ping_until_silent(session: ServerSession, emit: Emit) -> None:
    """Ping every MCP_PING_INTERVAL; return once MCP_PING_MISSES_BEFORE_CLOSE pings in a row went unanswered.

    A missed ping marks the session stale; any answer, even an error, marks it alive again.
    """
    interval = settings.MCP_PING_INTERVAL
    timeout = settings.MCP_PONG_TIMEOUT
    limit = settings.MCP_PING_MISSES_BEFORE_CLOSE
    misses = 0
    while True:
        await asyncio.sleep(interval)
        if not session.initialized:
            continue
        try:
            await session.request(emit, "ping", None, timeout)
        except TimeoutError:
            misses += 1
            session.stale = True
            log.info("session %s missed ping %d of %d", short_id(session.id), misses, limit)
            if misses >= limit:
                return
            continue
        except ClientReplyError:
            pass  # an error reply is still an answer: the client is alive
        misses = 0
        session.stale = False
        session.last_pong = time.time()
