"""`python -m bench.auth`: what the entrance's credential check costs on the hot path.

A cached `read_documentation` over Streamable HTTP (JSON answers) against one Daphne per mode: MCP_AUTH=none (the
baseline), `keys` with an API key, `oauth` with a built-in opaque access token, and `oauth` with built-in JWT access
tokens (MCP_OAUTH_JWT_ACCESS_TOKENS). Tokens are minted through the real flow (registration, sign-in, consent, code
exchange). Then a flood of refused made-up bearers: one token sent again and again (its refusal is cached) and, in
the OAuth modes, a fresh one on every request (each a database lookup). Modes run in turn within each round, the
order rotated from round to round; ratios are to the `none` mode's calls at the same session count in the same
round. Request-rate limits are off; the other settings are the defaults (validated tokens are remembered for
MCP_OAUTH_TOKEN_CACHE_SECONDS, 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import sqlite3
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from tests.support.issuer import issuer_of, prepared_db  # noqa: E402
from tests.support.oauth_browser import Browser, mint  # noqa: E402
from tests.support.origin import OriginServer  # noqa: E402
from tests.support.processes import DaphneServer, daphne  # noqa: E402

PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
CALL = loadgen.tools_call(PAGE)
RESULTS = ROOT / "bench" / "results"
QUIET = {"LOG_LEVEL": "WARNING", "ACCESS_LOG_LEVEL": "WARNING", "MCP_MAX_CONNECTIONS": "5000"}
KEY = "bench"

# mode -> the server's settings; the credential each sends is made once the server is up
MODES: dict[str, dict[str, str]] = {
    "none": {"MCP_AUTH": "none"},
    "keys": {"MCP_AUTH": "keys"},
    "oauth": {"MCP_AUTH": "oauth"},
    "oauth-jwt": {"MCP_AUTH": "oauth", "MCP_OAUTH_JWT_ACCESS_TOKENS": "true"},
}
# One made-up token over and over, or a new one on every request: only OAuth looks a token up (in the database,
# refusals cached by token); an API key is found or not in the rule book's memory whatever its bytes.
REFUSALS = ("same", "fresh")
_made_up = itertools.count()


class RefusedSession(loadgen.HttpSession):
    """Posts the call with a made-up bearer and expects 401 (on a connection kept alive, as a flood would)."""

    def __init__(self, port: int, fresh: bool) -> None:
        super().__init__(port, "/mcp", CALL, initialize=False, headers={"authorization": "Bearer made-up-0"})
        self.fresh = fresh

    async def call(self) -> None:
        if self.fresh:
            self.headers["authorization"] = f"Bearer made-up-{next(_made_up)}"
            self.request = loadgen.http_request("POST", self.path, self.port, self.headers, self.call_body)
        self.conn.write(self.request)
        status, _, body = await self.conn.expect(loadgen.parse_response)
        if status != 401:
            raise loadgen.Refused(f"made-up token: {status} {body[:200]!r}")


def start(origin: OriginServer, mode: str, db: Path, secret: str) -> tuple[Any, DaphneServer, dict[str, str]]:
    """This mode's Daphne, started (its context entered, for the caller to exit) and the headers its calls carry."""
    context = daphne(db_path=db, **origin.settings_env(), **QUIET, **MODES[mode])
    running = context.__enter__()
    try:
        credential = asyncio.run(token(running)) if mode.startswith("oauth") else secret
        if (credential.count(".") == 2) != (MODES[mode].get("MCP_OAUTH_JWT_ACCESS_TOKENS") == "true"):
            raise RuntimeError(f"{mode}: the server minted the wrong kind of token: {credential[:40]}…")
        headers = {"authorization": f"Bearer {credential}"} if credential else {}
        warm(running.port, headers)
    except BaseException:
        context.__exit__(*sys.exc_info())
        raise
    return context, running, headers


def servers(stack: ExitStack, origin: OriginServer) -> dict[str, tuple[int, dict[str, str]]]:
    """One Daphne per mode, each on a database of its own with the rate rules removed, started side by side (most
    of a short run is starting them); stopped, and their databases removed, when the stack closes."""
    prepared = {}
    for mode in MODES:
        db, secrets = prepared_db(keys=(KEY,) if mode == "keys" else ())
        stack.callback(shutil.rmtree, db.parent, True)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM ops_ratelimitrule")
        conn.close()
        prepared[mode] = (db, secrets.get(KEY, ""))
    with ThreadPoolExecutor(len(MODES)) as pool:
        futures = {mode: pool.submit(start, origin, mode, *prepared[mode]) for mode in MODES}
    found = {}
    for mode, future in futures.items():
        if future.exception() is None:
            context, running, headers = future.result()
            stack.push(context.__exit__)
            found[mode] = (running.port, headers)
    failed = [future.exception() for future in futures.values() if future.exception() is not None]
    if failed:
        raise failed[0]  # type: ignore[misc]
    return found


async def token(running: DaphneServer) -> str:
    """An access token for this server's resource, minted as a client would get one."""
    browser = Browser()
    try:
        grant = await mint(browser, issuer_of(running), running.mcp_url)
    finally:
        await browser.aclose()
    return grant.access_token


def warm(port: int, headers: dict[str, str]) -> None:
    """One call, so the page is in this server's cache before any load is timed."""

    async def once() -> None:
        session = loadgen.HttpSession(port, "/mcp", CALL, headers=dict(headers))
        await session.open()
        await session.call()
        session.close()

    asyncio.run(once())


def measure(
    servers: dict[str, tuple[int, dict[str, str]]], counts: list[int], refused_counts: list[int], seconds: float,
    rounds: int,
) -> tuple[dict[tuple[str, int], list[dict]], dict[tuple[str, str, int], list[dict]]]:  # fmt: skip
    """Every load once per round, the modes' order rotated from round to round."""
    calls: dict[tuple[str, int], list[dict]] = {}
    refused: dict[tuple[str, str, int], list[dict]] = {}
    names = list(servers)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for count in counts:
            for mode in order:
                port, headers = servers[mode]
                sessions = [loadgen.HttpSession(port, "/mcp", CALL, headers=dict(headers)) for _ in range(count)]
                calls.setdefault((mode, count), []).append(loadgen.run(sessions, seconds))
            if count not in refused_counts:
                continue
            for mode in order:
                port, _ = servers[mode]
                for kind in REFUSALS if mode.startswith("oauth") else REFUSALS[:1]:
                    flood = [RefusedSession(port, kind == "fresh") for _ in range(count)]
                    refused.setdefault((mode, kind, count), []).append(loadgen.run(flood, seconds))
        print(f"round {r + 1} of {rounds} done", file=sys.stderr, flush=True)
    return calls, refused


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def ratios(runs: list[dict], baseline: list[dict]) -> list[float]:
    """This load's rate over the baseline's in the same round, round by round."""
    return [o["rps"] / b["rps"] for o, b in zip(runs, baseline, strict=True)]


def summarize(
    calls: dict[tuple[str, int], list[dict]], refused: dict[tuple[str, str, int], list[dict]]
) -> dict[str, list[dict[str, Any]]]:
    def row(runs: list[dict], baseline: list[dict], **labels: Any) -> dict[str, Any]:
        return {
            **labels,
            "rps": median(runs, "rps"),
            "ratio": statistics.median(ratios(runs, baseline)),
            "ratio_low": min(ratios(runs, baseline)),  # the spread over rounds: how far this machine's noise goes
            "ratio_high": max(ratios(runs, baseline)),
            "p50_ms": median(runs, "p50_ms"),
            "p95_ms": median(runs, "p95_ms"),
            "p99_ms": median(runs, "p99_ms"),
            "errors": sum(int(run["errors"]) for run in runs),
        }

    return {
        "calls": [
            row(runs, calls[("none", count)], mode=mode, sessions=count) for (mode, count), runs in calls.items()
        ],
        "refused": [
            row(runs, calls[("none", count)], mode=mode, token=kind, sessions=count)
            for (mode, kind, count), runs in refused.items()
        ],
    }


def cells(r: dict[str, Any]) -> str:
    """Rate, ratio to `none` (with its spread over rounds), p50, p95 and errors, as table cells."""
    spread = f"{r['ratio']:.2f} ({r['ratio_low']:.2f}-{r['ratio_high']:.2f})"
    return f"{r['rps']:.0f} | {spread} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['errors']} |"


def print_tables(summary: dict[str, list[dict[str, Any]]]) -> None:
    print("| mode | sessions | calls/s | / none (rounds) | p50 ms | p95 ms | errors |\n|---|---|---|---|---|---|---|")
    for r in sorted(summary["calls"], key=lambda r: (r["sessions"], list(MODES).index(r["mode"]))):
        print(f"| {r['mode']} | {r['sessions']} | {cells(r)}")
    print("\nrefused made-up bearer: 401 answers/s, over the `none` mode's 200 calls/s\n")
    print("| mode | token | sessions | 401s/s | / none 200s (rounds) | p50 ms | p95 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(summary["refused"], key=lambda r: (r["sessions"], list(MODES).index(r["mode"]), r["token"])):
        print(f"| {r['mode']} | {r['token']} | {r['sessions']} | {cells(r)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, nargs="*", default=[1, 16])
    parser.add_argument("--refused-sessions", type=int, nargs="*", default=[16], help="a subset of --sessions")
    args = parser.parse_args()
    if not set(args.refused_sessions) <= set(args.sessions):
        parser.error("--refused-sessions must be among --sessions (their ratio is to `none` at that count)")
    origin = OriginServer().start()
    try:
        with ExitStack() as stack:
            running = servers(stack, origin)
            print(f"cached read_documentation over Streamable HTTP (JSON); one Daphne per mode, {args.rounds} rounds\n")
            calls, refused = measure(running, args.sessions, args.refused_sessions, args.seconds, args.rounds)
    finally:
        origin.stop()
    summary = summarize(calls, refused)
    print_tables(summary)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "auth.json").write_text(
        json.dumps({"seconds": args.seconds, "rounds": args.rounds, **summary}, indent=2)
    )


if __name__ == "__main__":
    main()
