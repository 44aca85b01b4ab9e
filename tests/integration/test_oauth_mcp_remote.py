"""`mcp-remote` 0.15.1 (the stdio bridge Claude Desktop runs for remote servers) against a real Daphne with
`MCP_AUTH=oauth`, headless: it discovers the authorization server, registers itself (RFC 7591), prints the
authorization URL on stderr and waits on its loopback callback; the browser helper signs in, approves and follows
the redirect to that callback. Then the test speaks MCP over the bridge's stdin/stdout.

`make test` installs the package into .tools/ (scripts/install-test-tools.sh).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.issuer import issuer_of, oauth_server
from tests.support.oauth_browser import Browser
from tests.support.origin import OriginServer
from tests.support.processes import ROOT, DaphneServer, free_port
from tests.support.witness import RDS, RDS_TEXT

TOOLS = ROOT / ".tools"
NODE_BIN = TOOLS / "node" / "node_modules" / "node" / "bin"
BRIDGE = TOOLS / "mcp-remote-0.15.1" / "node_modules" / ".bin" / "mcp-remote"
PROMPT = "Please authorize this client by visiting:"


@pytest.fixture(scope="module")
def protected(origin: OriginServer) -> Iterator[DaphneServer]:
    with oauth_server(origin) as server:
        yield server
        assert server.alive(), server.log()[-3000:]


class Bridge:
    """A running mcp-remote: its stderr collected, JSON-RPC over its stdio."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr: list[str] = []
        self.url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        wants_url = False
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr.append(line)
            if wants_url and line.startswith("http") and not self.url.done():
                self.url.set_result(line.strip())
            wants_url = wants_url or PROMPT in line

    def log(self) -> str:
        return "\n".join(self.stderr[-60:])

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()

    async def reply(self, msg_id: int, timeout: float = 30) -> dict[str, Any]:
        """The next message on stdout answering this id (notifications in between are skipped)."""
        assert self.proc.stdout is not None

        async def read() -> dict[str, Any]:
            while True:
                line = await self.proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise EOFError(f"mcp-remote closed its stdout:\n{self.log()}")
                message = json.loads(line)
                if message.get("id") == msg_id:
                    return message

        return await asyncio.wait_for(read(), timeout)


@asynccontextmanager
async def bridge(server: DaphneServer, config_dir: Path, port: int, transport: str = "http") -> AsyncIterator[Bridge]:
    """mcp-remote for this server: Streamable HTTP (`/mcp`), or legacy SSE (`/mcp/sse`, `--transport sse-only`)."""
    assert BRIDGE.exists(), f"{BRIDGE} is missing: run scripts/install-test-tools.sh (make test does)"
    # No display and no browser: it prints the URL and waits on its callback (the helper is the browser).
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    env |= {"PATH": f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}", "MCP_REMOTE_CONFIG_DIR": str(config_dir)}
    proc = await asyncio.create_subprocess_exec(
        str(BRIDGE),
        server.mcp_url if transport == "http" else server.sse_url,
        str(port),
        "--host",
        "127.0.0.1",
        *(["--transport", "sse-only"] if transport == "sse" else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    running = Bridge(proc)
    try:
        yield running
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        running._reader.cancel()


async def speak_mcp(running: Bridge) -> str:
    """initialize, initialized, tools/call read_documentation over the bridge; the page text."""
    await running.send(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "claude-desktop-stand-in", "version": "1"},
            },
        }
    )
    init = await running.reply(0, timeout=60)
    assert init.get("result", {}).get("serverInfo", {}).get("name") == "awsmcp", (init, running.log())
    await running.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    await running.send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "read_documentation", "arguments": {"url": RDS, "max_length": 300}},
        }
    )
    called = await running.reply(1)
    assert "result" in called and not called["result"].get("isError"), (called, running.log())
    return called["result"]["content"][0]["text"]


def stored(config_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tokens and the registration mcp-remote keeps in its config directory (one server: one of each)."""
    tokens = list((config_dir / "mcp-remote-v1").glob("*_tokens.json"))
    clients = list((config_dir / "mcp-remote-v1").glob("*_client_info.json"))
    assert len(tokens) == 1 and len(clients) == 1, list(config_dir.rglob("*"))
    return json.loads(tokens[0].read_text()), json.loads(clients[0].read_text())


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_mcp_remote_signs_in_headless_and_proxies_a_tool_call(
    protected: DaphneServer, tmp_path: Path, transport: str
) -> None:
    port = free_port()
    browser = Browser()
    try:
        async with bridge(protected, tmp_path, port, transport) as running:
            try:
                url = await asyncio.wait_for(asyncio.shield(running.url), 60)
            except TimeoutError:
                pytest.fail(f"mcp-remote printed no authorization URL:\n{running.log()}")
            landed = await browser.follow(url)
            assert landed.status_code == 200, (landed.status_code, landed.text[:300], running.log())
            assert RDS_TEXT in await speak_mcp(running)
            proxied = next((line for line in running.stderr if "Proxy established" in line), "")
            wanted = "StreamableHTTPClientTransport" if transport == "http" else "SSEClientTransport"
            assert proxied.endswith(wanted), running.log()
        # What it asked for: S256, the resource from the metadata, its loopback callback; it registered by DCR.
        asked = parse_qs(urlsplit(browser.visited[0]).query)
        assert asked["code_challenge_method"] == ["S256"]
        assert asked["resource"] == [protected.mcp_url]
        tokens, client = stored(tmp_path)
        assert tokens["access_token"] and tokens["refresh_token"]
        assert client["redirect_uris"] == [f"http://127.0.0.1:{port}/oauth/callback"]
        assert client.get("token_endpoint_auth_method") == "none"

        # Started again (as Claude Desktop does on every launch): the stored tokens serve, no browser.
        async with bridge(protected, tmp_path, port, transport) as again:
            assert RDS_TEXT in await speak_mcp(again)
            assert not again.url.done(), again.log()
        assert len(browser.visited) == 1
        assert issuer_of(protected) in "\n".join(running.stderr)  # it discovered the built-in issuer
    finally:
        await browser.aclose()
