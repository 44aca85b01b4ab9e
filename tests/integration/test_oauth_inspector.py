"""The MCP Inspector CLI 2.12.0 against a real Daphne with `MCP_AUTH=oauth`, given a bearer token with `--header`
(how CI jobs and scripts use it): the token is minted through the real flow by the browser helper. A wrong token
makes the CLI exit non-zero. `make test` installs it into .tools/ (scripts/install-test-tools.sh).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.issuer import issuer_of, oauth_server
from tests.support.oauth_browser import Browser, mint
from tests.support.origin import OriginServer
from tests.support.processes import ROOT, DaphneServer
from tests.support.witness import RDS, RDS_TEXT

TOOLS = ROOT / ".tools"
NODE_BIN = TOOLS / "node" / "node_modules" / "node" / "bin"
INSPECTOR = TOOLS / "inspector-2.12.0" / "node_modules" / ".bin" / "mcp-inspector"


@pytest.fixture(scope="module")
def protected(origin: OriginServer) -> Iterator[DaphneServer]:
    with oauth_server(origin) as server:
        yield server
        assert server.alive(), server.log()[-3000:]


@pytest.fixture(scope="module")
def token(protected: DaphneServer) -> str:
    """A token with both scopes, minted through the real flow (sign-in and consent by the browser helper)."""

    async def minted() -> str:
        browser = Browser()
        try:
            return (await mint(browser, issuer_of(protected), protected.mcp_url)).access_token
        finally:
            await browser.aclose()

    return asyncio.run(minted())


def inspect(server: DaphneServer, home: Path, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One CLI run, its state kept under `home` (never the real ~/.mcp-inspector), no interactive sign-in."""
    assert INSPECTOR.exists(), f"{INSPECTOR} is missing: run scripts/install-test-tools.sh (make test does)"
    env = {
        **os.environ,
        "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "catalog.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
    }
    command = [str(INSPECTOR), "--cli", server.mcp_url, "--transport", "http", "--format", "json"]
    command += ["--header", f"Authorization: Bearer {token}"] if token else []
    command += ["--stored-auth-only", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_a_bearer_token_lists_and_calls_tools(protected: DaphneServer, token: str, tmp_path: Path) -> None:
    listed = inspect(protected, tmp_path, token, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {tool["name"] for tool in json.loads(listed.stdout)["result"]["tools"]}
    assert {"read_documentation", "search_documentation"} <= names
    called = inspect(
        protected,
        tmp_path,
        token,
        "--method",
        "tools/call",
        "--tool-name",
        "read_documentation",
        "--tool-arg",
        f"url={RDS}",
    )
    assert called.returncode == 0, called.stderr[-2000:]
    assert RDS_TEXT in json.loads(called.stdout)["result"]["content"][0]["text"]


def test_a_wrong_token_exits_non_zero(protected: DaphneServer, token: str, tmp_path: Path) -> None:
    refused = inspect(protected, tmp_path, token[:-4] + "xxxx", "--method", "tools/list")
    assert refused.returncode != 0
    assert '"result"' not in refused.stdout
    no_token = inspect(protected, tmp_path, "", "--method", "tools/list")
    assert no_token.returncode != 0
