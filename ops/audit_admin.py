"""The audit trail in the admin: read-only, filtered by tool, outcome, partition and caller, searched by what and who.

Nobody adds, edits or deletes an entry here: a trail its readers can change proves nothing. Rows leave only by
retention (OPS_AUDIT_RETENTION_DAYS, OPS_AUDIT_MAX_ROWS). The filters' choices come from the catalogue, the API
keys and fixed outcomes and ages, not from SELECT DISTINCT over a table of a million rows, and no date hierarchy
truncates every row's date: each filter is a condition on an indexed column.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from mcp_gateway.catalogue import catalogue
from ops.models import ApiKey, AuditEntry

OUTCOMES = (
    ("ok", "ok"),
    ("tool_error", "tool error"),
    ("refused", "refused (rate)"),
    ("error", "JSON-RPC error"),
    ("cancelled", "cancelled"),
    ("task", "accepted as a task"),
    ("input_required", "input required"),
)


class ToolFilter(admin.SimpleListFilter):
    title = "tool"
    parameter_name = "tool"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = {name for _, name in catalogue.tools} | set(catalogue.everywhere)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        return queryset.filter(tool=self.value()) if self.value() else queryset


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, str], ...]:
        return OUTCOMES

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        value = self.value()
        if value == "error":  # "error -32602" and the like: every JSON-RPC error code
            return queryset.filter(outcome__startswith="error ")
        return queryset.filter(outcome=value) if value else queryset


# Choices no API key can take (a key's name has no ":"): every anonymous call, every OAuth token's.
ANONYMOUS_CHOICE = ":anonymous"
OAUTH_CHOICE = "oauth:"
MAX_KEY_CHOICES = 200  # keys listed as choices at most (a search by name finds the others)


class KeyFilter(admin.SimpleListFilter):
    """By caller: an API key (the choices come from the keys table, not from SELECT DISTINCT over the trail),
    anonymous callers, or OAuth tokens; filtering uses the (key_name, at) index."""

    title = "key or subject"
    parameter_name = "key"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = ApiKey.objects.order_by("name").values_list("name", flat=True)[:MAX_KEY_CHOICES]
        return [(ANONYMOUS_CHOICE, "anonymous"), (OAUTH_CHOICE, "OAuth tokens"), *((name, name) for name in names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        value = self.value()
        if not value:
            return queryset
        if value == ANONYMOUS_CHOICE:
            return queryset.filter(key_name="")
        if value == OAUTH_CHOICE:
            return queryset.filter(key_name__startswith=OAUTH_CHOICE)
        return queryset.filter(key_name=value)


# The ages a reader asks for: a range on the indexed `at`, where a date hierarchy would truncate every row's date.
AGES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7), "30days": timedelta(days=30)}


class AgeFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "since"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, str], ...]:
        return (("hour", "last hour"), ("day", "last day"), ("week", "last week"), ("30days", "last 30 days"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        age = AGES.get(self.value() or "")
        return queryset.filter(at__gte=datetime.now(UTC) - age) if age else queryset


class PartitionFilter(admin.SimpleListFilter):
    title = "partition"
    parameter_name = "partition"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in catalogue.partitions]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        return queryset.filter(partition=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = (
        "at", "tool", "short_target", "outcome", "duration_ms", "key_name", "remote_ip", "client_name", "partition",
        "session",
    )  # fmt: skip
    list_filter = (AgeFilter, ToolFilter, OutcomeFilter, PartitionFilter, KeyFilter)
    search_fields = ("target", "key_name", "subject", "remote_ip", "session", "client_name")
    list_per_page = 100
    show_full_result_count = False  # a COUNT(*) of the whole trail on every page would cost more than the page
    fields = (
        "at", "tool", "target", "arguments", "partition", "outcome", "duration_ms", "key_name", "subject",
        "oauth_client", "remote_ip", "session", "client_name",
    )  # fmt: skip

    @admin.display(description="what", ordering="target")
    def short_target(self, obj: AuditEntry) -> str:
        return obj.target if len(obj.target) <= 80 else obj.target[:80] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
