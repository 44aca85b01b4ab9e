"""The forms staff fill in for rules and keys, shared by the admin and the management commands, so that a value
refused in one is refused in the other with the same message."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mcp_gateway.catalogue import catalogue
from ops.models import ApiKey, RateLimitRule
from ops.rulebook import COUNTED_SCOPES, SCOPE_ENDPOINTS, TOOL_PREFIX, enforced

# The endpoints a rule may name besides tool:<name>: every MCP endpoint, or one transport.
TRANSPORT_ENDPOINTS = ("*", "streamable", "sse", "websocket")


def tool_names() -> list[str]:
    """Every tool this server offers, in any partition."""
    return sorted({tool.name for partition in catalogue.partitions for tool in catalogue.tools_for(partition)})


def validate_endpoint(value: str) -> None:
    """`*`, a transport, or `tool:<name>` naming a tool this server has: a rule on anything else would never count."""
    if value in TRANSPORT_ENDPOINTS:
        return
    if value.startswith(TOOL_PREFIX):
        known = tool_names()
        if value.removeprefix(TOOL_PREFIX) in known:
            return
        raise ValidationError(
            f"This server has no tool {value.removeprefix(TOOL_PREFIX)!r}. Its tools: {', '.join(known)}."
        )
    raise ValidationError(
        f"{value!r} is not an endpoint: write *, streamable, sse, websocket, or tool:<name> (a tool's name)."
    )


class RateLimitRuleForm(forms.ModelForm):
    class Meta:
        model = RateLimitRule
        fields = "__all__"

    def clean_endpoint(self) -> str:
        value: str = self.cleaned_data["endpoint"].strip()
        validate_endpoint(value)
        return value

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        endpoint, scope = data.get("endpoint", ""), data.get("scope", "")
        if endpoint.startswith(TOOL_PREFIX) and scope in COUNTED_SCOPES:
            self.add_error(
                "scope", "A tool:<name> rule counts calls: choose per IP, per API key or global for its scope."
            )
        elif endpoint and not enforced(scope, endpoint):
            label = dict(RateLimitRule.Scope.choices).get(scope, scope)
            self.add_error(
                "endpoint",
                f"Nothing checks {label} on {endpoint}: that scope takes {', '.join(SCOPE_ENDPOINTS[scope])}.",
            )
        return data


class ApiKeyForm(forms.ModelForm):
    """What makes a key valid: its name (stripped, unique, no ':') and its rate override."""

    class Meta:
        model = ApiKey
        fields = ("name", "rate_override")


def form_errors(form: forms.BaseForm) -> str:
    """A form's errors on one line, as a command prints them."""
    return "; ".join(
        f"{field}: {' '.join(messages)}" if field != "__all__" else " ".join(messages)
        for field, messages in form.errors.items()
    )
