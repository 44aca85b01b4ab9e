"""When tracing is on (the standard OTEL_* variables), and that off it costs nothing: no provider, no thread."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from awsmcp import otel
from tests.support.processes import ROOT, base_env, free_port

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


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": OTLP, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
        {  # the traces-specific variable wins over the general one
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        },
    ],
)
def test_an_otlp_protocol_other_than_http_protobuf_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(otel.TracingMisconfigured, match=r"PROTOCOL=.*: awsmcp ships the OTLP exporter over http/p"):
        otel.exporters_wanted(environ)


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": OTLP, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
         "OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},  # tracing off: nothing to refuse
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_EXPORTER": "console"},
    ],
)  # fmt: skip
def test_http_protobuf_or_no_otlp_exporter_is_accepted(environ: dict[str, str]) -> None:
    otel.exporters_wanted(environ)


def test_the_server_refuses_to_start_with_one_line() -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=OTLP, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    done = subprocess.run(
        [sys.executable, "-m", "awsmcp.serve", "-b", "127.0.0.1", "-p", str(free_port()), "awsmcp.asgi:application"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "awsmcp.serve: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: awsmcp ships the OTLP exporter over http/protobuf only"
    )


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
