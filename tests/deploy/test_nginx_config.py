"""The shipped nginx configs pass `nginx -t` on the nginx the tests install (Debian's 1.22), wrapped in a main config
with temporary paths and a throwaway certificate for the TLS lines; the templating fails loudly on a changed file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest

from tests.support.nginx import SHIPPED, Nginx, ShapeChanged, check, compose_site, shipped_site, throwaway_cert
from tests.support.processes import free_port


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


@pytest.mark.parametrize(
    ("shipped", "changed", "named"),
    [
        ("listen 443 ssl http2;", "listen 8443 ssl http2;", "listen 443 ssl http2"),  # the site's listen
        ("listen 443 ssl http2 default_server;", "listen 443 ssl http2;", "default_server"),  # the catch-all's
        ("server_name mcp.example.com;", "server_name mcp.example.org;", "server_name"),
    ],
)
def test_the_templating_fails_loudly_when_the_shipped_file_changes_shape(
    cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shipped: str, changed: str, named: str
) -> None:
    copy = tmp_path / "awsmcp.conf"
    copy.write_text(SHIPPED.read_text().replace(shipped, changed))
    monkeypatch.setattr("tests.support.nginx.SHIPPED", copy)
    with pytest.raises(ShapeChanged, match=named):
        shipped_site([8001, 8002], 18080, 18443, *cert)


def test_the_compose_nginx_keeps_metrics_to_prometheus() -> None:
    """The compose nginx refuses /metrics itself (Prometheus scrapes the workers on the compose network); other
    paths go on to the workers (none listening here: 502)."""
    with Nginx([free_port(), free_port()], compose=True) as proxy:
        assert httpx.get(f"{proxy.base}/metrics", timeout=10).status_code == 403
        assert httpx.get(f"{proxy.base}/healthz", timeout=10).status_code == 502
