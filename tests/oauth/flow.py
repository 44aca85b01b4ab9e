"""The built-in authorization server driven in process with Django's test client: register a client, sign in,
approve, exchange the code. Shared by the tests in tests/oauth/ (and usable to mint a real token in a test)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.test import Client
from oauth2_provider.views.mixins import OAuthLibMixin

RESOURCE = "http://testserver/mcp"
ISSUER = "http://testserver/oauth"
LOOPBACK_REDIRECT = "http://127.0.0.1:33418/callback"


class Forms(HTMLParser):
    """Every <input name=… value=…> of a page (hidden fields, the CSRF token)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") and found.get("type") != "submit":
            self.fields[found["name"] or ""] = found.get("value") or ""


@dataclass
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def make(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def register(client: Client, redirect_uris: list[str] | None = None, **extra: Any) -> Any:
    """RFC 7591 registration of a public client, as the MCP SDK sends it."""
    metadata = {
        "client_name": "test client",
        "redirect_uris": redirect_uris or [LOOPBACK_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
        **extra,
    }
    return client.post("/oauth/register/", json.dumps(metadata), content_type="application/json")


def authorize_url(
    client_id: str,
    pkce: Pkce | None,
    redirect_uri: str = LOOPBACK_REDIRECT,
    resource: str | None = RESOURCE,
    **extra: str,
) -> str:
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": "s1",
    }
    query["scope"] = "docs:read docs:search"
    if pkce is not None:
        query |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    if resource is not None:
        query["resource"] = resource
    return "/oauth/authorize/?" + urlencode(query | extra)


def approve(client: Client, url: str) -> Any:
    """GET the consent page and POST its form with `allow`; the response is the redirect (not followed)."""
    page = client.get(url)
    assert page.status_code == 200, page.content[:500]
    return client.post(url, Forms(page.content.decode()).fields | {"allow": "Authorize"})


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302, (response.status_code, response.content[:300])
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def exchange(client: Client, client_id: str, code: str, verifier: str, redirect_uri: str = LOOPBACK_REDIRECT) -> Any:
    return client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": RESOURCE,
        },
    )


def refresh(client: Client, client_id: str, refresh_token: str) -> Any:
    return client.post(
        "/oauth/token/", {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    )


def tokens(client: Client, user: Any, redirect_uri: str = LOOPBACK_REDIRECT) -> tuple[str, dict[str, Any]]:
    """A registered client and the token response a signed-in `user` gets for it: (client_id, JSON)."""
    client_id = register(client, [redirect_uri]).json()["client_id"]
    client.force_login(user)
    pkce = Pkce.make()
    code = redirect_params(approve(client, authorize_url(client_id, pkce, redirect_uri)))["code"]
    answer = exchange(client, client_id, code, pkce.verifier, redirect_uri)
    assert answer.status_code == 200, answer.content
    return client_id, answer.json()


def forget_servers() -> None:
    """DOT keeps one oauthlib server per view class, built with the token generator of its first request."""
    classes: list[type] = [OAuthLibMixin]
    while classes:
        cls = classes.pop()
        if "_oauthlib_core" in cls.__dict__:
            delattr(cls, "_oauthlib_core")
        classes.extend(cls.__subclasses__())
