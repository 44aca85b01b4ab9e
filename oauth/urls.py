"""The built-in authorization server's URLs (django-oauth-toolkit under /oauth/, its RFC 8414 metadata at the
root path form) and the protected-resource metadata. Every authorization-server URL answers 404 unless
MCP_AUTH has oauth and MCP_OAUTH_ISSUER is empty (oauth.views.builtin_only)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from oauth2_provider import views as dot

from oauth.metadata import urlpatterns as protected_resource
from oauth.views import Consent, Metadata, Registration, SignIn, builtin_only


def jwks(request: HttpRequest) -> HttpResponse:
    """DOT's JWKS (the key JWT access tokens are signed with), only while JWT access tokens are on."""
    if not settings.MCP_OAUTH_JWT_ACCESS_TOKENS:
        raise Http404("access tokens are opaque: no JWKS")
    return dot.JwksInfoView.as_view()(request)


# Names are DOT's, in its namespace, so its views and metadata reverse() them.
provider = [
    path("authorize/", builtin_only(Consent.as_view()), name="authorize"),
    path("token/", builtin_only(dot.TokenView.as_view()), name="token"),
    path("revoke_token/", builtin_only(dot.RevokeTokenView.as_view()), name="revoke-token"),
    path("introspect/", builtin_only(dot.IntrospectTokenView.as_view()), name="introspect"),
    path("register/", builtin_only(Registration.as_view()), name="dcr-register"),
    path(
        "register/<str:client_id>/",
        builtin_only(dot.DynamicClientRegistrationManagementView.as_view()),
        name="dcr-register-management",
    ),
    path(".well-known/jwks.json", builtin_only(jwks), name="jwks-info"),
    path(".well-known/oauth-authorization-server", builtin_only(Metadata.as_view()), name="oauth-server-metadata"),
]

urlpatterns = [
    path("oauth/login/", builtin_only(SignIn.as_view()), name="oauth-login"),
    path("oauth/", include((provider, "oauth2_provider"))),
    # RFC 8414 §3: the issuer {origin}/oauth has its metadata at /.well-known/oauth-authorization-server/oauth;
    # the bare root form answers the same document for clients that look only there.
    path(".well-known/oauth-authorization-server/oauth", builtin_only(Metadata.as_view())),
    path(".well-known/oauth-authorization-server", builtin_only(Metadata.as_view())),
]

urlpatterns += protected_resource  # the protected-resource metadata (RFC 9728)
