from django.apps import AppConfig


class DocsProxyConfig(AppConfig):
    name = "docs_proxy"
    verbose_name = "AWS documentation proxy"

    def ready(self) -> None:
        from awsmcp import background
        from docs_proxy import batch, housekeeping, region_tools, resources, tools
        from mcp_gateway.catalogue import catalogue

        tools.register(catalogue)
        region_tools.register(catalogue)
        batch.register(catalogue)
        resources.register(catalogue)
        background.register("docs-housekeeping", housekeeping.run)
