"""Real awsmcp processes in OAuth modes: a protected server with its built-in authorization server, and a second
Daphne of the same code playing an organisation's "external" issuer (the issue asks for a real issuer, not a mock).

Starting Django costs seconds on a busy machine, so the database is migrated once per test run and copied, and
people and API keys are written straight into the copy, as the admin would store them (a PBKDF2 password hash,
a SHA-256 key hash), instead of through a `manage.py` process each.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import functools
import hashlib
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.oauth_browser import PASSWORD, USER
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, base_env, daphne, migrate

POLL = 0.5  # MCP_KEY_REVOCATION_POLL and OPS_RULES_POLL of these servers: revocations are seen within seconds
STAFF = "operator"  # a superuser in every prepared database, for the admin


def oauth_env(origin: OriginServer | None = None, **overrides: str) -> dict[str, str]:
    env = {
        **(origin.settings_env() if origin is not None else {}),
        "MCP_AUTH": "oauth",
        "MCP_KEY_REVOCATION_POLL": str(POLL),
        "OPS_RULES_POLL": str(POLL),
    }
    env.update(overrides)
    return env


@functools.cache
def _template() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-oauth-template-"))
    atexit.register(shutil.rmtree, workdir, True)
    db = workdir / "db.sqlite3"
    migrate(db, base_env(SQLITE_PATH=str(db)))
    return db


@functools.cache
def password_hash(password: str) -> str:
    """What Django stores for this password (its default hasher and work factor, so no upgrade at sign-in)."""
    iterations, salt = 1_000_000, secrets.token_hex(11)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def prepared_db(people: dict[str, str] | None = None, keys: tuple[str, ...] = ()) -> tuple[Path, dict[str, str]]:
    """A migrated database of its own with these people (name -> password; by default the browser helper's one),
    the staff superuser, and these API keys; returns it and the keys' secrets."""
    db = Path(tempfile.mkdtemp(prefix="awsmcp-oauth-")) / "db.sqlite3"
    shutil.copy(_template(), db)
    add_people(db, people or {USER: PASSWORD})
    add_people(db, {STAFF: PASSWORD}, staff=True)
    return db, {name: add_key(db, name) for name in keys}


def add_people(db: Path, people: dict[str, str], staff: bool = False) -> None:
    now = datetime.now(UTC).isoformat(sep=" ")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) VALUES (?, ?, ?, '', '', '', ?, 1, ?)",
            [(password_hash(password), staff, name, staff, now) for name, password in people.items()],
        )
    conn.close()


def add_key(db: Path, name: str) -> str:
    """An API key as `manage.py create_api_key` makes it; its secret."""
    token = "amcp_" + secrets.token_urlsafe(32)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO ops_apikey (name, prefix, token_hash, enabled, rate_override, created_at)"
            " VALUES (?, ?, ?, 1, '', ?)",
            (name, token[:13], hashlib.sha256(token.encode()).hexdigest(), datetime.now(UTC).isoformat(sep=" ")),
        )
    conn.close()
    return token


def set_active(server: DaphneServer, username: str, active: bool) -> None:
    """Disable (or enable again) a person: what unticking "Active" in the admin writes."""
    with sqlite3.connect(server.env["SQLITE_PATH"]) as conn:
        conn.execute("UPDATE auth_user SET is_active = ? WHERE username = ?", (active, username))
    conn.close()


def access_token_ids(server: DaphneServer, username: str) -> list[int]:
    """The primary keys of this person's access tokens (the rows the admin's list shows)."""
    with sqlite3.connect(server.env["SQLITE_PATH"]) as conn:
        rows = conn.execute(
            "SELECT t.id FROM oauth2_provider_accesstoken t JOIN auth_user u ON u.id = t.user_id WHERE u.username = ?",
            (username,),
        ).fetchall()
    conn.close()
    return [row[0] for row in rows]


@contextmanager
def oauth_server(
    origin: OriginServer | None = None,
    people: dict[str, str] | None = None,
    keys: tuple[str, ...] = (),
    **overrides: str,
) -> Iterator[DaphneServer]:
    """A Daphne with `MCP_AUTH=oauth` (unless overridden), these people able to sign in; its API keys' secrets
    are in `server.env` as AWSMCP_TEST_KEY_<name>."""
    db, secrets_ = prepared_db(people, keys)
    env = oauth_env(origin, **overrides) | {f"AWSMCP_TEST_KEY_{name}": secret for name, secret in secrets_.items()}
    try:
        with daphne(db_path=db, **env) as server:
            yield server
    finally:
        shutil.rmtree(db.parent, ignore_errors=True)


@contextmanager
def external_issuer(people: dict[str, str] | None = None, **overrides: str) -> Iterator[DaphneServer]:
    """Another awsmcp process used only as the organisation's authorization server. The built-in server issues
    tokens for its own resource URI only (`{its origin}/mcp`): that string is the audience its tokens carry, the
    way an identity provider names an API by an identifier of its own (Okta's `api://…`, Entra's application
    id), and the protected server accepts it through MCP_OAUTH_AUDIENCE. Its own MCP endpoints are not used."""
    with oauth_server(people=people, **overrides) as server:
        yield server


async def refused_soon(server: DaphneServer, token: str) -> bool:
    """True once the server answers a fresh initialize with this bearer with 401. A server may keep accepting
    a token it validated for MCP_OAUTH_TOKEN_CACHE_SECONDS (here POLL) after the token ended; False if it still
    opens well past that."""
    deadline = time.monotonic() + 10 * POLL + 5
    body = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"},
        },
    }
    headers = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as http:
        while (await http.post(server.mcp_url, json=body, headers=headers)).status_code != 401:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL / 2)
    return True


def issuer_of(server: DaphneServer) -> str:
    """The built-in issuer string of a server reached at 127.0.0.1 (its metadata `issuer`, byte for byte)."""
    return f"{server.base}/oauth"
