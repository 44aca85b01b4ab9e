"""The built-in authorization server in a real Daphne process (the views are sync Django views behind the ASGI
router): sign-in, consent and token over HTTP, with a user made by manage.py against the server's database."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.oauth.flow import Forms, Pkce
from tests.support.processes import DaphneServer, daphne

REDIRECT = "http://127.0.0.1:33418/callback"


@pytest.fixture(scope="module")
def server() -> Iterator[DaphneServer]:
    with daphne(MCP_AUTH="oauth", MCP_GATE="ops.gate.RuleBookGate") as srv:
        made = srv.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            "get_user_model().objects.create_user('carol', 'c@example.com', 'carol-password-1234')",
        )
        assert made.returncode == 0, made.stderr
        yield srv


def test_a_browser_flow_against_daphne(server: DaphneServer) -> None:
    with httpx.Client(base_url=server.base, timeout=15) as web:
        metadata = web.get("/.well-known/oauth-authorization-server/oauth").json()
        assert metadata["issuer"] == f"{server.base}/oauth"
        registered = web.post(
            "/oauth/register/",
            json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "application_type": "native"},
        )
        client_id = registered.json()["client_id"]
        pkce = Pkce.make()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
            "resource": f"{server.base}/mcp",
        }
        url = f"/oauth/authorize/?{urlencode(query)}"
        login = web.get(url).headers["location"]
        fields = Forms(web.get(login).text).fields | {"username": "carol", "password": "carol-password-1234"}
        assert web.post(login, data=fields, headers={"referer": f"{server.base}{login}"}).status_code == 302
        consent = Forms(web.get(url).text).fields | {"allow": "Authorize"}
        done = web.post(url, data=consent, headers={"referer": f"{server.base}{url}"})
        params = {k: v[0] for k, v in parse_qs(urlsplit(done.headers["location"]).query).items()}
        assert params["iss"] == metadata["issuer"]
        token = web.post(
            "/oauth/token/",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": pkce.verifier,
            },
        )
        assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
        assert token.json()["access_token"]
