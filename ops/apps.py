from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from mcp_gateway import directory, protocol
        from mcp_gateway.transports import http
        from ops import metrics, signals  # noqa: F401  (signals: rule and key caches follow admin edits)
        from ops.connections import ConnectionTable

        directory.listeners.extend([ConnectionTable(), metrics.ConnectionGauge()])
        protocol.observers.append(metrics.Observer())
        http.observers.append(metrics.observe_http)
