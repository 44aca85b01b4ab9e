import logging

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)


class McpGatewayConfig(AppConfig):
    name = "mcp_gateway"
    verbose_name = "MCP gateway"

    def ready(self) -> None:
        from awsmcp import background
        from mcp_gateway import control, directory, warden
        from mcp_gateway.gate import ALLOW_ALL, get_gate
        from mcp_gateway.protocol import checked_page_size

        background.register("control-listener", control.listen)
        background.register("session-warden", warden.run)
        background.register("session-records", directory.keep_records)
        # Loaded now, so that a wrong MCP_GATE stops the start instead of failing the first request.
        if get_gate() is ALLOW_ALL and settings.MCP_AUTH_REQUIRED:
            log.warning("MCP_GATE is empty: every client is let in, without API keys, rates or stream caps")
        try:  # the server is built on the first request: a wrong bound must stop the start, not fail each request
            checked_page_size(settings.MCP_RESOURCES_PAGE_SIZE)
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
