"""JWT access tokens for the built-in authorization server (MCP_OAUTH_JWT_ACCESS_TOKENS; oauth-plan §3.2.7).

RFC 9068 shape: RS256, `typ: at+jwt`, claims iss, sub (username), aud (the grant's resources), client_id, scope,
iat, exp, jti. Signed with OIDC_RSA_PRIVATE_KEY (MCP_OAUTH_SIGNING_KEY) under the `kid` DOT's JWKS view
publishes (the key's thumbprint), so a resource server holding only the JWKS URL can check them.

oauthlib calls the generator before DOT records the token's `resource`, so the audience is read here the way
DOT will: the token request's `resource`, else the authorization code's grant, else the refresh token's.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from functools import lru_cache
from typing import Any

import jwt as pyjwt
from jwcrypto import jwk
from oauth2_provider.models import get_grant_model, get_refresh_token_model
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request

from oauth.issuer import builtin_issuer, meta_origin


@lru_cache(maxsize=4)
def _key(pem: str) -> tuple[str, str]:
    """(kid, pem): the kid is the jwcrypto thumbprint DOT's JwksInfoView serves."""
    return jwk.JWK.from_pem(pem.encode()).thumbprint(), pem


def audience(request: Request) -> list[str]:
    """The resources the token being made is for (see the module's note)."""
    asked = [v for k, v in (request.decoded_body or []) if k == "resource"]
    if asked:
        return asked
    code = getattr(request, "code", None)
    if code:
        grant = get_grant_model().objects.filter(code=code).only("resource").first()
        return list(grant.resource or []) if grant else []
    refresh = getattr(request, "refresh_token", None)
    if refresh:
        checksum = hashlib.sha256(refresh.encode()).hexdigest()
        token = get_refresh_token_model().objects.filter(token_checksum=checksum).only("resource").first()
        return list(token.resource or []) if token else []
    return []


def claims(request: Request, now: float) -> dict[str, Any]:
    aud = audience(request)
    return {
        "iss": builtin_issuer(meta_origin(request.headers)),
        "sub": request.user.get_username(),
        "aud": aud[0] if len(aud) == 1 else aud,
        "client_id": request.client_id or request.client.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": int(now),
        "exp": int(now) + int(oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
        "jti": uuid.uuid4().hex,
    }


def generate(request: Request, refresh_token: bool = False) -> str:
    """oauthlib's token_generator: a signed RFC 9068 access token."""
    kid, pem = _key(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    return pyjwt.encode(claims(request, time.time()), pem, algorithm="RS256", headers={"typ": "at+jwt", "kid": kid})
