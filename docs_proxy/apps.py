from django.apps import AppConfig


class DocsProxyConfig(AppConfig):
    name = "docs_proxy"
    verbose_name = "AWS documentation proxy"

    def ready(self) -> None:
        from awsmcp import background
        from docs_proxy import housekeeping, tools
        from mcp_gateway.catalogue import catalogue

        tools.register(catalogue)
        background.register("docs-housekeeping", housekeeping.run)
