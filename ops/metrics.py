"""Prometheus metrics at /metrics (prometheus_client; multiprocess-safe with PROMETHEUS_MULTIPROC_DIR).

Per-process counters and histograms (requests, tool calls, connections, rate-limited requests) are
summed across processes by prometheus_client's multiprocess mode. The docs cache figures are read
from the fleet-wide stats in the shared cache, so every process reports the same fleet totals: take
`max` across scrape targets, not `sum`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from docs_proxy.housekeeping import fleet_stats
from mcp_gateway import protocol
from mcp_gateway.sessions import short_id

log = logging.getLogger("awsmcp.access")

HTTP_REQUESTS = Counter(
    "awsmcp_http_requests", "MCP HTTP requests by transport, HTTP method and status", ["transport", "method", "status"]
)
MCP_REQUESTS = Counter("awsmcp_mcp_requests", "MCP requests by method and outcome", ["method", "outcome"])
TOOL_SECONDS = Histogram(
    "awsmcp_tool_call_seconds",
    "Tool call latency by tool",
    ["tool"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OPEN_CONNECTIONS = Gauge(
    "awsmcp_open_connections",
    "Open MCP sessions (a stream open, or a message within OPS_ACTIVE_WINDOW s) by transport and partition",
    ["transport", "partition"],
    multiprocess_mode="livesum",
)
IDLE_SESSIONS = Gauge(
    "awsmcp_idle_sessions",
    "Streamable HTTP sessions kept with no open stream and no message within OPS_ACTIVE_WINDOW s",
    ["transport", "partition"],
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter("awsmcp_rate_limited_requests", "Requests refused by a rate limit", ["transport"])


HTTP_METHODS = frozenset({"GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "PATCH"})


@functools.lru_cache(maxsize=1024)
def _child(metric: Any, *values: str) -> Any:
    """A metric's labelled child, looked up once: `labels()` validates and locks on every call."""
    return metric.labels(*values)


class Observer(protocol.Observer):
    """Registered into the protocol core: counts requests and times tool calls."""

    def request_done(self, method: str, tool: str | None, seconds: float, outcome: str) -> None:
        _child(MCP_REQUESTS, method, outcome).inc()
        if tool is not None:
            _child(TOOL_SECONDS, tool).observe(seconds)
            if not log.isEnabledFor(logging.INFO):
                return
            log.info(
                "tool call",
                extra={"event": "tool_call", "tool": tool, "latency_ms": round(seconds * 1000, 3), "outcome": outcome},
            )


def observe_http(endpoint: Any, seconds: float) -> None:
    """Registered into the HTTP transports: one count and one access-log line per request."""
    status = endpoint.status or 499  # 499: the client left before any answer
    method = endpoint.method if endpoint.method in HTTP_METHODS else "other"  # a client may send any token
    _child(HTTP_REQUESTS, endpoint.kind, method, str(status)).inc()
    if status == 429:
        RATE_LIMITED.labels(endpoint.kind).inc()
    if not log.isEnabledFor(logging.INFO):  # ACCESS_LOG_LEVEL=WARNING: skip building the line
        return
    session = getattr(endpoint, "session", None) or getattr(getattr(endpoint, "holder", None), "session", None)
    log.info(
        "request",
        extra={
            "event": "http_request",
            "transport": endpoint.kind,
            "method": endpoint.method,
            "path": endpoint.scope.get("path"),
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
            "session": short_id(session.id) if session is not None else None,
            "client_ip": endpoint.client_ip,
        },
    )


# Which gauge counts each session held here (its id: the gauge, or None when another process counts it): a close
# takes it off the one that counts it.
_counted: dict[str, Any] = {}
_GAUGES = {"open": OPEN_CONNECTIONS, "idle": IDLE_SESSIONS}


class ConnectionGauge:
    """Registered into the session directory: a session opens counted as open; `recount` moves it to idle and back,
    or off the gauges while another process counts it."""

    async def opened(self, holder: Any) -> None:
        _counted[holder.session.id] = OPEN_CONNECTIONS
        _child(OPEN_CONNECTIONS, holder.session.transport, holder.session.partition).inc()

    async def closed(self, holder: Any) -> None:
        gauge = _counted.pop(holder.session.id, None)
        if gauge is not None:
            _child(gauge, holder.session.transport, holder.session.partition).dec()


def recount(holders: list[Any], counts: dict[str, str | None]) -> None:
    """Move sessions between the open and idle gauges (and off them) as the activity batch decided
    (`ops.connections.count_as`: each session counted once fleet-wide, sessions adopted from another process
    included); called on the event loop after every batch."""
    for holder in holders:
        session = holder.session
        if session.id not in counts:
            continue
        was = _counted.get(session.id)
        now_in = _GAUGES.get(counts[session.id] or "")
        if now_in is not was:
            if was is not None:
                _child(was, session.transport, session.partition).dec()
            if now_in is not None:
                _child(now_in, session.transport, session.partition).inc()
            _counted[session.id] = now_in


class DocsCacheCollector:
    """The docs cache's fleet-wide figures, read from the shared cache at scrape time."""

    def collect(self) -> Iterator[Any]:
        try:
            stats = fleet_stats()
        except Exception:  # the shared cache is down: report nothing rather than fail the scrape
            return
        events = CounterMetricFamily("awsmcp_docs_cache_events", "Docs cache events, fleet-wide", labels=["event"])
        for name, value in stats["counters"].items():
            events.add_metric([name], value)
        yield events
        latency = GaugeMetricFamily(
            "awsmcp_docs_origin_latency_seconds", "Origin fetch latency percentiles, fleet-wide", labels=["quantile"]
        )
        for quantile in ("p50", "p95", "p99"):
            value = stats["origin_latency"][quantile]
            if value is not None:
                latency.add_metric([quantile], value)
        yield latency
        ratio = GaugeMetricFamily("awsmcp_docs_cache_hit_ratio", "Hit ratio per layer, fleet-wide", labels=["layer"])
        for layer in ("l1", "l2"):
            value = stats[f"{layer}_hit_ratio"]
            if value is not None:
                ratio.add_metric([layer], value)
        yield ratio
        l1 = GaugeMetricFamily("awsmcp_docs_cache_l1_bytes", "Bytes held by the in-process layers, fleet-wide")
        l1.add_metric([], stats["l1"]["bytes"])
        yield l1


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(DocsCacheCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
