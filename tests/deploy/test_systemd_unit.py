"""`systemd-analyze verify` checks the shipped units (the worker template and the one-shot migrations it requires),
their paths templated to this checkout (it needs ExecStart's binary to exist); deliberately broken copies show the
check can fail. `systemd-analyze security --offline=yes` scores the hardening of both."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ROOT

SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "awsmcp@.service"
MIGRATE = SYSTEMD / "awsmcp-migrate.service"
EXPOSURE = 3.0  # systemd-analyze security's "OK" band starts under 4.5; the shipped units score 1.9
HARDENING = re.compile(
    r"^(NoNewPrivileges|Protect\w+|Private\w+|Restrict\w+|LockPersonality|CapabilityBoundingSet|SystemCall\w+)=.*\n",
    flags=re.MULTILINE,
)


def installed(directory: Path, unit: str | None = None, migrate: str | None = None) -> Path:
    """Both units in `directory` as installed, the worker as instance 8001, /srv/awsmcp (the checkout in
    production) pointing at this checkout; the worker's path."""
    for text, name in (
        (unit or UNIT.read_text(), "awsmcp@8001.service"),
        (migrate or MIGRATE.read_text(), MIGRATE.name),
    ):
        assert text.count("/srv/awsmcp") == 2, f"{name}: the unit's paths changed: update this templating"
        (directory / name).write_text(text.replace("/srv/awsmcp", str(ROOT)))
    return directory / "awsmcp@8001.service"


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("systemd-analyze")
    assert binary, "systemd-analyze is missing: run scripts/install-test-tools.sh (make test does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return analyze("verify", unit.name, MIGRATE.name, cwd=unit.parent)


def test_the_units_verify_cleanly(tmp_path: Path) -> None:
    checked = verify(installed(tmp_path))
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr  # warnings count too


def test_the_worker_requires_the_migrations(tmp_path: Path) -> None:
    """Without awsmcp-migrate.service next to it the worker cannot start: it Requires= the migrations."""
    worker = installed(tmp_path)
    (tmp_path / MIGRATE.name).unlink()
    checked = analyze("verify", worker.name, cwd=tmp_path)
    assert checked.returncode != 0
    assert "Unit awsmcp-migrate.service not found" in checked.stderr, checked.stderr


def test_what_the_units_promise() -> None:
    """The settings the README relies on: migrations once and first, never giving up on restarts, metrics files per
    instance and removed when it stops, SQLite in the state directory."""
    unit, migrate = UNIT.read_text(), MIGRATE.read_text()
    for line in (
        "Requires=awsmcp-migrate.service",
        "StartLimitIntervalSec=0",
        "RuntimeDirectory=awsmcp/%i",
        "Environment=PROMETHEUS_MULTIPROC_DIR=/run/awsmcp/%i",
        "StateDirectory=awsmcp",
        "Environment=SQLITE_PATH=/var/lib/awsmcp/db.sqlite3",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, flags=re.MULTILINE), line
    assert re.search(r"^After=awsmcp-migrate\.service ", unit, flags=re.MULTILINE)
    assert "RuntimeDirectoryPreserve" not in unit and "migrate" not in re.findall(r"^ExecStart.*$", unit, re.M)[0]
    assert "ExecStartPre" not in unit
    for line in ("Type=oneshot", "RemainAfterExit=yes", "StateDirectory=awsmcp"):
        assert re.search(rf"^{re.escape(line)}$", migrate, flags=re.MULTILINE), line


def exposure(unit: Path) -> float:
    """systemd-analyze security's overall exposure of a unit file (0 safest, 10 most exposed)."""
    scored = analyze("security", "--offline=yes", unit.name, cwd=unit.parent)
    if "--offline" in scored.stderr and "unrecognized" in scored.stderr:
        pytest.skip(f"this systemd-analyze cannot score a unit file offline (systemd < 250): {scored.stderr}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", scored.stdout)
    assert found, scored.stdout + scored.stderr
    return float(found.group(1))


def test_the_units_are_hardened(tmp_path: Path) -> None:
    worker = installed(tmp_path)
    assert exposure(worker) < EXPOSURE
    assert exposure(tmp_path / MIGRATE.name) < EXPOSURE


def test_an_unhardened_unit_scores_worse(tmp_path: Path) -> None:
    """The score can fail: the worker without its sandboxing lines is far more exposed."""
    bare = HARDENING.sub("", UNIT.read_text())
    assert "ProtectSystem" not in bare
    assert exposure(installed(tmp_path, unit=bare)) > EXPOSURE


def test_no_comment_follows_a_value() -> None:
    """systemd has no trailing comments: `EnvironmentFile=/etc/awsmcp/env  # ...` names a file that is not there."""
    for unit in (UNIT, MIGRATE):
        for line in unit.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                assert " #" not in line, line


def test_a_broken_unit_fails(tmp_path: Path) -> None:
    checked = verify(installed(tmp_path, unit=UNIT.read_text().replace("[Service]", "[Servic]")))
    assert checked.returncode != 0
    assert "Service has no ExecStart=" in checked.stderr, checked.stderr


def test_an_unparsable_setting_is_reported(tmp_path: Path) -> None:
    """systemd ignores a bad value with a warning and exit code 0: why the clean check also wants no output."""
    checked = verify(installed(tmp_path, unit=UNIT.read_text().replace("Restart=always", "Restart=sometimes")))
    assert "Failed to parse service restart specifier" in checked.stderr
