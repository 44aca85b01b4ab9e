"""`python -m bench.scaleout`: cached read_documentation on 1 Daphne process against 2 sharing Redis.

Both sides run the scale-out configuration (REDIS_URL: channels-redis, django-redis, session
directory), over one SQLite file, which the hot path never reads. The client opens half its sessions on
each process, as a balancer with sticky sessions would; a balancer process of our own would only
measure itself. The two sides alternate; figures are medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.transports import CALL, QUIET, RESULTS, answer_bytes
from tests.support.origin import OriginServer
from tests.support.processes import daphne, redis_server

NO_RULES = "from ops.models import RateLimitRule; RateLimitRule.objects.all().delete()"


def sessions_on(ports: list[int], count: int) -> list[loadgen.HttpSession]:
    return [loadgen.HttpSession(ports[i % len(ports)], "/mcp", CALL) for i in range(count)]


def measure(counts: list[int], seconds: float, rounds: int) -> list[dict[str, Any]]:
    rows = []
    origin = OriginServer().start()
    try:
        with redis_server() as redis, ExitStack() as stack:
            db = Path(tempfile.mkdtemp(prefix="awsmcp-bench-")) / "db.sqlite3"
            env = {**origin.settings_env(), **QUIET, "REDIS_URL": redis.url, "MCP_MAX_CONNECTIONS": "5000"}
            servers = [stack.enter_context(daphne(db_path=db, **env)) for _ in range(2)]
            servers[0].manage("shell", "-c", NO_RULES)
            for server in servers:
                answer_bytes(server.port)  # warm each process's L1
            ports = [s.port for s in servers]
            for count in counts:
                one, two = loadgen.alternate(
                    lambda: sessions_on(ports[:1], count),  # noqa: B023 - called at once
                    lambda: sessions_on(ports, count),  # noqa: B023
                    rounds,
                    seconds,
                )
                row = {
                    "sessions": count,
                    "one_rps": statistics.median(r["rps"] for r in one),
                    "two_rps": statistics.median(r["rps"] for r in two),
                    "ratio": statistics.median(b["rps"] / a["rps"] for a, b in zip(one, two, strict=True)),
                    "one_p95_ms": statistics.median(r["p95_ms"] for r in one),
                    "two_p95_ms": statistics.median(r["p95_ms"] for r in two),
                    "errors": sum(r["errors"] for r in one + two),
                }
                rows.append(row)
                print(
                    f"| {count} | {row['one_rps']:.0f} | {row['two_rps']:.0f} | {row['ratio']:.2f} | "
                    f"{row['one_p95_ms']:.2f} | {row['two_p95_ms']:.2f} | {row['errors']} |",
                    flush=True,
                )
    finally:
        origin.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, nargs="*", default=[8, 64, 256])
    args = parser.parse_args()
    print("cached read_documentation over Streamable HTTP (JSON answers), Redis shared; one machine, 2 cores")
    print(
        "| sessions | 1 process calls/s | 2 processes calls/s | 2/1 | 1 process p95 ms | 2 processes p95 ms | errors |"
    )
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = measure(args.sessions, args.seconds, args.rounds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scaleout.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
