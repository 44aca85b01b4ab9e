from django.apps import AppConfig

from conformance_fixtures import fixtures, listen, mrtr
from conformance_fixtures import tasks as task_fixtures
from mcp_gateway.catalogue import catalogue


class ConformanceFixturesConfig(AppConfig):
    """The conformance suite's fixture tools, resources and prompts; only with MCP_CONFORMANCE_FIXTURES=1."""

    name = "conformance_fixtures"
    verbose_name = "MCP conformance fixtures"

    def ready(self) -> None:
        fixtures.register(catalogue)
        mrtr.register(catalogue)
        listen.register(catalogue)
        task_fixtures.register(catalogue)
