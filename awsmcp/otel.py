"""OpenTelemetry tracing, set up once per process at start-up, and only when an operator asks for it.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, or `OTEL_TRACES_EXPORTER`
names an exporter (`otlp`, `console`); off when neither is, or `OTEL_TRACES_EXPORTER=none`, or
`OTEL_SDK_DISABLED=true`. Off, the SDK is not even imported: `tracer` stays None, and every traced place in
the code pays one check of it. On, spans leave through a BatchSpanProcessor whose queue is bounded by the
SDK's `OTEL_BSP_MAX_QUEUE_SIZE` (2048): when the exporter cannot keep up, the oldest queued spans are dropped,
the request never waits. The SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from awsmcp.process import PROCESS_ID

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

SERVICE_NAME = "awsmcp"  # unless OTEL_SERVICE_NAME or service.name in OTEL_RESOURCE_ATTRIBUTES says otherwise
INSTRUMENTATION = "awsmcp"
_OTLP = frozenset({"otlp", "otlp_proto_http"})
HTTP_PROTOBUF = (
    "http/protobuf"  # the one OTLP protocol of the exporter shipped (opentelemetry-exporter-otlp-proto-http)
)

# The process's tracer while tracing is on; None when it is off (the one check the hot path makes).
tracer: Tracer | None = None
_provider: TracerProvider | None = None


class TracingMisconfigured(ValueError):
    """OTEL_TRACES_EXPORTER names an exporter, or OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL a protocol, not shipped."""


def exporters_wanted(environ: Mapping[str, str]) -> list[str]:
    """The exporters the standard variables ask for: [] means tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if named:
        unknown = sorted(set(named) - _OTLP - {"console", "none"})
        if unknown:
            raise TracingMisconfigured(
                f"OTEL_TRACES_EXPORTER: awsmcp ships the otlp (HTTP/protobuf) and console exporters, not {unknown}"
            )
        wanted = [] if "none" in named else named
    else:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        wanted = ["otlp"] if endpoint else []
    if _OTLP & set(wanted):
        _check_protocol(environ)
    return wanted


def _check_protocol(environ: Mapping[str, str]) -> None:
    """The OTLP exporter shipped speaks HTTP/protobuf: grpc or http/json asked for would fail only at export time,
    every few seconds, in a log nobody reads; refused at start instead."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):  # the first set wins
        protocol = environ.get(name, "").strip().lower()
        if protocol:
            if protocol != HTTP_PROTOBUF:
                raise TracingMisconfigured(
                    f"{name}={protocol}: awsmcp ships the OTLP exporter over {HTTP_PROTOBUF} only"
                )
            return


def setup(exporter: SpanExporter | None = None, *, batch: bool = True) -> TracerProvider | None:
    """Turn tracing on if the environment asks for it (or an exporter is given: tests); the provider, or None.

    Called once per process by the serving entry point (`awsmcp.serve`), never at import: a management command
    or a test run sends nothing. `batch=False` exports each span as it ends (the in-memory exporter of tests)."""
    global tracer, _provider
    names = exporters_wanted(os.environ) if exporter is None else []
    if exporter is None and not names:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # Ours first, the environment's over them (Resource.create reads OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME).
    resource = Resource({"service.instance.id": PROCESS_ID}).merge(Resource.create())
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    for each in [exporter] if exporter is not None else [_exporter(name) for name in dict.fromkeys(names)]:
        provider.add_span_processor(BatchSpanProcessor(each) if batch else SimpleSpanProcessor(each))
    _provider, tracer = provider, provider.get_tracer(INSTRUMENTATION)
    if exporter is None:
        log.info("tracing on: exporting spans with %s", ", ".join(names))
    return provider


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: OTEL_EXPORTER_OTLP_(TRACES_)*


def shutdown() -> None:
    """Send what is queued and stop the exporter thread (at server shutdown, and between tests)."""
    global tracer, _provider
    provider, _provider, tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


def span(name: str) -> contextlib.AbstractContextManager[Span | None]:
    """A child span of whatever span is current, or (tracing off) a shared do-nothing context giving None.

    Callers set attributes only `if span is not None`, so tracing off builds no attribute either."""
    if tracer is None:
        return _NO_SPAN
    return tracer.start_as_current_span(name)
