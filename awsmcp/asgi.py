"""ASGI application: MCP routes go to the gateway's own endpoints, everything else to Django.

Importing it changes nothing process-wide: `python -m awsmcp.serve` applies the server's library
adaptations (awsmcp.compat) and freezes the startup heap.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awsmcp.settings")
django_application = get_asgi_application()  # sets Django up before the gateway is imported

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from mcp_gateway.transports.sse import LegacyMessageEndpoint, LegacySseStream  # noqa: E402
from mcp_gateway.transports.streamable import StreamableEndpoint  # noqa: E402
from mcp_gateway.transports.websocket import McpWebsocketConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                path("mcp", StreamableEndpoint.as_asgi()),
                path("mcp/", StreamableEndpoint.as_asgi()),
                path("mcp/sse", LegacySseStream.as_asgi()),
                path("mcp/message", LegacyMessageEndpoint.as_asgi()),
                re_path(r"", django_application),
            ]
        ),
        "websocket": URLRouter([path("mcp/ws", McpWebsocketConsumer.as_asgi())]),
    }
)
