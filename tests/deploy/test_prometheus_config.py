"""`promtool` (Debian's prometheus package) checks the shipped alert rules and Prometheus config, and runs the rules'
unit tests (deploy/prometheus/alerts.test.yml: an alert that fires, and stays quiet on healthy traffic)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.processes import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/install-test-tools.sh (make test does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS)


def test_the_alert_rules_check() -> None:
    checked = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_the_prometheus_config_checks_with_its_rule_file() -> None:
    checked = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout


def test_the_alerts_unit_tests_pass() -> None:
    tested = promtool("test", "rules", str(PROMETHEUS / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The unit tests can fail: expecting the error-rate alert while it is still pending is wrong."""
    (tmp_path / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    wrong = (
        (PROMETHEUS / "alerts.test.yml")
        .read_text()
        .replace("exp_alerts: []", "exp_alerts: [{exp_labels: {severity: page}}]", 1)
    )
    (tmp_path / "alerts.test.yml").write_text(wrong)
    tested = promtool("test", "rules", str(tmp_path / "alerts.test.yml"))
    assert tested.returncode != 0
    assert "AwsmcpHighErrorRate" in tested.stdout + tested.stderr
