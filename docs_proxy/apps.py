from django.apps import AppConfig


class DocsProxyConfig(AppConfig):
    name = "docs_proxy"
    verbose_name = "AWS documentation proxy"

    def ready(self) -> None:
        from docs_proxy import tools
        from mcp_gateway.catalogue import catalogue

        tools.register(catalogue)
