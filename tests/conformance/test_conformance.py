"""The official MCP conformance suite (`@modelcontextprotocol/conformance`) against a real Daphne.

`make test` installs Node 22 and the suites into .tools/ (scripts/install-test-tools.sh). Scenarios
that are known to fail are listed with their reasons in expected-failures-<version>.yml beside this file.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ROOT, daphne

TOOLS = ROOT / ".tools"
NODE_BIN = TOOLS / "node" / "node_modules" / "node" / "bin"
HERE = Path(__file__).parent

# The most checks each suite can pass (its own TypeScript reference server scores the same):
# fewer means a check that used to pass now only warns or is skipped.
SUITES = [
    pytest.param("0.1.16", [], 47, id="0.1.16"),
    pytest.param("0.2.0-alpha.12", ["--spec-version", "2025-11-25"], 84, id="0.2.0-alpha.12"),
]


def run_suite(version: str, extra: list[str], url: str, output_dir: Path) -> subprocess.CompletedProcess[str]:
    binary = TOOLS / f"conformance-{version}" / "node_modules" / ".bin" / "conformance"
    assert binary.exists(), f"{binary} is missing: run scripts/install-test-tools.sh (make test does)"
    command = [str(binary), "server", "--url", url, "--suite", "all", "-o", str(output_dir), *extra]
    expected = HERE / f"expected-failures-{version}.yml"
    if expected.exists():
        command += ["--expected-failures", str(expected)]
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize(("version", "extra", "full_marks"), SUITES)
def test_conformance_suite(version: str, extra: list[str], full_marks: int, tmp_path: Path) -> None:
    with daphne(MCP_CONFORMANCE_FIXTURES="1") as server:
        proc = run_suite(version, extra, server.mcp_url, tmp_path)
        output = proc.stdout + proc.stderr
        summary = re.search(r"Total: (\d+) passed, (\d+) failed", output)
        assert summary, f"no summary from the suite:\n{output[-4000:]}"
        passed, failed = int(summary.group(1)), int(summary.group(2))
        print(f"conformance {version}: {passed} passed, {failed} failed")
        failures = [line for line in output.splitlines() if line.startswith("✗")]
        assert proc.returncode == 0, "failing scenarios:\n" + "\n".join(failures) + f"\n{output[-3000:]}"
        assert passed >= full_marks, f"{passed} checks passed, {full_marks} expected:\n{output[-3000:]}"
        assert server.alive(), server.log()
