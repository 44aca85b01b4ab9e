"""The official MCP conformance suite (`@modelcontextprotocol/conformance`) against a real Daphne.

`make test` installs Node 22 and the suites into .tools/ (scripts/install-test-tools.sh). There is no
expected-failures file: every scenario a run selects must pass with every check passing. The verdict is read
from the checks.json files the suite writes under `-o` (one directory per scenario), not from its console
output, so a scenario that crashed before writing its checks counts as missing, and a check that only warns
fails the test although the suite itself prints the scenario as passed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.processes import ROOT, daphne

TOOLS = ROOT / ".tools"
NODE_BIN = TOOLS / "node" / "node_modules" / "node" / "bin"
# A run takes ~13 s alone and several times that on a loaded 2-core CI machine; the bound only keeps a hung
# scenario from holding the file (what finished is still read). The test's own pytest-timeout leaves room for it
# plus Daphne's start (at most 20 s) and stop, so a slow run fails with the suite's verdict, not a kill.
SUITE_TIMEOUT = 180
TEST_TIMEOUT = SUITE_TIMEOUT + 120

# A check with one of these statuses passes; INFO entries are the suite's log of the exchange.
PASSING = {"SUCCESS", "INFO"}
# Checks the suite skips whatever the server does: alpha.12 says "pending subscriptions/listen rewrite" for the
# tasks status notifications (the harness still watches the tools/call POST stream, SEP-2663 moved them to the
# subscriptions/listen stream). A skip anywhere else means the server lacked something the check needed.
SKIPPED_BY_THE_SUITE = {("tasks-status-notifications", "tasks-status-notifications")}

# 2026-07-28: scenarios the suite runs but prints under "Not scored" (pending in the spec, or the tasks extension).
PENDING_2026 = {"http-header-validation", "http-custom-header-server-validation", "json-schema-2020-12"}
TASKS_2026 = {
    "tasks-lifecycle",
    "tasks-capability-negotiation",
    "tasks-wire-fields",
    "tasks-request-state-removal",
    "tasks-mrtr-input",
    "tasks-request-headers",
    "tasks-dispatch-and-envelope",
    "tasks-status-notifications",
    "tasks-required-task-error",
    "tasks-mrtr-composition",
}
# 2025-11-25: not scored (pending, or added after the release), run all the same.
NOT_SCORED_2025 = {"server-session-lifecycle", "json-schema-2020-12", "server-sse-polling"}


@dataclass(frozen=True)
class Run:
    """One invocation of a suite, and what it must show: exactly `scored` scored scenarios plus the
    `not_scored` ones, all passing; and at least `full_marks` SUCCESS checks, so a check that used to pass and
    now is no longer run shows up. The counts: for 2025-11-25 and 0.1.16 the suite's TypeScript reference
    server scores the same; for 2026-07-28, what the work of issue 14 scored (a trial merge of its four
    branches), every check passing."""

    version: str
    args: tuple[str, ...]
    scored: int
    not_scored: frozenset[str] = field(default_factory=frozenset)
    full_marks: int = 0


RUNS = [
    pytest.param(
        Run(
            "0.2.0-alpha.12",
            ("--requirements", "2026-07-28"),
            37,
            frozenset(PENDING_2026 | TASKS_2026),
            full_marks=196,
        ),
        id="0.2.0-alpha.12-2026-07-28",
    ),
    pytest.param(
        Run("0.2.0-alpha.12", ("--requirements", "2025-11-25"), 30, frozenset(NOT_SCORED_2025), full_marks=84),
        id="0.2.0-alpha.12-2025-11-25",
    ),
    pytest.param(Run("0.1.16", ("--suite", "all"), 32, full_marks=47), id="0.1.16-all"),
]

# The suite names each result directory <kind>-<scenario>-<ISO timestamp with dashes>.
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


def run_suite(run: Run, url: str, output_dir: Path) -> str:
    """Run the suite's CLI; returns its console output (for the failure message only)."""
    binary = TOOLS / f"conformance-{run.version}" / "node_modules" / ".bin" / "conformance"
    assert binary.exists(), f"{binary} is missing: run scripts/install-test-tools.sh (make test does)"
    command = [str(binary), "server", "--url", url, "-o", str(output_dir), *run.args]
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SUITE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        # What finished still has its checks.json; the hung scenario shows up as missing.
        partial = [
            out.decode(errors="replace") if isinstance(out, bytes) else out or "" for out in (exc.stdout, exc.stderr)
        ]
        return f"the suite did not finish within {SUITE_TIMEOUT} s\n" + "".join(partial)
    return proc.stdout + proc.stderr


def read_checks(output_dir: Path, result_dir: re.Pattern[str] = RESULT_DIR) -> dict[str, list[dict]]:
    """Scenario name -> its checks, from every checks.json under the output directory (each command names its
    result directories its own way: `result_dir` has the scenario group)."""
    results: dict[str, list[dict]] = {}
    for path in sorted(output_dir.glob("*/checks.json")):
        match = result_dir.match(path.parent.name)
        assert match, f"unexpected result directory {path.parent.name}"
        results[match.group("scenario")] = json.loads(path.read_text())
    return results


def problems(results: dict[str, list[dict]]) -> list[str]:
    """Every check that did not pass, as `scenario | check id | status | message`."""
    found = []
    for scenario, checks in sorted(results.items()):
        if not checks:
            found.append(f"{scenario} | - | NO CHECKS | the scenario recorded no checks")
        for check in checks:
            status, check_id = check.get("status"), check.get("id")
            if status in PASSING or (status == "SKIPPED" and (scenario, check_id) in SKIPPED_BY_THE_SUITE):
                continue
            message = check.get("errorMessage") or check.get("description") or ""
            found.append(f"{scenario} | {check_id} | {status} | {message[:500]}")
    return found


@pytest.mark.timeout(TEST_TIMEOUT)
@pytest.mark.parametrize("run", RUNS)
def test_conformance_suite(run: Run, tmp_path: Path) -> None:
    with daphne(MCP_CONFORMANCE_FIXTURES="1") as server:
        output = run_suite(run, server.mcp_url, tmp_path)
        assert server.alive(), server.log()[-3000:]
    results = read_checks(tmp_path)
    successes = sum(check.get("status") == "SUCCESS" for checks in results.values() for check in checks)
    print(f"conformance {run.version} {' '.join(run.args)}: {len(results)} scenarios, {successes} checks passed")

    missing_unscored = sorted(run.not_scored - results.keys())
    scored = results.keys() - run.not_scored
    bad = problems(results)
    report = "\n".join(bad) + f"\n--- end of the suite's output:\n{output[-2000:]}"
    if missing_unscored:
        pytest.fail(f"scenarios not run (or wrote no checks.json): {missing_unscored}\n{report}")
    if len(scored) != run.scored:
        pytest.fail(f"{len(scored)} scored scenarios ran, {run.scored} expected: {sorted(scored)}\n{report}")
    if bad:
        pytest.fail(f"{len(bad)} checks did not pass (scenario | check | status | message):\n{report}")
    assert successes >= run.full_marks, f"{successes} checks passed, {run.full_marks} expected\n{report}"


def test_the_verdict_counts_warnings_and_skips_as_failures(tmp_path: Path) -> None:
    """The reading of checks.json itself: a WARNING, a skip the suite does not always make and an empty
    scenario are reported; SUCCESS, INFO and the suite's own skip are not."""
    checks = {
        "server-tools-list-2026-11-29T06-01-30-389Z": [{"id": "a", "status": "SUCCESS"}, {"id": "b", "status": "INFO"}],
        "server-caching-2026-11-29T06-01-30-946Z": [{"id": "c", "status": "WARNING", "errorMessage": "stale"}],
        "server-server-stateless-2026-11-29T06-01-29-963Z": [{"id": "d", "status": "SKIPPED"}],
        "server-tasks-status-notifications-2026-11-29T06-01-31-270Z": [
            {"id": "tasks-status-notifications", "status": "SKIPPED"}
        ],
        "server-ping-2026-11-29T06-01-31-000Z": [],
    }
    for name, content in checks.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "checks.json").write_text(json.dumps(content))
    results = read_checks(tmp_path)
    assert set(results) == {"tools-list", "caching", "server-stateless", "tasks-status-notifications", "ping"}
    assert problems(results) == [
        "caching | c | WARNING | stale",
        "ping | - | NO CHECKS | the scenario recorded no checks",
        "server-stateless | d | SKIPPED | ",
    ]


def test_a_slow_run_ends_with_the_suites_verdict_not_a_kill() -> None:
    """Each suite run may take SUITE_TIMEOUT; pytest-timeout must not end its test first."""
    marks = [mark for mark in getattr(test_conformance_suite, "pytestmark", []) if mark.name == "timeout"]
    assert SUITE_TIMEOUT >= 180
    assert [mark.args[0] for mark in marks] == [TEST_TIMEOUT]
    assert TEST_TIMEOUT >= SUITE_TIMEOUT + 20 + 60  # Daphne's start (20 s at most) and a margin for its stop
