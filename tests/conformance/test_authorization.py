"""The conformance suite's `authorization` command against the built-in authorization server of a real Daphne:
both of its scenarios (`authorization-server-metadata-endpoint`, with its CIMD check, and
`authorization-code-grant`). The suite prints an authorization URL and waits on its loopback callback; the
browser helper (tests/support/oauth_browser.py) signs in, approves and follows the redirect there. The verdict is
read from checks.json, as tests/conformance/test_conformance.py reads it: a warning or a skip fails.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from tests.conformance.test_conformance import NODE_BIN, TOOLS, problems, read_checks
from tests.support.issuer import issuer_of, oauth_server
from tests.support.oauth_browser import Browser, register
from tests.support.processes import free_port

VERSION = "0.2.0-alpha.12"
SCENARIOS = {"authorization-server-metadata-endpoint", "authorization-code-grant"}
PROMPT = "Access the following URL"
SUITE_TIMEOUT = 120
# This command names each result directory authorization-server-<scenario>-<ISO timestamp with dashes>.
RESULT_DIR = re.compile(r"^authorization-server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


async def run_suite(url: str, client_id: str, resource: str, port: int, output_dir: Path, browser: Browser) -> str:
    """Run `conformance authorization`, be its browser when it prints the URL; its console output."""
    binary = TOOLS / f"conformance-{VERSION}" / "node_modules" / ".bin" / "conformance"
    assert binary.exists(), f"{binary} is missing: run scripts/install-test-tools.sh (make test does)"
    command = [str(binary), "authorization", "--url", url, "--client-id", client_id, "--resource", resource]
    command += ["-p", str(port), "-o", str(output_dir), "--spec-version", "2026-07-28"]
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    assert proc.stdout is not None
    output: list[str] = []

    async def converse() -> None:
        wants_url = False
        async for raw in proc.stdout:  # type: ignore[union-attr]
            line = raw.decode(errors="replace").rstrip("\n")
            output.append(line)
            if wants_url and line.startswith("http"):
                wants_url = False
                landed = await browser.follow(line.strip())
                output.append(f"[browser] the callback answered {landed.status_code}")
            wants_url = wants_url or PROMPT in line
        await proc.wait()

    try:
        await asyncio.wait_for(converse(), SUITE_TIMEOUT)
    except TimeoutError:
        output.append(f"[test] the suite did not finish within {SUITE_TIMEOUT} s")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return "\n".join(output)


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
async def test_authorization_server_scenarios(tmp_path: Path) -> None:
    port = free_port()
    browser = Browser()
    with oauth_server() as server:
        issuer = issuer_of(server)
        client_id = await register(issuer, f"http://127.0.0.1:{port}/callback", name="conformance suite")
        try:
            output = await run_suite(issuer, client_id, server.mcp_url, port, tmp_path, browser)
        finally:
            await browser.aclose()
        assert server.alive(), server.log()[-3000:]
    results = await asyncio.to_thread(read_checks, tmp_path, RESULT_DIR)
    report = "\n".join(problems(results)) + f"\n--- the suite's output:\n{output[-3000:]}"
    assert set(results) == SCENARIOS, report
    assert not problems(results), report
    passed = {check["id"] for checks in results.values() for check in checks if check.get("status") == "SUCCESS"}
    assert {
        "authorization-server-metadata",
        "authorization-server-metadata-cimd",
        "authorization-code-grant",
    } <= passed, report
    assert len(browser.visited) == 1
