"""The first run as the README tells it: `make run`, then `manage.py createsuperuser` in another terminal.

In development the server and every command share a secret made on first use and kept in a file (0600), so a login
survives a restart; a deployment without SECRET_KEY refuses to start with one line. The admin names its icon.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.admin import STAFF_PASSWORD, STAFF_USER, sign_in
from tests.support.processes import ROOT, base_env, daphne, migrate

# Asked in a fresh process: whose is this session, and whose would it be under another secret (nobody's).
WHOSE = """
from django.contrib.auth import get_user
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test.utils import override_settings
def whose():
    request = HttpRequest()
    request.session = SessionStore({key!r})
    return get_user(request).get_username()
print("here:", whose())
with override_settings(SECRET_KEY="another-secret-" * 4):
    print("elsewhere:", whose() or "nobody")
"""


def development(tmp_path: Path, **env: str) -> dict[str, str]:
    """A developer's environment: no SECRET_KEY, no DATABASE_URL or REDIS_URL, the secret file in tmp_path."""
    made = base_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), AWSMCP_DEV_SECRET_FILE=str(tmp_path / "dev-secret"))
    for name in ("SECRET_KEY", "DATABASE_URL", "DEBUG", "AWSMCP_DEV", "STATIC_ROOT"):
        made.pop(name, None)
    return made | env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


async def test_the_readmes_commands_share_one_secret_and_a_login_survives_a_restart(tmp_path: Path) -> None:
    env = development(tmp_path)
    migrate(tmp_path / "db.sqlite3", env)
    made = manage(
        env | {"DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD, "DJANGO_SUPERUSER_EMAIL": "ops@example.com"},
        *("createsuperuser", "--noinput", "--username", STAFF_USER),
    )
    assert made.returncode == 0, made.stderr
    secret = tmp_path / "dev-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    first = secret.read_text()

    # The server (as `make run` starts it, without SECRET_KEY) reads the same file.
    with daphne(db_path=tmp_path / "db.sqlite3", SECRET_KEY="", AWSMCP_DEV_SECRET_FILE=str(secret)) as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=15, follow_redirects=True) as browser:
            home = await sign_in(browser, server)  # as the superuser createsuperuser made
            session_key = browser.cookies["sessionid"]
            # Every admin page names its icon, and the icon (and /favicon.ico) is served: no 404 in the console.
            icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', home.text)
            assert icon, home.text[:1000]
            for path in (icon.group(1), "/favicon.ico"):
                served = await browser.get(path)
                assert served.status_code == 200 and served.headers["content-type"].startswith("image/"), path
        assert "No directory at" not in server.log()  # whitenoise's warning about a staticfiles/ nobody needs
    assert secret.read_text() == first  # made once, then only read

    # Another process (a restart of the server) accepts the same login; under another secret it would not.
    asked = manage(env, "shell", "-c", WHOSE.format(key=session_key))
    assert asked.returncode == 0, asked.stderr
    assert f"here: {STAFF_USER}" in asked.stdout and "elsewhere: nobody" in asked.stdout, asked.stdout


@pytest.mark.parametrize("deployment", [{"DATABASE_URL": "postgres://awsmcp@127.0.0.1:1/awsmcp"}, {"REDIS_URL": "redis://127.0.0.1:1/0"}, {"MCP_BEHIND_TLS": "true"}])  # fmt: skip
def test_a_deployment_without_secret_key_refuses_in_one_line(tmp_path: Path, deployment: dict[str, str]) -> None:
    refused = manage(development(tmp_path, **deployment), "check")
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr  # one line, no traceback
    assert refused.stderr.startswith("awsmcp: SECRET_KEY is not set"), refused.stderr
    assert not (tmp_path / "dev-secret").exists()
