"""Ops plugs into the gateway through its public hooks: listeners, observers, the connections and audit writers."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from awsmcp import background
        from mcp_gateway import directory, protocol
        from mcp_gateway.transports import http
        from ops import audit, connections, metrics, signals  # noqa: F401  (signals: rule and key caches follow admin edits)

        background.register(connections.FLUSHER, connections.flush_loop)
        if connections.FLUSHER not in directory.SESSION_LOOPS:  # also on a process that only adopts sessions
            directory.SESSION_LOOPS.append(connections.FLUSHER)
        directory.listeners.extend([connections.ConnectionTable(), metrics.ConnectionGauge()])
        protocol.observers.append(metrics.Observer())
        background.register(audit.WRITER, audit.write_loop)
        protocol.observers.append(audit.AuditTrail())
        http.observers.append(metrics.observe_http)
