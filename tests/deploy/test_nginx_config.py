"""The shipped nginx configs pass `nginx -t` on the nginx the tests install (Debian's 1.22), wrapped in a main config
with temporary paths and a throwaway certificate for the TLS lines; the templating fails loudly on a changed file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.support.nginx import SHIPPED, ShapeChanged, check, compose_site, shipped_site, throwaway_cert


@pytest.fixture(scope="module")
def cert() -> tuple[Path, Path]:
    return throwaway_cert(Path(tempfile.mkdtemp(prefix="awsmcp-cert-")))


def test_the_shipped_site_passes_nginx_t(cert: tuple[Path, Path]) -> None:
    checked = check(shipped_site([8001, 8002], 18080, 18443, *cert))
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_the_compose_site_passes_nginx_t() -> None:
    checked = check(compose_site([8001, 8002], 18080))
    assert checked.returncode == 0, checked.stderr


def test_nginx_t_fails_on_a_directive_this_nginx_lacks(cert: tuple[Path, Path]) -> None:
    """What the shipped file did before (`http2 on;` needs nginx 1.25.1): the check can fail."""
    site = shipped_site([8001, 8002], 18080, 18443, *cert).replace("ssl http2;", "ssl;\n    http2 on;")
    checked = check(site)
    assert checked.returncode != 0
    assert 'unknown directive "http2"' in checked.stderr


def test_the_templating_fails_loudly_when_the_shipped_file_changes_shape(
    cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    changed = tmp_path / "awsmcp.conf"
    changed.write_text(SHIPPED.read_text().replace("listen 443 ssl http2;", "listen 8443 ssl http2;"))
    monkeypatch.setattr("tests.support.nginx.SHIPPED", changed)
    with pytest.raises(ShapeChanged, match="listen 443 ssl http2"):
        shipped_site([8001, 8002], 18080, 18443, *cert)
