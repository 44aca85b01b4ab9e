from django.apps import AppConfig


class McpGatewayConfig(AppConfig):
    name = "mcp_gateway"
    verbose_name = "MCP gateway"

    def ready(self) -> None:
        from awsmcp import background
        from mcp_gateway import control, warden

        background.register("control-listener", control.listen)
        background.register("session-warden", warden.run)
