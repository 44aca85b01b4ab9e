"""The peers awsmcp is measured against, each a real server on a free loopback port.

- `reference_server(origin_base)`: the reference `awslabs-aws-documentation-mcp-server` 1.2.3, in its own
  venv (see `bench.convert.reference_python`), run as its users run it over HTTP: its `mcp` object's
  `run(transport="streamable-http")`. Only its network layer is patched: every httpx request it sends to
  docs.aws.amazon.com (and to its search and recommendations APIs) is re-addressed, scheme and host and
  port, to the fixture origin, so each `read_documentation` call still does its real fetch (over loopback
  HTTP) and its real conversion. Its converter is untouched.
- `sdk_server(text)`: a minimal server on the official `mcp` SDK of our venv (`MCPServer`, under uvicorn)
  whose one tool, `read_documentation`, returns a fixed cached text: the floor of an MCP server's cost.

Answer mode: both use the SDK's Streamable HTTP defaults, stateful sessions on `/mcp`, and answer every
POST with an SSE stream (`text/event-stream`) unless the server was built with `json_response=True`. The
reference is run exactly as shipped (SSE answers); `sdk_server` takes `json_response` to compare like with
like, default False (what its users run).

`python -m bench.peers`: starts the fixture origin and both peers, calls `read_documentation` on each with
the official SDK client, prints the start of each answer, the median of 20 sequential calls and the page
fetches the origin saw (proof the reference fetches from it on every call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.convert import reference_python  # noqa: E402
from tests.support.processes import free_port, stop, wait_for_port  # noqa: E402

PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
RESULTS = ROOT / "bench" / "results"
START_TIMEOUT = 60.0  # seconds for a peer to listen (the reference imports a lot)

# Run by the reference venv's python: argv = origin base, port. Patches httpx's transport (the network
# layer under every AsyncClient the reference builds) to send requests for AWS hosts to the origin; the
# client still sees the public URL on the response (httpx sets response.request to the request it built),
# so the reference's redirect allowlist and "served page" logic behave as against AWS.
REFERENCE_LAUNCHER = """
import sys

import httpx

ORIGIN = httpx.URL(sys.argv[1])
PORT = int(sys.argv[2])
HOSTS = {"docs.aws.amazon.com", "proxy.search.docs.aws.com", "api.contentrecs.docs.aws.com"}

_send = httpx.AsyncHTTPTransport.handle_async_request


async def handle_async_request(self, request):
    if request.url.host in HOSTS:
        url = request.url.copy_with(scheme=ORIGIN.scheme, host=ORIGIN.host, port=ORIGIN.port)
        request = httpx.Request(
            request.method, url, headers=request.headers, stream=request.stream, extensions=request.extensions
        )
    return await _send(self, request)


httpx.AsyncHTTPTransport.handle_async_request = handle_async_request

from awslabs.aws_documentation_mcp_server.server_aws import mcp  # noqa: E402

mcp.settings.log_level = "WARNING"
mcp.run(transport="streamable-http", host="127.0.0.1", port=PORT)
"""

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def _clean_env(**overrides: str) -> dict[str, str]:
    """Our environment without proxies (all traffic is loopback) nor our own settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in PROXY_VARIABLES and not k.startswith(("MCP_", "AWS_", "DOCS_", "FASTMCP_"))
    }
    env.update({"PYTHONUNBUFFERED": "1", "FASTMCP_LOG_LEVEL": "WARNING"}, **overrides)
    return env


@contextmanager
def _running(command: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until it listens on `port`, stop it (terminate, then kill) on exit."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        try:
            wait_for_port(port, timeout=START_TIMEOUT, proc=proc)
        except (RuntimeError, TimeoutError) as error:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{command[0]} did not start: {error}\n{tail}") from error
        yield proc
    finally:
        stop(proc)


@contextmanager
def reference_server(origin_base: str) -> Iterator[str]:
    """The reference server over Streamable HTTP (SSE answers, stateful sessions), fetching from `origin_base`.

    `origin_base` is like `http://127.0.0.1:PORT`, serving docs.aws.amazon.com's paths. Yields its MCP URL.
    """
    python = reference_python()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="awsmcp-reference-") as scratch:
        launcher = Path(scratch) / "launch_reference.py"
        launcher.write_text(REFERENCE_LAUNCHER)
        command = [str(python), str(launcher), origin_base, str(port)]
        with _running(command, port, _clean_env(), Path(scratch) / "server.log"):
            yield f"http://127.0.0.1:{port}/mcp"


def serve_sdk(text_path: str, port: int, json_response: bool) -> None:
    """The body of the `sdk_server` process (our venv): one tool returning the text in `text_path`."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    text = Path(text_path).read_text()
    server = MCPServer("sdk-peer", log_level="WARNING")

    @server.tool()
    async def read_documentation(url: str, max_length: int = 5000, start_index: int = 0) -> str:
        """Return the cached text of an AWS documentation page."""
        return text

    app = server.streamable_http_app(streamable_http_path="/mcp", json_response=json_response, host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def sdk_server(text: str, json_response: bool = False) -> Iterator[str]:
    """A minimal official-SDK server (uvicorn) whose `read_documentation` returns `text`; yields its MCP URL.

    Streamable HTTP on `/mcp` with stateful sessions, the SDK defaults; POSTs are answered with SSE unless
    `json_response` is True.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="awsmcp-sdk-peer-") as scratch:
        text_path = Path(scratch) / "page.md"
        text_path.write_text(text)
        code = f"from bench.peers import serve_sdk; serve_sdk({str(text_path)!r}, {port}, {json_response!r})"
        command = [sys.executable, "-c", code]
        with _running(command, port, _clean_env(), Path(scratch) / "server.log"):
            yield f"http://127.0.0.1:{port}/mcp"


async def _calls(url: str, count: int, timeout: float = 120.0) -> tuple[str, list[float]]:
    """One SDK session on `url`: a warm-up call, then `count` timed sequential calls. First answer, times."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    arguments = {"url": PAGE, "max_length": 5000}

    async def run() -> tuple[str, list[float]]:
        async with streamable_http_client(url) as streams, ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            first = await session.call_tool("read_documentation", arguments)
            assert not first.is_error, first
            answer = first.content[0].text  # type: ignore[union-attr]
            times = []
            for _ in range(count):
                started = time.perf_counter()
                result = await session.call_tool("read_documentation", arguments)
                times.append(time.perf_counter() - started)
                assert not result.is_error, result
            return answer, times

    return await asyncio.wait_for(run(), timeout)


def check(origin: Any) -> str:
    """Prove both peers work: the reference fetches from the origin on every call; returns its answer text."""
    count = 5
    path = PAGE.removeprefix("https://docs.aws.amazon.com")
    before = origin.hits(path)
    with reference_server(origin.base) as url:
        reference_answer, _ = asyncio.run(_calls(url, count))
    fetched = origin.hits(path) - before
    assert fetched == count + 1, "the reference did not fetch from the fixture origin on every call"
    assert "Amazon RDS" in reference_answer, "the reference's answer is not the RDS Welcome page"
    with sdk_server(reference_answer) as url:
        sdk_answer, _ = asyncio.run(_calls(url, count))
    assert sdk_answer == reference_answer
    return reference_answer


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def compare(sessions: list[int], seconds: float, rounds: int) -> list[dict[str, Any]]:
    """awsmcp against each peer on the same cached read_documentation calls, the two sides alternating."""
    from bench import loadgen
    from bench.transports import CALL, QUIET, answer_bytes, summarize
    from tests.support.origin import OriginServer
    from tests.support.processes import daphne

    def ours(port: int) -> loadgen.HttpSession:  # Accept as the SDK client sends it
        return loadgen.HttpSession(port, "/mcp", CALL)

    rows = []
    origin = OriginServer().start()
    try:
        check(origin)
        with daphne(**origin.settings_env(), **QUIET) as server:
            server.manage("shell", "-c", "from ops.models import RateLimitRule; RateLimitRule.objects.all().delete()")
            text = json.loads(answer_bytes(server.port))["result"]["content"][0]["text"]
            peers = {
                "reference 1.2.3 (SSE)": lambda: reference_server(origin.base),
                "SDK MCPServer (SSE)": lambda: sdk_server(text),
                "SDK MCPServer (JSON)": lambda: sdk_server(text, json_response=True),
            }
            for name, start in peers.items():
                with start() as url:
                    port = port_of(url)
                    counts = [c for c in sessions if c <= 8] if name.startswith("reference") else sessions
                    for count in counts:
                        theirs, mine = loadgen.alternate(
                            lambda: [loadgen.HttpSession(port, "/mcp", CALL) for _ in range(count)],  # noqa: B023
                            lambda: [ours(server.port) for _ in range(count)],  # noqa: B023
                            rounds,
                            seconds,
                        )
                        row = summarize(name, count, mine, theirs)
                        rows.append(row)
                        print(
                            f"| {name} | {count} | {row['ceiling_rps']:.1f} | {row['rps']:.0f} | {row['ratio']:.1f}x | "
                            f"{row['ceiling_p95_ms']:.2f} | {row['p95_ms']:.2f} |",
                            flush=True,
                        )
    finally:
        origin.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="awsmcp against the reference server and a minimal SDK server")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, nargs="*", default=[1, 8, 64])
    args = parser.parse_args()
    print("cached read_documentation, Streamable HTTP, one process each; the reference fetches and converts every call")
    print("| peer | sessions | peer calls/s | awsmcp calls/s | awsmcp/peer | peer p95 ms | awsmcp p95 ms |")
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = compare(args.sessions, args.seconds, args.rounds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "peers.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
