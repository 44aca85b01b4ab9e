"""`python -m bench.transports`: cached `read_documentation` over Streamable HTTP (JSON answers) against the
ceiling (a bare ASGI app under the same Daphne), at several concurrencies, the two sides alternating.

All traffic is on loopback; every load is bounded in time; request-rate limits are off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.origin import OriginServer  # noqa: E402
from tests.support.processes import base_env, daphne, free_port, stop, wait_for_port  # noqa: E402
from tests.support.raw import initialize_request  # noqa: E402

PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"


async def load(url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                reply = await client.post(url, content=body, headers=headers)
                assert reply.status_code == 200, reply.text[:200]
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {"rps": len(latencies) / seconds, "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)}


async def session_headers(url: str) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        reply = await client.post(url, json=initialize_request(), headers={"accept": "application/json"})
        return {
            "accept": "application/json",
            "content-type": "application/json",
            "mcp-session-id": reply.headers["mcp-session-id"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 64])
    args = parser.parse_args()
    origin = OriginServer().start()
    port = free_port()
    ceiling = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.ceiling:app"],
        cwd=ROOT, env=base_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, proc=ceiling)
    rows = []
    try:
        with daphne(**origin.settings_env(), LOG_LEVEL="WARNING", ACCESS_LOG_LEVEL="WARNING") as server:
            headers = asyncio.run(session_headers(server.mcp_url))
            call = json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"name": "read_documentation", "arguments": {"url": PAGE, "max_length": 5000}}}
            ).encode()  # fmt: skip
            asyncio.run(load(server.mcp_url, call, headers, 1, 0.5))  # warm the cache
            for concurrency in args.concurrency:
                ours, top = [], []
                for _ in range(args.rounds):
                    top.append(asyncio.run(load(f"http://127.0.0.1:{port}/", b"{}", {}, concurrency, args.seconds)))
                    ours.append(asyncio.run(load(server.mcp_url, call, headers, concurrency, args.seconds)))
                median = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
                rows.append(
                    {
                        "concurrency": concurrency,
                        "ceiling_rps": median(top, "rps"),
                        "ours_rps": median(ours, "rps"),
                        "ratio": median(ours, "rps") / median(top, "rps"),
                        "p50_ms": median(ours, "p50"),
                        "p95_ms": median(ours, "p95"),
                        "p99_ms": median(ours, "p99"),
                    }
                )
    finally:
        stop(ceiling)
        origin.stop()
    print("cached read_documentation (5,000 characters) over Streamable HTTP, JSON answers; one Daphne")
    print("| sessions | ceiling req/s | ours req/s | ours/ceiling | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['ceiling_rps']:.0f} | {r['ours_rps']:.0f} | {r['ratio']:.2f} | "
            f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "transports.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
