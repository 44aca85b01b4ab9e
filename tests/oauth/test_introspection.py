"""RFC 7662 introspection on the built-in authorization server, as an external resource server uses it: a
confidential client made in the admin (or the ORM) authenticates with HTTP Basic and learns the token's user,
client, scope and audience; an unauthenticated caller learns nothing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client
from oauth2_provider.models import Application

from tests.oauth.flow import RESOURCE, tokens

pytestmark = pytest.mark.usefixtures("builtin_as")
SECRET = "introspection-secret-0123456789"


def resource_server() -> str:
    """A confidential client for a resource server: DOT hashes the secret when saved."""
    application = Application.objects.create(
        name="resource server",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,
    )
    return application.client_id


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_a_resource_server_introspects_a_token(user: Any) -> None:
    web = Client()
    client_id, answer = tokens(web, user)
    rs = resource_server()
    reply = web.post(
        "/oauth/introspect/", {"token": answer["access_token"]}, HTTP_AUTHORIZATION=basic(rs, SECRET)
    ).json()
    assert reply["active"] is True and reply["username"] == "alice" and reply["client_id"] == client_id
    assert reply["scope"] == "docs:read docs:search" and reply["aud"] == [RESOURCE] and reply["exp"] > 0
    unknown = web.post("/oauth/introspect/", {"token": "nope"}, HTTP_AUTHORIZATION=basic(rs, SECRET)).json()
    assert unknown == {"active": False}


def test_an_unauthenticated_caller_is_refused(user: Any) -> None:
    web = Client()
    _, answer = tokens(web, user)
    assert web.post("/oauth/introspect/", {"token": answer["access_token"]}).status_code == 403
    rs = resource_server()
    wrong = web.post("/oauth/introspect/", {"token": answer["access_token"]}, HTTP_AUTHORIZATION=basic(rs, "wrong"))
    assert wrong.status_code == 403
