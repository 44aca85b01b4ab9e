"""The MCP_* environment variables as awsmcp/settings.py turns them into MCP_AUTH and DOT's OAUTH2_PROVIDER
(read in a fresh interpreter, since settings are read once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import json; from awsmcp import settings as s; p = s.OAUTH2_PROVIDER; "
    "print(json.dumps({'auth': s.MCP_AUTH, 'required': s.MCP_AUTH_REQUIRED, 'dcr': p['DCR_ENABLED'], "
    "'cimd': p['CIMD_ENABLED'], 'access': p['ACCESS_TOKEN_EXPIRE_SECONDS'], 'refresh': p['REFRESH_TOKEN_EXPIRE_SECONDS'], "
    "'generator': p.get('ACCESS_TOKEN_GENERATOR'), 'oidc': p.get('OIDC_ENABLED', False), "
    "'key': bool(p.get('OIDC_RSA_PRIVATE_KEY')), 'scopes': sorted(p['SCOPES']), 'default': p['DEFAULT_SCOPES'], "
    "'private': s.MCP_OAUTH_REDIRECT_SCHEMES, 'redirects': p['ALLOWED_REDIRECT_URI_SCHEMES']}))"
)


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "DATABASE_URL", "SQLITE_PATH"))}
    clean |= {"SECRET_KEY": "x" * 50, "SQLITE_PATH": str(tmp_path / "db.sqlite3")} | env
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True)


def settings_with(tmp_path: Path, **env: str) -> dict[str, Any]:
    done = start(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_defaults(tmp_path: Path) -> None:
    shown = settings_with(tmp_path)
    assert shown["auth"] == "keys" and shown["required"] is True
    assert shown["dcr"] is True and shown["cimd"] is True
    assert (shown["access"], shown["refresh"]) == (3600, 2592000)
    assert shown["generator"] is None and shown["oidc"] is False
    assert shown["default"] == ["docs:read", "docs:search"]
    assert shown["private"] == ["cursor", "vscode", "vscode-insiders"]
    assert shown["redirects"] == ["http", "https", "cursor", "vscode", "vscode-insiders"]


@pytest.mark.parametrize(
    "env,auth,required",
    [
        ({"MCP_AUTH_REQUIRED": "false"}, "none", False),
        ({"MCP_AUTH_REQUIRED": "true"}, "keys", True),
        ({"MCP_AUTH": "keys+oauth", "MCP_AUTH_REQUIRED": "false"}, "keys+oauth", True),
        ({"MCP_AUTH": "OAuth"}, "oauth", True),
    ],
)
def test_mcp_auth_and_its_old_spelling(tmp_path: Path, env: dict[str, str], auth: str, required: bool) -> None:
    shown = settings_with(tmp_path, **env)
    assert (shown["auth"], shown["required"]) == (auth, required)


def test_a_wrong_mcp_auth_stops_the_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env |= {"SECRET_KEY": "x" * 50, "MCP_AUTH": "password"}
    done = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "MCP_AUTH must be" in done.stderr


def test_the_oauth_knobs_reach_dot(tmp_path: Path) -> None:
    shown = settings_with(
        tmp_path,
        MCP_OAUTH_DCR="false",
        MCP_OAUTH_CIMD="false",
        MCP_OAUTH_ACCESS_TOKEN_TTL="600",
        MCP_OAUTH_REFRESH_TOKEN_TTL="86400",
        MCP_PARTITION_SCOPES="aws-cn=docs:cn",
    )
    assert (shown["dcr"], shown["cimd"], shown["access"], shown["refresh"]) == (False, False, 600, 86400)
    assert shown["scopes"] == ["docs:cn", "docs:read", "docs:search"]


def test_jwt_access_tokens_make_a_signing_key_beside_the_database(tmp_path: Path) -> None:
    shown = settings_with(tmp_path, MCP_OAUTH_JWT_ACCESS_TOKENS="true")
    assert shown["generator"] == "oauth.jwt.generate" and shown["oidc"] is True and shown["key"] is True
    assert (tmp_path / "oauth-signing-key.pem").exists()


@pytest.mark.parametrize(
    "raw,private",
    [
        ("cursor, com.example.App  vscode,cursor", ["cursor", "com.example.app", "vscode"]),
        ("cursor:// vscode:", ["cursor", "vscode"]),
        ("", []),
    ],
)
def test_redirect_schemes_are_read_space_or_comma_separated(tmp_path: Path, raw: str, private: list[str]) -> None:
    shown = settings_with(tmp_path, MCP_OAUTH_REDIRECT_SCHEMES=raw)
    assert shown["private"] == private and shown["redirects"] == ["http", "https", *private]


@pytest.mark.parametrize(
    "raw,says",
    [
        ("cursor javascript", "a browser runs or reads javascript: URIs itself"),
        ("data:,cursor", "a browser runs or reads data: URIs itself"),
        ("File", "a browser runs or reads file: URIs itself"),
        ("vbscript about blob filesystem", "a browser runs or reads vbscript: URIs itself"),
        ("cursor http", "http is for loopback hosts only"),
        ("https", "https is always allowed"),
        ("cursor 9lives", "'9lives', which is not a URI scheme name"),
        ("my_app", "'my_app', which is not a URI scheme name"),
    ],
)
def test_a_dangerous_or_malformed_redirect_scheme_stops_the_start(tmp_path: Path, raw: str, says: str) -> None:
    done = start(tmp_path, MCP_OAUTH_REDIRECT_SCHEMES=raw)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and "MCP_OAUTH_REDIRECT_SCHEMES lists" in done.stderr
    assert says in done.stderr
