"""`python -m bench.traces`: what tracing costs a request, off (the default) and on, in this process.

A `tools/call` of a trivial tool through the real core (`McpServer.handle_payload`), timed per call in CPU
time, the modes alternating round by round so machine noise hits them alike: off (no SDK: one check of
`awsmcp.otel.tracer`), on with the client's traceparent in `_meta` (a SERVER span, the W3C parse, the
attributes, a BatchSpanProcessor whose exporter discards), and the docs app's child-span helper alone
(`otel.span`) off and on. Medians in microseconds; figures in bench/results/traces.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awsmcp.settings")
    os.environ.setdefault("AWSMCP_DEV", "1")
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _setup_django()
    figures = asyncio.run(measure(args.calls, args.rounds))
    # A shared machine's speed varies several-fold: an empty Python call, timed alike, is the yardstick.
    figures["an empty Python function call"] = round(empty_call_us(), 3)
    print(f"{'mode':<40} {'µs per call (median)':>22}")
    for mode, value in figures.items():
        print(f"{mode:<40} {value:>22.2f}")
    print(f"\nper request, tracing on costs {figures['tools/call, on'] - figures['tools/call, off']:.1f} µs more")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "traces.json").write_text(json.dumps({"median_us": figures, "calls": args.calls}, indent=2))


def empty_call_us(calls: int = 200_000) -> float:
    def nothing() -> None:
        pass

    started = time.process_time()
    for _ in range(calls):
        nothing()
    return (time.process_time() - started) / calls * 1e6


async def measure(calls: int, rounds: int) -> dict[str, float]:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from awsmcp import otel
    from mcp_gateway import jsonrpc, protocol
    from mcp_gateway.catalogue import Catalogue, Tool
    from mcp_gateway.context import RequestContext
    from mcp_gateway.protocol import McpServer
    from mcp_gateway.sessions import ServerSession

    class Discard(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    async def echo(arguments: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "x"}]}

    catalogue = Catalogue()
    catalogue.add_tool(Tool("echo", "echo", {"type": "object", "properties": {}}, echo))
    # The process's tracer as the server wires it; no observers: the audit trail would write bench rows into the
    # dev database, and the metrics are not what is measured here.
    server = McpServer(catalogue, tracer=lambda: otel.tracer)
    protocol.observers.clear()
    session = ServerSession("bench-session", "streamable-http", "aws")
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench"}}
    await server.handle_payload(
        session, jsonrpc.payload_from({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
    )
    params = {"name": "echo", "arguments": {}, "_meta": {"traceparent": TRACEPARENT}}
    payload = jsonrpc.payload_from({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})

    async def tool_calls() -> float:
        started = time.process_time()
        for _ in range(calls):
            await server.handle_payload(session, payload)
        return (time.process_time() - started) / calls * 1e6

    async def spans() -> float:
        started = time.process_time()
        for _ in range(calls):
            with otel.span("docs.cache.l1") as span:
                if span is not None:
                    span.set_attribute("awsmcp.cache.hit", True)
        return (time.process_time() - started) / calls * 1e6

    modes: dict[str, tuple[bool, Callable[[], Any]]] = {
        "tools/call, off": (False, tool_calls),
        "tools/call, on": (True, tool_calls),
        "otel.span() child span, off": (False, spans),
        "otel.span() child span, on": (True, spans),
    }
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, (on, run) in modes.items():
            if on:
                otel.setup(Discard())
            try:
                samples[mode].append(await run())
            finally:
                otel.shutdown()
    return {mode: round(statistics.median(values), 2) for mode, values in samples.items()}


if __name__ == "__main__":
    main()
