"""The first run as the README tells it: `make run`, then `manage.py createsuperuser` in another terminal.

Development (`make run`: AWSMCP_DEV) makes a secret on first use and keeps it in a file (0600); a bare command reads
that file but never makes it, so the server and every command share one and a login survives a restart. Without
SECRET_KEY a bare environment with no file, or one that looks like a deployment (even with the file), refuses to
start with one line. The admin names its icon.
"""

from __future__ import annotations

import os
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
    """A bare environment (a developer's other terminal): no SECRET_KEY, no AWSMCP_DEV, no DATABASE_URL or
    REDIS_URL, the secret file in tmp_path."""
    made = base_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), AWSMCP_DEV_SECRET_FILE=str(tmp_path / "dev-secret"))
    for name in ("SECRET_KEY", "DATABASE_URL", "DEBUG", "AWSMCP_DEV", "STATIC_ROOT", "ALLOWED_HOSTS"):
        made.pop(name, None)
    return made | env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


async def test_the_readmes_commands_share_one_secret_and_a_login_survives_a_restart(tmp_path: Path) -> None:
    env = development(tmp_path)
    # `make run` migrates with AWSMCP_DEV=1: that makes the secret; then createsuperuser, in another terminal, is bare.
    migrate(tmp_path / "db.sqlite3", env)  # the run's migrated template: `migrate` below has nothing left to do
    migrated = manage(env | {"AWSMCP_DEV": "1"}, "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    secret = tmp_path / "dev-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert [name for name in os.listdir(tmp_path) if "dev-secret" in name] == ["dev-secret"]  # no temp left
    first = secret.read_text()
    made = manage(
        env | {"DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD, "DJANGO_SUPERUSER_EMAIL": "ops@example.com"},
        *("createsuperuser", "--noinput", "--username", STAFF_USER),
    )
    assert made.returncode == 0, made.stderr

    # The server (as `make run` starts it, without SECRET_KEY) reads the same file.
    served = {"SECRET_KEY": "", "AWSMCP_DEV": "1", "AWSMCP_DEV_SECRET_FILE": str(secret)}
    with daphne(db_path=tmp_path / "db.sqlite3", **served) as server:
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


def test_a_bare_environment_without_the_file_refuses_in_one_line_and_makes_none(tmp_path: Path) -> None:
    refused = manage(development(tmp_path), "check")
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr  # one line, no traceback
    assert refused.stderr.startswith("awsmcp: SECRET_KEY is not set"), refused.stderr
    assert "make run" in refused.stderr and "AWSMCP_DEV" in refused.stderr
    assert list(tmp_path.iterdir()) == []


DEPLOYMENTS = [
    {"DATABASE_URL": "postgres://awsmcp@127.0.0.1:1/awsmcp"},
    {"REDIS_URL": "redis://127.0.0.1:1/0"},
    {"MCP_BEHIND_TLS": "true"},
    {"ALLOWED_HOSTS": "mcp.example.com"},
]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda env: next(iter(env)))
def test_a_deployment_without_secret_key_refuses_in_one_line_even_with_the_file(
    tmp_path: Path, deployment: dict[str, str]
) -> None:
    secret = tmp_path / "dev-secret"
    secret.write_text("a-developer's-secret-copied-into-the-image-" * 2)  # as a careless `COPY . .` would
    refused = manage(development(tmp_path, **deployment), "check")
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr  # one line, no traceback
    assert refused.stderr.startswith("awsmcp: SECRET_KEY is not set"), refused.stderr
    assert next(iter(deployment)) in refused.stderr, refused.stderr  # it names what made it a deployment


def test_a_secret_file_that_cannot_be_made_refuses_in_one_line(tmp_path: Path) -> None:
    env = development(tmp_path, AWSMCP_DEV="1", AWSMCP_DEV_SECRET_FILE=str(tmp_path / "missing" / "dev-secret"))
    refused = manage(env, "check")
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert refused.stderr.startswith("awsmcp: cannot make the development secret"), refused.stderr


def test_the_docker_build_context_leaves_out_what_a_checkout_makes_locally() -> None:
    """deploy/docker-compose.yml builds from the repository root: a developer's secret, database, signing key,
    virtualenv and history must not reach the image (`COPY . .`)."""
    assert "context: .." in (ROOT / "deploy" / "docker-compose.yml").read_text()
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for pattern in (".awsmcp-dev-secret*", "db.sqlite3*", "**/*.sqlite3*", "*.pem", ".venv", ".tools", ".git"):
        assert pattern in ignored, pattern
    assert "staticfiles" in ignored
