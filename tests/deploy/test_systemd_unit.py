"""`systemd-analyze verify` checks the shipped unit, its paths templated to this checkout (it needs ExecStart's
binary to exist); a deliberately broken copy shows the check can fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.processes import ROOT

UNIT = ROOT / "deploy" / "systemd" / "awsmcp@.service"


def instance(directory: Path, text: str) -> Path:
    """The unit as instance 8001, /srv/awsmcp (its checkout in production) pointing at this checkout."""
    assert text.count("/srv/awsmcp") == 3, "the unit's paths changed: update this templating"
    path = directory / "awsmcp@8001.service"
    path.write_text(text.replace("/srv/awsmcp", str(ROOT)))
    return path


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("systemd-analyze")
    assert binary, "systemd-analyze is missing: run scripts/install-test-tools.sh (make test does)"
    return subprocess.run([binary, "verify", str(unit)], capture_output=True, text=True, timeout=60, cwd=unit.parent)


def test_the_unit_verifies_cleanly(tmp_path: Path) -> None:
    checked = verify(instance(tmp_path, UNIT.read_text()))
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr  # warnings count too


def test_no_comment_follows_a_value() -> None:
    """systemd has no trailing comments: `EnvironmentFile=/etc/awsmcp/env  # ...` names a file that is not there."""
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            assert " #" not in line, line


def test_a_broken_unit_fails(tmp_path: Path) -> None:
    checked = verify(instance(tmp_path, UNIT.read_text().replace("[Service]", "[Servic]")))
    assert checked.returncode != 0
    assert "Service has no ExecStart=" in checked.stderr, checked.stderr


def test_an_unparsable_setting_is_reported(tmp_path: Path) -> None:
    """systemd ignores a bad value with a warning and exit code 0: why the clean check also wants no output."""
    checked = verify(instance(tmp_path, UNIT.read_text().replace("Restart=always", "Restart=sometimes")))
    assert "Failed to parse service restart specifier" in checked.stderr
