"""When tracing is on (the standard OTEL_* variables), and that off it costs nothing: no provider, no thread."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from awsmcp import otel
from tests.support.processes import ROOT, base_env

OTLP = "http://127.0.0.1:4318"


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": OTLP}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": OTLP + "/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": OTLP, "OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": OTLP, "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_SERVICE_NAME": "docs", "OTEL_BSP_MAX_QUEUE_SIZE": "10"}, []),  # settings for an exporter, none named
    ],
)
def test_the_standard_variables_turn_tracing_on(environ: dict[str, str], wanted: list[str]) -> None:
    assert otel.exporters_wanted(environ) == wanted


def test_an_exporter_awsmcp_does_not_ship_is_refused_by_name() -> None:
    with pytest.raises(otel.TracingMisconfigured, match=r"not \['jaeger'\]"):
        otel.exporters_wanted({"OTEL_TRACES_EXPORTER": "otlp,jaeger"})


def test_off_creates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    assert otel.setup() is None
    assert otel.tracer is None
    assert not [t for t in threading.enumerate() if t.name.startswith("OtelBatch")]
    with otel.span("docs.cache.l1") as span:
        assert span is None


def test_off_setup_never_loads_the_tracing_sdk() -> None:
    """In a fresh interpreter (this one has loaded it for other tests): off, setup imports none of the SDK's
    tracing or exporters. The import chain of the server is not probed: redis-py loads the SDK's metrics itself."""
    probe = (
        "import sys; from awsmcp import otel; assert otel.setup() is None; "
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=base_env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_service_name_defaults_to_awsmcp_and_the_environment_names_it_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setenv("OTEL_SERVICE_NAME", "docs-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-7,team=docs")
    provider = otel.setup(InMemorySpanExporter(), batch=False)
    try:
        assert provider is not None
        attributes = provider.resource.attributes
        assert attributes["service.name"] == "docs-eu"
        assert attributes["service.instance.id"] == "pod-7"  # the operator's word over the process id
        assert attributes["team"] == "docs"
    finally:
        otel.shutdown()
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    provider = otel.setup(InMemorySpanExporter(), batch=False)
    try:
        assert provider is not None
        assert provider.resource.attributes["service.name"] == "awsmcp"
        assert str(provider.resource.attributes["service.instance.id"]).count("-") >= 2  # host-pid-random
    finally:
        otel.shutdown()
