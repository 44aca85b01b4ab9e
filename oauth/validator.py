"""DOT's request validator with the rules an MCP authorization server adds (oauth-plan §3.2).

- An authorization request must name this server's resource (RFC 8707 `resource`) and nothing else, so no token
  is ever minted without an audience (DOT treats an empty one as "any resource").
- PKCE `plain` (or a challenge without a method, which means plain) is refused before the consent page.
- A redirect URI must be one oauth.redirects allows: https, http to a loopback host (RFC 8252 §7.3), or a
  private-use scheme listed in MCP_OAUTH_REDIRECT_SCHEMES (RFC 8252 §7.1).
- A disabled user's authorization codes and refresh tokens buy nothing (DOT does not look at is_active).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from oauth import redirects
from oauth.issuer import meta_origin, resource_uri, within


def requested_resources(request: Request) -> list[str]:
    """The `resource` values of an authorization request: the consent form's list, else the query's."""
    value = getattr(request, "resource", None)
    if isinstance(value, list):
        return [str(item) for item in value]
    return [v for k, v in parse_qsl(urlsplit(request.uri).query, keep_blank_values=True) if k == "resource"]


class Validator(OAuth2Validator):
    """OAuth2Validator plus the resource, PKCE method and redirect-scheme rules."""

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        return redirects.allowed(redirect_uri) and super().validate_redirect_uri(
            client_id, redirect_uri, request, *args, **kwargs
        )

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        valid = super().validate_code(client_id, code, client, request, *args, **kwargs)
        return bool(valid) and request.user.is_active

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        return bool(valid) and request.user.is_active

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # Runs in the authorization request after the redirect URI and PKCE checks, on the GET that shows the
        # consent page (errors shown there as a page, oauth.views.Consent) and again on its POST (redirected).
        if getattr(request, "response_type", None):
            self._check_pkce_method(request)
            self._check_resource(request)
        return bool(super().validate_scopes(client_id, scopes, client, request, *args, **kwargs))

    @staticmethod
    def _check_pkce_method(request: Request) -> None:
        if getattr(request, "code_challenge_method", None) != "S256":
            raise errors.InvalidRequestError(
                description='Unsupported code_challenge_method; use "S256".', request=request
            )

    @staticmethod
    def _check_resource(request: Request) -> None:
        ours = resource_uri(meta_origin(request.headers))
        resources = requested_resources(request)
        if not resources:
            raise errors.CustomOAuth2Error(
                error="invalid_target", description=f"resource is required: ask for {ours}", request=request
            )
        for value in resources:
            if not within(value, ours):
                raise errors.CustomOAuth2Error(
                    error="invalid_target",
                    description=f"this server issues tokens for {ours} only",
                    request=request,
                )
