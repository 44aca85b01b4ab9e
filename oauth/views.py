"""The built-in authorization server's pages: sign-in, consent, and RFC 8414 metadata whose `issuer` (and the
RFC 9207 `iss` of every authorization response) is oauth.issuer.builtin_issuer for the origin asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse
from oauth2_provider import cimd
from oauth2_provider import views as dot
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.views.dynamic_client_registration import _error_response
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749 import errors

from oauth import limits, redirects
from oauth.issuer import builtin_enabled, builtin_issuer, request_origin

View = Callable[..., HttpResponse]


def builtin_only(view: View) -> View:
    """404 unless the built-in authorization server is on (MCP_AUTH has oauth, no MCP_OAUTH_ISSUER)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not builtin_enabled():
            raise Http404("the built-in authorization server is off")
        return view(request, *args, **kwargs)

    return guarded


class SignIn(LoginView):
    """Django's own login (throttled by django-axes like the admin's), on an admin-styled page."""

    template_name = "oauth/login.html"
    redirect_authenticated_user = False


class _MustAsk(Exception):
    """Raised where DOT would issue a code on the GET without asking (approval_prompt=auto, skip_authorization)."""


class Consent(dot.AuthorizationView):
    """DOT's authorization endpoint: its consent page names the client, where it sends the browser, and the
    scopes; every redirect it makes carries the built-in issuer as `iss`.

    The page is always shown: DOT issues a code on the GET, unasked, when the client sends approval_prompt=auto
    and the user holds a live token for it, or when the application is marked skip_authorization. Any client can
    send the first, and a code for any loopback port is one a local attacker redeems with its own PKCE verifier,
    so a code is only ever made by the consent form's POST."""

    template_name = "oauth/authorize.html"
    asking = False

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        client_id = request.GET.get("client_id", "")
        if cimd.is_cimd_client_id(client_id) and limits.new_cimd_client_refused(client_id):
            full = errors.CustomOAuth2Error(error="invalid_client_metadata", description=limits.FULL)
            return self.render_to_response({"error": full}, status=400)
        self.asking = True
        try:
            return super().get(request, *args, **kwargs)
        except _MustAsk:
            return self.render_to_response(self.get_context_data(**self.oauth2_data))
        finally:
            self.asking = False

    def error_response(self, error: Any, application: Any, **kwargs: Any) -> HttpResponse:
        """An error found on the GET (before the user chose: resource, PKCE, scope...) is shown here as a page,
        never redirected: anyone can register an https redirect URI, and a redirect would make this origin its
        open redirector (RFC 9700 §4.11.2). After the choice (the form's POST) DOT redirects, with `iss`."""
        if not self.asking:
            return super().error_response(error, application, **kwargs)
        _, answer = OAuthLibMixin.error_response(self, error, **kwargs)
        return self.render_to_response(answer, status=answer["error"].status_code)

    def create_authorization_response(self, *args: Any, **kwargs: Any) -> Any:
        if self.asking:
            raise _MustAsk
        return super().create_authorization_response(*args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        redirect_uri = context.get("redirect_uri") or ""
        context["redirect_host"] = redirects.target(redirect_uri)
        context["app_scheme"] = redirects.app_scheme(redirect_uri)
        registered = application.redirect_uris.split() if application is not None else []
        context["cimd"] = application is not None and application.registration_source == "cimd"
        context["loopback_only"] = bool(registered) and all(redirects.local(uri) for uri in registered)
        return context

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        return super().redirect(
            _add_iss_to_redirect(redirect_to, builtin_issuer(request_origin(self.request))), application
        )


class Metadata(dot.OAuthServerMetadataView):
    """RFC 8414 metadata with `issuer` and every endpoint URL on the origin asked (oauth.issuer)."""

    def _get_endpoint_url(self, request: HttpRequest, view_name: str, required: bool = False) -> str | None:
        try:
            path = reverse(f"oauth2_provider:{view_name}")
        except NoReverseMatch:
            if required:
                raise
            return None
        return f"{request_origin(request)}{path}"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = json.loads(super().get(request, *args, **kwargs).content)
        data["issuer"] = builtin_issuer(request_origin(request))
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class Registration(dot.DynamicClientRegistrationView):
    """DOT's RFC 7591 registration, refusing at once, as `invalid_redirect_uri` saying why, a redirect URI no code
    would ever be sent to (oauth.redirects: http to a host that is not loopback, a scheme not allowed).
    `application_type` is accepted and ignored.
    Registrations are rate-limited per address (429) and capped in number (oauth.limits)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        retry_after = limits.registration_retry_after(request)
        if retry_after is not None:
            too_many = _error_response(
                "too_many_requests",
                f"too many registrations from this address; retry after {retry_after} s",
                status=429,
            )
            too_many["Retry-After"] = str(retry_after)
            return too_many
        if limits.clients_full():
            return _error_response("invalid_client_metadata", limits.FULL)
        try:
            uris = json.loads(request.body).get("redirect_uris")
        except (ValueError, AttributeError):
            uris = None  # DOT answers malformed metadata itself
        if isinstance(uris, list):
            for uri in uris:
                refused = redirects.refusal(uri) if isinstance(uri, str) else None
                if refused:
                    return _error_response("invalid_redirect_uri", refused)
        return super().post(request, *args, **kwargs)
