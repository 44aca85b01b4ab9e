from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from mcp_gateway import directory
        from ops import signals  # noqa: F401  (rule and key caches follow admin edits)
        from ops.registry import RegistryListener

        directory.listeners.append(RegistryListener())
