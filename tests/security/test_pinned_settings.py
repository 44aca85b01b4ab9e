"""Pins for the settings a deployment relies on, against a real server: no SECRET_KEY, no start (unless told it is
a developer's machine); DEBUG off, so an unknown URL gets the plain 404; behind TLS (MCP_BEHIND_TLS) the admin's
cookies are Secure and HttpOnly and HSTS is sent."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.admin import STAFF_PASSWORD, STAFF_USER, create_staff, csrf_token
from tests.support.processes import DaphneServer, base_env, daphne, migrate

HTTPS = {"x-forwarded-proto": "https"}


@pytest.fixture(scope="module")
def database() -> Path:
    """One migrated database for the servers of this module (migrating costs more than starting)."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-settings-")) / "db.sqlite3"
    migrate(db, base_env())
    return db


@pytest.fixture(scope="module")
def behind_tls(database: Path) -> Iterator[DaphneServer]:
    """A developer's start without SECRET_KEY (AWSMCP_DEV), behind a TLS proxy on loopback."""
    with daphne(
        db_path=database,
        SECRET_KEY="",
        AWSMCP_DEV="1",
        AWSMCP_DEV_SECRET_FILE=str(database.parent / "dev-secret"),
        MCP_BEHIND_TLS="true",
        TRUSTED_PROXIES="127.0.0.1",
    ) as srv:
        yield srv


def test_without_secret_key_the_server_refuses_to_start(database: Path) -> None:
    missing = str(database.parent / "no-dev-secret")  # a bare start reads a developer's file but never makes one
    with (
        pytest.raises(RuntimeError, match="exited"),
        daphne(db_path=database, SECRET_KEY="", AWSMCP_DEV_SECRET_FILE=missing),
    ):
        pass


def test_debug_is_off_an_unknown_url_gets_the_plain_404(behind_tls: DaphneServer) -> None:
    reply = httpx.get(f"{behind_tls.base}/no-such-page", headers=HTTPS, timeout=10)
    assert reply.status_code == 404
    for debug_page in ("URLconf", "DEBUG = True", "Traceback", "Django tried these URL patterns"):
        assert debug_page not in reply.text


def _cookies(reply: httpx.Response) -> dict[str, str]:
    """Set-Cookie lines by cookie name, lower-cased (the attributes are what is checked)."""
    return {line.split("=", 1)[0]: line.lower() for line in reply.headers.get_list("set-cookie")}


def test_behind_tls_cookies_are_secure_and_httponly_and_hsts_is_sent(behind_tls: DaphneServer) -> None:
    create_staff(behind_tls)
    # The cookies are Secure, so a client on plain loopback HTTP keeps them by hand.
    with httpx.Client(base_url=behind_tls.base, timeout=10) as http:
        page = http.get("/admin/login/", headers=HTTPS)
        hsts = page.headers["strict-transport-security"]
        assert re.fullmatch(r"max-age=31536000; includeSubDomains", hsts), hsts
        csrf = _cookies(page)["csrftoken"]
        assert "; secure" in csrf and "samesite=lax" in csrf
        token = page.headers["set-cookie"].split("csrftoken=", 1)[1].split(";", 1)[0]
        login = http.post(
            "/admin/login/?next=/admin/",
            data={"username": STAFF_USER, "password": STAFF_PASSWORD, "csrfmiddlewaretoken": csrf_token(page.text)},
            headers={
                **HTTPS,
                "cookie": f"csrftoken={token}",
                "referer": f"https://127.0.0.1:{behind_tls.port}/admin/login/",
            },
        )
        assert login.status_code == 302, login.text[:300]
        session = _cookies(login)["sessionid"]
        assert "; secure" in session and "; httponly" in session and "samesite=lax" in session
