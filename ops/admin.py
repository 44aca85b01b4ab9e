"""The operators' console: connections, rate-limit rules, API keys, and the docs cache page."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mcp_gateway import control
from mcp_gateway.sessions import short_id
from ops.forms import ApiKeyForm, RateLimitRuleForm
from ops.models import ApiKey, Connection, RateLimitRule

admin.site.site_header = "awsmcp operations"
admin.site.site_title = "awsmcp"
admin.site.index_title = "Operations"


@admin.register(RateLimitRule)
class RateLimitRuleAdmin(admin.ModelAdmin):
    form = RateLimitRuleForm
    list_display = ("name", "scope", "endpoint", "rate", "limit", "enabled", "updated_at")
    list_editable = ("rate", "enabled")
    list_filter = ("scope", "enabled")
    search_fields = ("name", "endpoint")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "owner", "prefix", "enabled", "rate_override", "created_at", "last_used", "revoked_at")
    list_filter = ("enabled",)
    search_fields = ("name", "prefix", "owner__username")
    readonly_fields = ("prefix", "created_at", "last_used", "revoked_at")
    actions = ("revoke",)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        token = None if change else obj.issue_token()
        super().save_model(request, obj, form, change)
        if token:
            messages.warning(request, f"API key {obj.name}: {token} (shown once; only its hash is kept)")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        from django.utils import timezone

        for key in queryset:
            key.enabled = False
            key.revoked_at = timezone.now()
            key.save()
        self.message_user(
            request,
            f"Revoked {queryset.count()} key(s); their open connections and sessions end within "
            f"{settings.OPS_RULES_POLL + settings.MCP_KEY_REVOCATION_POLL:g} s on every process.",
        )


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # What an operator scans fits a laptop's width; the counters, versions and process are on the detail page.
    list_display = (
        "short_id",
        "client",
        "transport",
        "state",
        "remote_ip",
        "key_name",
        "opened_at",
        "last_activity",
    )
    list_filter = ("state", "transport", "partition")
    search_fields = ("remote_ip", "client_name", "session_id", "key_name")
    # The action keeps its internal name (scripts and tests select it by value); its label says what it does.
    actions = ("close_connections",)
    list_per_page = 100
    change_form_template = "admin/ops/connection/change_form.html"
    fieldsets = (
        (None, {"fields": ("session_id", "state", "transport", "partition", "remote_ip", "key_name")}),
        ("Client", {"fields": ("client_name", "client_version", "protocol_version")}),
        (
            "Activity",
            {"fields": ("opened_at", "last_activity", "last_pong", "messages_in", "messages_out", "bytes_out")},
        ),
        ("Served by", {"fields": ("process", "heartbeat", "closed_at")}),
    )

    @admin.display(description="session")
    def short_id(self, obj: Connection) -> str:
        return short_id(obj.session_id) + "…"

    @admin.display(description="client", ordering="client_name")
    def client(self, obj: Connection) -> str:
        return f"{obj.client_name} {obj.client_version}".strip() or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return False

    @admin.action(description="Disconnect the selected sessions", permissions=["view"])
    def close_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        closed = 0
        for connection in queryset.exclude(state=Connection.State.CLOSED):
            if async_to_sync(control.close_session)(connection.session_id, f"closed by {request.user}"):
                closed += 1
        self.message_user(request, f"Asked {closed} session(s) to close; they leave the list within seconds.")


from ops import audit_admin  # noqa: E402, F401  (the audit trail's page registers itself)
