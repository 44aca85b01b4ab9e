"""JWT access tokens from the built-in authorization server (MCP_OAUTH_JWT_ACCESS_TOKENS): RFC 9068 claims,
signed with the key DOT's JWKS view publishes under the same kid, the audience kept across a refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client, override_settings

from oauth import signing_key
from tests.oauth.flow import ISSUER, RESOURCE, forget_servers, refresh, tokens

pytestmark = pytest.mark.usefixtures("builtin_as")


def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def jwt_on(settings: Any) -> Iterator[None]:
    key = pem()
    provider = settings.OAUTH2_PROVIDER | {
        "ACCESS_TOKEN_GENERATOR": "oauth.jwt.generate",
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": key,
    }
    forget_servers()
    with override_settings(MCP_OAUTH_JWT_ACCESS_TOKENS=True, MCP_OAUTH_SIGNING_KEY=key, OAUTH2_PROVIDER=provider):
        yield
    forget_servers()


def check(web: Client, token: str, client_id: str) -> dict[str, Any]:
    keys = web.get("/oauth/.well-known/jwks.json").json()["keys"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    (published,) = [k for k in keys if k["kid"] == header["kid"]]
    key = jwt.PyJWK.from_dict(published)
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=RESOURCE, issuer=ISSUER)
    assert claims["sub"] == "alice" and claims["client_id"] == client_id
    assert claims["scope"] == "docs:read docs:search" and claims["aud"] == RESOURCE
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]
    return claims


@pytest.mark.usefixtures("jwt_on")
def test_access_tokens_are_signed_jwts_checkable_with_the_jwks(user: Any) -> None:
    web = Client()
    client_id, answer = tokens(web, user)
    first = check(web, answer["access_token"], client_id)
    assert len(answer["refresh_token"]) < 100  # refresh tokens stay random, not JWTs
    renewed = refresh(web, client_id, answer["refresh_token"]).json()
    second = check(web, renewed["access_token"], client_id)
    assert second["jti"] != first["jti"]
    metadata = web.get("/.well-known/oauth-authorization-server/oauth").json()
    assert metadata["jwks_uri"] == "http://testserver/oauth/.well-known/jwks.json"


def test_no_jwks_while_tokens_are_opaque() -> None:
    assert Client().get("/oauth/.well-known/jwks.json").status_code == 404


def test_the_signing_key_file_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    first = signing_key.load_or_create(path)
    assert first.startswith("-----BEGIN PRIVATE KEY-----") and signing_key.load_or_create(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]
