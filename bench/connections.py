"""`python -m bench.connections`: idle streams held by one awsmcp Daphne process (issue 8, item 5).

For each level (1,000, 2,500, 5,000 and 10,000 streams by default; each level on a fresh server) it
reports the resident memory per stream, whether the server's keep-alive pings arrive on time, how many
streams the server closed, and the latency of cached `read_documentation` calls made from a separate
Streamable HTTP session while the streams are held, against the same calls with no stream held.

The streams are held by worker processes (bench/hold_streams.py) on raw asyncio sockets; they answer
every ping. Request-rate limits are off; the `streams-per-ip` rule (100 per IP by default, enforced even
with MCP_RATELIMIT_ENABLED=false) gets 127.0.0.1 in its allowlist, the admin's way to exempt an address.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import hold_streams, loadgen  # noqa: E402
from bench.loadgen import percentile  # noqa: E402
from tests.support.origin import OriginServer  # noqa: E402
from tests.support.processes import base_env, daphne, migrate  # noqa: E402

PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
LEVELS = [1000, 2500, 5000, 10000]
TOLERANCE = 1.0  # a ping is on time when it comes at most this long after the interval
ALLOW_LOOPBACK = (
    "from ops.models import RateLimitRule\n"
    "for rule in RateLimitRule.objects.filter(scope__in=['streams_per_ip', 'sessions_per_ip']):\n"
    "    rule.allowlist = '127.0.0.1'\n"
    "    rule.save()\n"
    "print(RateLimitRule.objects.filter(scope__in=['streams_per_ip', 'sessions_per_ip']).count())\n"
)


def vm_rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    assert match, text
    return int(match.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Caller:
    """Cached tools/call read_documentation over Streamable HTTP (JSON answers), one call at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.errors: dict[str, int] = {}
        self.http = httpx.Client(timeout=30)
        reply = self.http.post(url, json=loadgen.INIT, headers={"accept": "application/json"})
        assert reply.status_code == 200, reply.text
        self.headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "mcp-session-id": reply.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        note = self.http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers)
        assert note.status_code == 202, note.text
        self.body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
             "params": {"name": "read_documentation", "arguments": {"url": PAGE, "max_length": 5000}}}
        ).encode()  # fmt: skip

    def measure(self, count: int, span: float = 0.0) -> list[float]:
        """Latencies in ms of `count` sequential calls, their starts spread over `span` seconds when they
        would finish sooner (so they sample a whole ping interval, not one burst of pings)."""
        latencies = []
        first = time.perf_counter()
        for index in range(count):
            time.sleep(max(0.0, first + index * span / count - time.perf_counter()))
            started = time.perf_counter()
            try:
                reply = self.http.post(self.url, content=self.body, headers=self.headers)
                ok = reply.status_code == 200 and not reply.json().get("result", {"isError": True}).get("isError")
                label = "" if ok else f"HTTP {reply.status_code}: {reply.text[:120]}"
            except httpx.HTTPError as exc:  # a timeout counts as an error, at its full duration
                label = f"{exc.__class__.__name__}"
            latencies.append((time.perf_counter() - started) * 1000)
            if label:
                self.errors[label] = self.errors.get(label, 0) + 1
        return latencies

    def close(self) -> None:
        self.http.close()


def summary(latencies: list[float]) -> dict[str, float]:
    return {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99)}


def ping_stats(results: list[dict[str, Any]], interval: float, hold_start: float) -> dict[str, Any]:
    """Gaps between consecutive pings per stream (the first from the stream being ready), plus the
    wait after the last ping when it already exceeds the allowed gap (a ping that never came)."""
    allowed = interval + TOLERANCE
    gaps: list[float] = []
    hold_gaps: list[float] = []
    silent = 0
    pings = 0
    for result in results:
        stopped = result["stopped_at"]
        for ready, times, closed_at in zip(result["ready"], result["pings"], result["closed_at"], strict=True):
            pings += len(times)
            marks = [ready, *times]
            stream_gaps = [(b - a, b) for a, b in itertools.pairwise(marks)]
            end = closed_at if closed_at is not None else stopped
            if end - marks[-1] > allowed:
                stream_gaps.append((end - marks[-1], end))
            if not times:
                silent += 1
            gaps.extend(g for g, _ in stream_gaps)
            hold_gaps.extend(g for g, at in stream_gaps if at >= hold_start)
    on_time = sum(g <= allowed for g in gaps)
    hold_on_time = sum(g <= allowed for g in hold_gaps)
    return {
        "pings": pings,
        "gaps": len(gaps),
        "on_time_pct": 100.0 * on_time / len(gaps) if gaps else float("nan"),
        "worst_gap_s": max(gaps, default=float("nan")),
        "gap_p99_s": percentile(gaps, 0.99),
        "hold_on_time_pct": 100.0 * hold_on_time / len(hold_gaps) if hold_gaps else float("nan"),
        "hold_worst_gap_s": max(hold_gaps, default=float("nan")),
        "streams_without_ping": silent,
    }


class Workers:
    """Client processes holding the streams (bench.hold_streams.main), stopped whatever happens."""

    def __init__(self, count: int, plan: dict[str, Any], level: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        share, extra = divmod(level, count)
        for index in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=hold_streams.main,
                args=(child, {**plan, "count": share + (index < extra)}),
                name=f"hold-streams-{index}",
                daemon=True,
            )
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def gather(self, kind: str, timeout: float) -> list[dict[str, Any]]:
        """One message of `kind` from every worker (in worker order)."""
        got: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(self.pipes):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"workers did not report {kind!r} within {timeout:.0f} s")
            for pipe in wait([p for i, p in enumerate(self.pipes) if i not in got], timeout=left):
                index = self.pipes.index(pipe)  # type: ignore[arg-type]
                try:
                    tag, payload = pipe.recv()  # type: ignore[union-attr]
                except EOFError as exc:
                    raise RuntimeError(f"worker {index} exited (code {self.procs[index].exitcode})") from exc
                if tag == "error":
                    raise RuntimeError(f"worker {index} failed: {payload}")
                assert tag == kind, (tag, kind)
                got[index] = payload
        return [got[i] for i in range(len(self.pipes))]

    def send(self, command: str) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(command)

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.close()  # a worker waiting for a command sees EOF and exits
        deadline = time.monotonic() + 5
        for proc in self.procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():  # still opening streams, or stuck
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def prepare_database(db: Path, env: dict[str, str]) -> None:
    """Migrate a fresh database and exempt 127.0.0.1 from the streams-per-ip rule."""
    full = base_env(SQLITE_PATH=str(db), **env)
    migrate(db, full)
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", ALLOW_LOOPBACK],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() != "0", "no streams-per-ip rule found; the cap may be elsewhere"


def server_trouble(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(r"Traceback|ERROR|CRITICAL|Exception", line)][:20]


def run_level(level: int, args: argparse.Namespace, origin: OriginServer) -> dict[str, Any]:
    env = {
        **origin.settings_env(),
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG_LEVEL": "WARNING",
        "MCP_PING_INTERVAL": str(args.ping_interval),
        "MCP_PONG_TIMEOUT": str(args.pong_timeout),
        "MCP_MAX_CONNECTIONS": str(max(12000, level + 2000)),
        **dict(item.split("=", 1) for item in args.env),
    }
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-bench-conn-"))
    db = workdir / "db.sqlite3"
    try:
        prepare_database(db, env)
        # Unwound in reverse: the workers stop, then the caller, then the server.
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(daphne(db_path=db, **env))
            pid = server.proc.pid
            caller = Caller(server.mcp_url)
            stack.callback(caller.close)
            caller.measure(args.calls // 4)  # warm the page cache and the connection
            if caller.errors:
                raise RuntimeError(f"tool calls fail before any stream is open: {caller.errors}")
            baseline = caller.measure(args.calls, span=min(3.0, args.seconds / 2))  # no stream yet: no pings to sample
            rss_before = vm_rss_kib(pid)
            plan = {
                "host": "127.0.0.1",
                "port": server.port,
                "transport": args.transport,
                "concurrency": args.open_concurrency,
                "pool_size": args.pool,
                "open_deadline": args.open_timeout,
            }
            workers = Workers(min(args.workers, level), plan, level)
            stack.callback(workers.stop)
            workers.gather("up", 60)
            go = time.monotonic()
            workers.send("go")
            opened = workers.gather("opened", args.open_timeout + 30)
            open_seconds = max(o["done_at"] for o in opened) - go
            hold_start = time.monotonic()
            cpu_start = cpu_seconds(pid)
            rss_peak = rss_before
            deadline = hold_start + args.seconds
            calls_at = hold_start + min(args.ping_interval, args.seconds / 3)
            held: list[float] = []
            while (now := time.monotonic()) < deadline:
                rss_peak = max(rss_peak, vm_rss_kib(pid))
                if not held and now >= calls_at:
                    held = caller.measure(args.calls, span=min(args.ping_interval, deadline - now - 0.5))
                    continue
                time.sleep(min(0.5, max(0.0, deadline - now)))
            if not held:
                held = caller.measure(args.calls)
            rss_held = vm_rss_kib(pid)
            cpu_pct = 100 * (cpu_seconds(pid) - cpu_start) / (time.monotonic() - hold_start)
            rss_peak = max(rss_peak, rss_held)
            alive = server.alive()
            call_errors = dict(caller.errors)
            workers.send("stop")
            results = workers.gather("result", 60)
            log = server.log()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.raw is not None:
        raw = {"level": level, "hold_start": hold_start, "go": go, "workers": results}
        Path(f"{args.raw}.{level}.json").write_text(json.dumps(raw))
    ok = sum(o["ok"] for o in opened)
    pings = ping_stats(results, args.ping_interval, hold_start)
    pong_latency = [x * 1000 for r in results for x in r["pong_latency"]]
    pong_status: dict[str, int] = {}
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["pong_status"].items():
            pong_status[k] = pong_status.get(k, 0) + v
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    base, during = summary(baseline), summary(held)
    return {
        "level": level,
        "transport": args.transport,
        "streams_open": ok,
        "streams_failed": sum(o["failed"] for o in opened),
        "open_retries": sum(r["retries"] for r in results),
        "open_errors": errors,
        "open_s": open_seconds,
        "hold_s": args.seconds,
        "rss_before_mib": rss_before / 1024,
        "rss_mib": rss_held / 1024,
        "rss_peak_mib": rss_peak / 1024,
        "kib_per_stream": (rss_held - rss_before) / ok if ok else float("nan"),
        "ping_interval_s": args.ping_interval,
        "tolerance_s": TOLERANCE,
        **pings,
        "closed_by_server": sum(r["closed"] for r in results),
        "server_cpu_pct_while_held": cpu_pct,
        "client_workers_cpu_pct_while_held": 100 * sum(r["cpu_share"] for r in results),
        "pong_status": pong_status,
        "pong_p99_ms": percentile(pong_latency, 0.99),
        "baseline_ms": base,
        "held_ms": during,
        "p95_ratio": during["p95"] / base["p95"],
        "call_errors": call_errors,
        "server_alive": alive,
        "server_log_trouble": server_trouble(log),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| streams | open s | RSS MiB | KiB/stream | pings on time % (while held) | worst gap s | closed | "
        "call p50 / p95 / p99 ms | 0-stream p95 ms | p95 ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        held = r["held_ms"]
        failed = f" ({r['streams_failed']} failed)" if r["streams_failed"] else ""
        lines.append(
            f"| {r['streams_open']:,}{failed} | {r['open_s']:.1f} | {r['rss_mib']:.0f} | {r['kib_per_stream']:.1f} | "
            f"{r['on_time_pct']:.2f} ({r['hold_on_time_pct']:.2f}) | {r['worst_gap_s']:.2f} | {r['closed_by_server']} | "
            f"{held['p50']:.1f} / {held['p95']:.1f} / {held['p99']:.1f} | {r['baseline_ms']['p95']:.1f} | "
            f"{r['p95_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=LEVELS, help="stream counts, one fresh server each")
    parser.add_argument("--seconds", type=float, default=None, help="hold time after all are open (1 interval + 1)")
    parser.add_argument("--transport", choices=["streamable", "sse"], default="streamable")
    parser.add_argument("--ping-interval", type=float, default=30.0, help="MCP_PING_INTERVAL of the server")
    parser.add_argument("--pong-timeout", type=float, default=10.0, help="MCP_PONG_TIMEOUT of the server")
    parser.add_argument("--calls", type=int, default=200, help="sequential tool calls per measurement")
    parser.add_argument("--workers", type=int, default=4, help="client processes holding the streams")
    parser.add_argument("--open-concurrency", type=int, default=8, help="streams being opened at once per worker")
    parser.add_argument("--pool", type=int, default=16, help="keep-alive connections per worker for POSTs")
    parser.add_argument("--open-timeout", type=float, default=150.0, help="seconds to open a level's streams")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server setting")
    parser.add_argument("--raw", type=Path, default=None, help="also write every ping time to RAW.<level>.json")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "connections.json")
    args = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so the server, the origin and the workers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.seconds is None:
        args.seconds = args.ping_interval + 1
    fd_limit = hold_streams.raise_fd_limit()  # before the server starts: Daphne inherits it
    started = time.monotonic()
    origin = OriginServer().start()
    rows = []
    try:
        for level in args.levels:
            row = run_level(level, args, origin)
            rows.append(row)
            print(
                f"{level}: {row['streams_open']} open in {row['open_s']:.1f} s, RSS {row['rss_mib']:.0f} MiB, "
                f"pings on time {row['on_time_pct']:.2f}%, closed {row['closed_by_server']}, "
                f"p95 {row['held_ms']['p95']:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    finally:
        origin.stop()
    note = (
        f"Idle {'Streamable HTTP GET' if args.transport == 'streamable' else 'legacy SSE'} streams on one Daphne "
        f"process ({os.cpu_count()} cores, fd limit {fd_limit}); pings every {args.ping_interval:g} s, on time = gap "
        f"<= {args.ping_interval + TOLERANCE:g} s; held {args.seconds:g} s after all were open; "
        f"{args.calls} sequential cached read_documentation calls (5,000 characters) over Streamable HTTP from "
        f"another session, their starts spread over one ping interval, with the streams held and before opening them."
    )
    print(note)
    print()
    print(table(rows))
    for row in rows:
        if row["server_log_trouble"] or not row["server_alive"] or row["open_errors"] or row["call_errors"]:
            print(f"\n{row['level']}: server alive {row['server_alive']}, open errors {row['open_errors']}, "
                  f"call errors {row['call_errors']}, log: {row['server_log_trouble'][:5]}")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "fd_limit": fd_limit},
                "note": note,
                "server_env": args.env,
                "seconds_total": time.monotonic() - started,
                "median_p95_ratio": statistics.median(r["p95_ratio"] for r in rows) if rows else None,
                "levels": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
