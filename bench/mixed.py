"""`python -m bench.mixed`: do cold reads of large pages slow down everyone's cached reads?

64 sessions read a cached page back to back (Streamable HTTP, JSON answers), first alone, then while
a few more sessions keep reading large pages that are never cached (each under a fresh URL of the
fixture origin, so every one is fetched and converted). The two loads alternate, `--rounds` times;
the figure is the cached-read p95 under cold reads over the p95 without, taken within a round.
Target (issue 12): at most 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from tests.support.origin import OriginServer  # noqa: E402
from tests.support.processes import daphne  # noqa: E402

CACHED = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
LARGE = [  # the largest captured pages (315 KB and 150 KB of HTML)
    "AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html",
    "AWSCloudFormation/latest/UserGuide/service_code_examples.html",
]
RESULTS = ROOT / "bench" / "results"
QUIET = {"LOG_LEVEL": "WARNING", "ACCESS_LOG_LEVEL": "WARNING"}
_copies = itertools.count(1)


def cold_call() -> bytes:
    """A read of a large page under a URL never read before."""
    n = next(_copies)
    url = f"https://docs.aws.amazon.com/copies/{n}/{LARGE[n % len(LARGE)]}"
    return loadgen.tools_call(url, max_length=20_000, msg_id=n)


async def cold_reader(port: int, stop: asyncio.Event, done: list[float]) -> None:
    session = loadgen.HttpSession(port, "/mcp", b"")
    await session.open()
    try:
        while not stop.is_set():
            began = time.perf_counter()
            status, _, body = await session.post(cold_call())
            if status != 200 or b'"isError":true' in body:
                raise loadgen.Refused(f"cold read: {status} {body[:200]!r}")
            done.append(time.perf_counter() - began)
    finally:
        session.close()


def measure(port: int, sessions: int, cold: int, seconds: float) -> dict[str, Any]:
    """One load: `sessions` cached readers for `seconds`, with `cold` cold readers running alongside."""

    async def load() -> dict[str, Any]:
        stop = asyncio.Event()
        cold_times: list[float] = []
        readers = [asyncio.create_task(cold_reader(port, stop, cold_times)) for _ in range(cold)]
        try:
            if cold:
                await asyncio.sleep(0.5)  # conversion is under way before the cached load is timed
            cached = [loadgen.HttpSession(port, "/mcp", loadgen.tools_call(CACHED)) for _ in range(sessions)]
            result = await loadgen.drive(cached, seconds)
        finally:
            stop.set()
            await asyncio.gather(*readers)
        summary = result.summary()
        summary["cold_reads"] = len(cold_times)
        summary["cold_p50_ms"] = loadgen.percentile(cold_times, 0.5) * 1000
        return summary

    return asyncio.run(load())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--cold", type=int, default=2, help="concurrent cold readers")
    args = parser.parse_args()
    origin = OriginServer().start()
    try:
        env = {**origin.settings_env(), **QUIET, "MCP_MAX_CONNECTIONS": "5000", "MCP_MAX_SESSIONS": "100000"}
        with daphne(**env) as server:
            server.manage("shell", "-c", "from ops.models import RateLimitRule; RateLimitRule.objects.all().delete()")
            measure(server.port, 1, 0, 0.5)  # caches the page the cached readers read
            quiet, mixed = [], []
            for _ in range(args.rounds):
                quiet.append(measure(server.port, args.sessions, 0, args.seconds))
                mixed.append(measure(server.port, args.sessions, args.cold, args.seconds))
    finally:
        origin.stop()
    row = {
        "sessions": args.sessions,
        "cold_readers": args.cold,
        "quiet_p95_ms": statistics.median(r["p95_ms"] for r in quiet),
        "mixed_p95_ms": statistics.median(r["p95_ms"] for r in mixed),
        "p95_ratio": statistics.median(m["p95_ms"] / q["p95_ms"] for q, m in zip(quiet, mixed, strict=True)),
        "quiet_rps": statistics.median(r["rps"] for r in quiet),
        "mixed_rps": statistics.median(r["rps"] for r in mixed),
        "cold_reads_per_round": statistics.median(r["cold_reads"] for r in mixed),
        "cold_p50_ms": statistics.median(r["cold_p50_ms"] for r in mixed),
        "errors": sum(r["errors"] for r in quiet + mixed),
    }
    print(
        "| sessions | cold readers | cached p95 ms, quiet | cached p95 ms, with cold reads | ratio | "
        "calls/s quiet | calls/s mixed | cold reads a round | cold read p50 ms | errors |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| {row['sessions']} | {row['cold_readers']} | {row['quiet_p95_ms']:.2f} | {row['mixed_p95_ms']:.2f} | "
        f"{row['p95_ratio']:.2f} | {row['quiet_rps']:.0f} | {row['mixed_rps']:.0f} | "
        f"{row['cold_reads_per_round']:.0f} | {row['cold_p50_ms']:.0f} | {row['errors']} |",
        flush=True,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mixed.json").write_text(json.dumps({"row": row, "quiet": quiet, "mixed": mixed}, indent=2))


if __name__ == "__main__":
    main()
