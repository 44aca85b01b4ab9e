"""Tracing on in this process, into the SDK's in-memory exporter (each span exported as it ends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from awsmcp import otel


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    otel.setup(exporter, batch=False)
    try:
        yield exporter
    finally:
        otel.shutdown()
