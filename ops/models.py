"""What operators steer from the admin: rate-limit rules, API keys, and the table of connections."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from awsmcp.compat.ratelimit import split_rate
from mcp_gateway.sessions import short_id

TOKEN_PREFIX = "amcp_"


def validate_rate(value: str) -> None:
    """`1000/h`, `5/m`, `10/30s`: what django-ratelimit understands."""
    try:
        count, period = split_rate(value)
    except (ValueError, KeyError, TypeError, AttributeError):  # the parser raises AttributeError on garbage
        raise ValidationError(f"{value!r} is not a rate: write it like 1000/h, 5/m or 10/30s.") from None
    if count < 0 or period <= 0:
        raise ValidationError("A rate needs a count of 0 or more per a period longer than 0.")


def parse_allowlist(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in text.replace(",", "\n").split():
        networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return networks


def validate_allowlist(text: str) -> None:
    try:
        parse_allowlist(text)
    except ValueError as exc:
        raise ValidationError(f"Not an IP address or network: {exc}") from None


def validate_key_name(value: str) -> None:
    """No ":" in a key's name: OAuth principals are named "oauth:<subject>", and no key may pose as one."""
    if ":" in value:
        raise ValidationError("An API key's name cannot contain ':' (OAuth users are named oauth:<subject>).")


# Scopes that cap what a client holds at once, in words: only the rate's count matters (ops.rulebook.COUNTED_SCOPES).
HELD_SCOPES = {
    "streams_per_ip": "concurrent streams per IP",
    "sessions_per_ip": "live sessions per IP",
    "sessions_per_key": "live sessions per API key",
}


class RateLimitRule(models.Model):
    class Scope(models.TextChoices):
        IP = "ip", "per IP"
        KEY = "key", "per API key"
        GLOBAL = "global", "global (all clients together)"
        STREAMS_PER_IP = "streams_per_ip", "concurrent streams per IP"
        SESSIONS_PER_IP = "sessions_per_ip", "live sessions per IP"
        SESSIONS_PER_KEY = "sessions_per_key", "live sessions per API key"

    name = models.CharField(max_length=100, unique=True)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.IP)
    endpoint = models.CharField(
        max_length=100,
        default="*",
        # Escaped: the admin renders help texts as HTML, where a bare <name> is a tag and vanishes.
        help_text="What it covers: * (every MCP endpoint), streamable, sse, websocket, or tool:&lt;name&gt; (one tool).",
    )
    rate = models.CharField(
        max_length=20,
        validators=[validate_rate],
        help_text=(
            "Requests per period, like 1000/h or 5/m. For concurrent streams and live sessions, the count alone "
            "counts (100/h = 100)."
        ),
    )
    enabled = models.BooleanField(default=True)
    allowlist = models.TextField(
        blank=True, validators=[validate_allowlist], help_text="IPs or networks that bypass this rule, one per line."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "rate-limit rule"

    def __str__(self) -> str:
        return f"{self.name}: {self.limit()} on {self.endpoint}"

    def limit(self) -> str:
        """What the rule allows in words: "100 concurrent streams per IP" rather than the "100/h" it is stored as."""
        held = HELD_SCOPES.get(self.scope)
        if held is None:
            return f"{self.rate} {self.get_scope_display()}"
        try:
            count, _period = split_rate(self.rate)
        except (ValueError, KeyError, TypeError, AttributeError):
            return self.rate
        return f"{count} {held}"

    limit.short_description = "limit"  # type: ignore[attr-defined]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_key_name])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    enabled = models.BooleanField(default=True)
    rate_override = models.CharField(
        max_length=20, blank=True, validators=[validate_rate], help_text="Replaces the per-key rate for this key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.name

    def issue_token(self) -> str:
        """Make a new secret; only its hash is stored, so the caller must show it now or never."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix = token[: len(TOKEN_PREFIX) + 8]
        self.token_hash = hash_token(token)
        return token


class Connection(models.Model):
    """One MCP session as the connections table saw it: written at connect and close, activity in batches."""

    class State(models.TextChoices):
        ACTIVE = "active", "active"
        IDLE = "idle", "idle (no open stream)"
        STALE = "stale", "stale (pings unanswered)"
        CLOSED = "closed", "closed"

    session_id = models.CharField(max_length=64, unique=True)
    transport = models.CharField(max_length=20)
    partition = models.CharField(max_length=10)
    client_name = models.CharField(max_length=200, blank=True)
    client_version = models.CharField(max_length=100, blank=True)
    protocol_version = models.CharField(max_length=20, blank=True)
    remote_ip = models.CharField(max_length=64, blank=True)
    # Who opened it: an API key's name, or "oauth:<subject>" for a token (a username or an issuer's `sub`).
    key_name = models.CharField("key or subject", max_length=255, blank=True)
    process = models.CharField(max_length=100)
    opened_at = models.DateTimeField()
    last_activity = models.DateTimeField()
    last_pong = models.DateTimeField(null=True, blank=True)
    messages_in = models.PositiveBigIntegerField(default=0)
    messages_out = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    closed_at = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(help_text="Last time its process said it still holds it.")

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["state", "heartbeat"]), models.Index(fields=["process", "state"])]

    def __str__(self) -> str:
        return f"{self.transport} {short_id(self.session_id)}… {self.remote_ip}"


class AuditEntry(models.Model):
    """One tool call of the audit trail (ops/audit.py): who, what, when, how long, and how it ended.

    Written in batches, pruned by age (OPS_AUDIT_RETENTION_DAYS) and count (OPS_AUDIT_MAX_ROWS); never edited."""

    at = models.DateTimeField("when", help_text="When the call came in.")
    tool = models.CharField(max_length=100)
    # The main argument: the URL(s), the search phrase or query, the service; all of them are in `arguments`.
    target = models.TextField(blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    partition = models.CharField(max_length=10)
    outcome = models.CharField(max_length=40)
    duration_ms = models.FloatField("ms")
    # An API key's name, or "oauth:<subject>" for a token; "" for an anonymous caller (as in the connections table).
    key_name = models.CharField("key or subject", max_length=255, blank=True)
    subject = models.CharField("OAuth subject", max_length=255, blank=True)
    oauth_client = models.CharField("OAuth client", max_length=255, blank=True)
    remote_ip = models.CharField("IP", max_length=64, blank=True)
    # The session id's first 12 characters (as in the access log): enough to find it, not enough to use it.
    session = models.CharField(max_length=12, blank=True)
    client_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["at"]),
            models.Index(fields=["tool", "at"]),
            models.Index(fields=["outcome", "at"]),
            models.Index(fields=["key_name", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.tool} by {self.key_name or 'anonymous'} at {self.at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
