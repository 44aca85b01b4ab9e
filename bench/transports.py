"""`python -m bench.transports`: cached `read_documentation` on every transport against the ceiling.

The ceiling is a bare ASGI app under the same Daphne (bench/ceiling.py) sending the very bytes
awsmcp answers with. For each session count, the ceiling and each transport run alternately,
`--rounds` times; figures are medians, and the ratio to the ceiling is taken within the same round
pairing. All traffic is on loopback; every load is bounded in time; request-rate limits are off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from tests.support.origin import OriginServer  # noqa: E402
from tests.support.processes import base_env, daphne, free_port, stop, wait_for_port  # noqa: E402

PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
CALL = loadgen.tools_call(PAGE)
STATELESS_CALL = loadgen.tools_call(PAGE, meta=loadgen.STATELESS_META)
RESULTS = ROOT / "bench" / "results"
QUIET = {"LOG_LEVEL": "WARNING", "ACCESS_LOG_LEVEL": "WARNING"}

# name -> (session factory given a port, which ceiling it is compared with)
TRANSPORTS: dict[str, tuple[Callable[[int], Any], str]] = {
    "streamable-json": (lambda port: loadgen.HttpSession(port, "/mcp", CALL), "http"),
    "streamable-sse": (lambda port: loadgen.HttpSession(port, "/mcp", CALL, sse=True), "http"),
    "streamable-2026": (
        lambda port: loadgen.HttpSession(
            port, "/mcp", STATELESS_CALL, initialize=False, headers=loadgen.STATELESS_HEADERS
        ),
        "http",
    ),
    "legacy-sse": (lambda port: loadgen.LegacySseSession(port, CALL), "http"),
    "websocket": (lambda port: loadgen.WebSocketSession(port, "/mcp/ws", CALL), "websocket"),
}
CEILINGS: dict[str, Callable[[int], Any]] = {
    "http": lambda port: loadgen.HttpSession(port, "/", CALL, initialize=False),
    "websocket": lambda port: loadgen.WebSocketSession(port, "/", CALL, initialize=False),
}


def answer_bytes(port: int) -> bytes:
    """awsmcp's answer to the benchmark's call (it also warms the cache)."""

    async def once() -> bytes:
        session = loadgen.HttpSession(port, "/mcp", CALL)
        await session.open()
        _, _, body = await session.post(CALL)
        session.close()
        return body

    return asyncio.run(once())


@contextmanager
def ceiling_server(body: bytes) -> Iterator[int]:
    with tempfile.NamedTemporaryFile(prefix="awsmcp-ceiling-", suffix=".json") as handle:
        handle.write(body)
        handle.flush()
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "awsmcp.serve", "--verbosity", "0", "-b", "127.0.0.1", "-p", str(port),
             "bench.ceiling:app"],
            cwd=ROOT, env=base_env(BENCH_CEILING_BODY=handle.name),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_port(port, proc=proc)
            yield port
        finally:
            stop(proc)


def measure(
    server_port: int, ceiling_port: int, transports: list[str], counts: list[int], seconds: float, rounds: int
) -> list[dict[str, Any]]:
    rows = []
    for count in counts:
        for name in transports:
            factory, ceiling_kind = TRANSPORTS[name]
            top, ours = loadgen.alternate(
                lambda: [CEILINGS[ceiling_kind](ceiling_port) for _ in range(count)],  # noqa: B023 - called at once
                lambda: [factory(server_port) for _ in range(count)],  # noqa: B023
                rounds,
                seconds,
            )
            row = summarize(name, count, ours, top)
            rows.append(row)
            print_row(row)
    return rows


def summarize(name: str, count: int, ours: list[dict], top: list[dict]) -> dict[str, Any]:
    def median(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "transport": name,
        "sessions": count,
        "ceiling_rps": median(top, "rps"),
        "rps": median(ours, "rps"),
        "ratio": statistics.median(o["rps"] / t["rps"] for o, t in zip(ours, top, strict=True)),
        "p50_ms": median(ours, "p50_ms"),
        "p95_ms": median(ours, "p95_ms"),
        "p99_ms": median(ours, "p99_ms"),
        "ceiling_p95_ms": median(top, "p95_ms"),
        "errors": sum(r["errors"] for r in ours),
    }


HEADER = (
    "| transport | sessions | ceiling calls/s | awsmcp calls/s | awsmcp/ceiling | p50 ms | p95 ms | p99 ms | errors |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def print_row(r: dict[str, Any]) -> None:
    print(
        f"| {r['transport']} | {r['sessions']} | {r['ceiling_rps']:.0f} | {r['rps']:.0f} | {r['ratio']:.2f} | "
        f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, nargs="*", default=[1, 8, 64, 256])
    parser.add_argument("--transports", nargs="*", default=list(TRANSPORTS), choices=list(TRANSPORTS))
    args = parser.parse_args()
    origin = OriginServer().start()
    try:
        env = {**origin.settings_env(), **QUIET, "MCP_MAX_CONNECTIONS": "5000"}
        with daphne(**env) as server:
            server.manage("shell", "-c", "from ops.models import RateLimitRule; RateLimitRule.objects.all().delete()")
            body = answer_bytes(server.port)
            with ceiling_server(body) as ceiling_port:
                print(f"cached read_documentation ({len(body):,} bytes answered); one Daphne each side\n")
                print(HEADER, flush=True)
                rows = measure(server.port, ceiling_port, args.transports, args.sessions, args.seconds, args.rounds)
    finally:
        origin.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transports.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
