"""The built-in authorization server (django-oauth-toolkit behind oauth/), in process with Django's test client:
the happy path, and the hostile cases of the authorization-server side (PKCE, redirect URIs, resource, codes,
refresh tokens, registration, CSRF)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings
from oauth2_provider.models import AccessToken, Application, RefreshToken

from tests.oauth.flow import (
    ISSUER,
    LOOPBACK_REDIRECT,
    RESOURCE,
    Forms,
    Pkce,
    approve,
    authorize_url,
    exchange,
    redirect_params,
    refresh,
    register,
    tokens,
)

pytestmark = pytest.mark.usefixtures("builtin_as")


@pytest.fixture
def web(user: Any) -> Client:
    return Client()


def signed_in_client(web: Client, user: Any) -> str:
    client_id = register(web).json()["client_id"]
    web.force_login(user)
    return client_id


def test_the_whole_flow_gives_tokens_bound_to_this_resource(web: Client, user: Any) -> None:
    client_id, answer = tokens(web, user)
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    assert answer["scope"].split() == ["docs:read", "docs:search"]
    stored = AccessToken.objects.get(application__client_id=client_id, user=user)
    assert stored.resource == [RESOURCE] and stored.user == user
    assert stored.token == ""  # stored hashed


def test_the_authorization_response_names_the_issuer(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    params = redirect_params(approve(web, authorize_url(client_id, Pkce.make())))
    assert params["iss"] == ISSUER and params["state"] == "s1" and params["code"]


def test_an_anonymous_browser_is_sent_to_the_login(web: Client) -> None:
    client_id = register(web).json()["client_id"]
    reply = web.get(authorize_url(client_id, Pkce.make()))
    assert reply.status_code == 302 and reply["Location"].startswith("/oauth/login/?next=/oauth/authorize/")


def test_the_login_form_signs_in_and_returns_to_the_authorization(web: Client, user: Any) -> None:
    client_id = register(web).json()["client_id"]
    url = authorize_url(client_id, Pkce.make())
    login = web.get(url)["Location"]
    form = Forms(web.get(login).content.decode()).fields
    assert set(form) >= {"username", "password", "next", "csrfmiddlewaretoken"}
    done = web.post(login, form | {"username": "alice", "password": "a-user-password-1234"})
    assert done.status_code == 302 and done["Location"] == url
    page = web.get(url)
    assert page.status_code == 200 and b'name="allow"' in page.content


def test_the_consent_page_names_the_client_its_redirect_host_and_the_scopes(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    page = web.get(authorize_url(client_id, Pkce.make())).content.decode()
    assert "test client" in page and "127.0.0.1:33418" in page
    assert "Read AWS documentation" in page and "Search the AWS documentation" in page
    assert 'name="allow"' in page


def test_a_consent_post_without_the_csrf_token_is_refused(user: Any) -> None:
    web = Client(enforce_csrf_checks=True)
    client_id = signed_in_client(web, user)
    url = authorize_url(client_id, Pkce.make())
    fields = Forms(web.get(url).content.decode()).fields
    fields.pop("csrfmiddlewaretoken")
    assert web.post(url, fields | {"allow": "Authorize"}).status_code == 403


def test_cancel_sends_access_denied_with_the_issuer(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    url = authorize_url(client_id, Pkce.make())
    fields = Forms(web.get(url).content.decode()).fields
    params = redirect_params(web.post(url, fields))
    assert params["error"] == "access_denied" and params["iss"] == ISSUER


# --- PKCE ------------------------------------------------------------------------------------------


def test_pkce_missing_is_refused_before_consent(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    reply = web.get(authorize_url(client_id, None))
    assert reply.status_code == 400 and not reply.has_header("Location")
    assert b"invalid_request" in reply.content and b"challenge" in reply.content.lower()


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_plain_is_refused_before_consent(web: Client, user: Any, method: str | None) -> None:
    client_id = signed_in_client(web, user)
    url = authorize_url(client_id, None, code_challenge="x" * 43)
    if method:
        url += f"&code_challenge_method={method}"
    reply = web.get(url)
    assert reply.status_code == 400 and not reply.has_header("Location")
    assert b"invalid_request" in reply.content and b"S256" in reply.content


def test_a_wrong_code_verifier_is_refused(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    code = redirect_params(approve(web, authorize_url(client_id, Pkce.make())))["code"]
    reply = exchange(web, client_id, code, Pkce.make().verifier)
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_grant"


# --- redirect URIs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://127.0.0.1.evil.example:33418/callback",
        "http://127.0.0.1:33418/elsewhere",
        "https://127.0.0.1:33418/callback",
    ],
)
def test_a_redirect_uri_not_registered_gets_an_error_page_and_no_redirect(
    web: Client, user: Any, redirect_uri: str
) -> None:
    client_id = signed_in_client(web, user)
    reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri=redirect_uri))
    assert reply.status_code == 400 and not reply.has_header("Location")


def test_a_loopback_redirect_is_accepted_on_any_port(web: Client, user: Any) -> None:
    client_id = register(web, ["http://localhost:3334/oauth/callback"]).json()["client_id"]
    web.force_login(user)
    url = authorize_url(client_id, Pkce.make(), redirect_uri="http://localhost:49999/oauth/callback")
    assert redirect_params(approve(web, url))["code"]


def test_registration_refuses_an_http_redirect_to_a_non_loopback_host(web: Client) -> None:
    reply = register(web, ["https://app.example/callback", "http://app.example/callback"])
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_redirect_uri"
    assert reply.json()["error_description"] == (
        "http://app.example/callback: http is for loopback hosts only (127.0.0.1, [::1], localhost); "
        "use https for other hosts"
    )
    assert register(web, ["http://[::1]:8080/cb", "http://localhost/cb", "https://app.example/cb"]).status_code == 201


def test_an_http_redirect_to_a_non_loopback_host_is_never_used(web: Client, user: Any) -> None:
    application = Application.objects.create(
        name="made in admin",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://app.example/callback",
    )
    client_id = application.client_id
    web.force_login(user)
    reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri="http://app.example/callback"))
    assert reply.status_code == 400 and not reply.has_header("Location")


# --- private-use URI schemes (RFC 8252 §7.1) ------------------------------------------------------------------

CURSOR_REDIRECT = "cursor://anysphere.cursor-mcp/oauth/callback"  # what older Cursor builds register


def test_a_cursor_client_gets_its_code_at_its_own_scheme(web: Client, user: Any) -> None:
    reply = register(web, [CURSOR_REDIRECT])
    assert reply.status_code == 201, reply.content
    client_id = reply.json()["client_id"]
    web.force_login(user)
    pkce = Pkce.make()
    url = authorize_url(client_id, pkce, redirect_uri=CURSOR_REDIRECT)
    page = web.get(url).content.decode()
    assert "<strong>cursor://anysphere.cursor-mcp</strong>" in page and "<code>cursor:</code> links" in page
    answer = approve(web, url)
    assert answer.status_code == 302 and answer["Location"].startswith(CURSOR_REDIRECT + "?")
    params = redirect_params(answer)
    assert params["iss"] == ISSUER and params["state"] == "s1"
    token = exchange(web, client_id, params["code"], pkce.verifier, CURSOR_REDIRECT)
    assert token.status_code == 200 and token.json()["access_token"]


@pytest.mark.parametrize(
    "asked",
    [
        "cursor://anysphere.cursor-mcp:4444/oauth/callback",  # no any-port rule: that is for loopback http only
        "cursor://anysphere.cursor-mcp/oauth/callback/other",
        "cursor://evil.example/oauth/callback",
        "vscode://anysphere.cursor-mcp/oauth/callback",
        "cursor://anysphere.cursor-mcp/oauth/callback?x=1",
    ],
)
def test_a_custom_scheme_redirect_must_match_exactly(web: Client, user: Any, asked: str) -> None:
    client_id = register(web, [CURSOR_REDIRECT]).json()["client_id"]
    web.force_login(user)
    reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri=asked))
    assert reply.status_code == 400 and not reply.has_header("Location")


@pytest.mark.parametrize(
    "uri,scheme",
    [
        ("javascript:alert(document.domain)//", "javascript"),
        ("javascript://anysphere.cursor-mcp/%0aalert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("file:///etc/passwd", "file"),
    ],
)
def test_a_dangerous_scheme_is_refused_even_when_listed(web: Client, user: Any, uri: str, scheme: str) -> None:
    with override_settings(MCP_OAUTH_REDIRECT_SCHEMES=["cursor", "javascript", "data", "file"]):
        reply = register(web, [uri])
        assert reply.status_code == 400 and reply.json()["error"] == "invalid_redirect_uri"
        assert reply.json()["error_description"] == f"{uri}: the {scheme} scheme is never allowed for redirect URIs"
        # Nor is one stored some other way (the admin) ever redirected to.
        application = Application.objects.create(
            name="made in admin",
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=uri,
        )
        web.force_login(user)
        refused = web.get(authorize_url(application.client_id, Pkce.make(), redirect_uri=uri))
        assert refused.status_code == 400 and not refused.has_header("Location")


def test_a_scheme_not_listed_is_refused_naming_the_allowed_ones(web: Client) -> None:
    reply = register(web, [CURSOR_REDIRECT, "myapp://callback"])
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_redirect_uri"
    assert reply.json()["error_description"] == (
        "myapp://callback: the myapp scheme is not allowed; allowed schemes: "
        "https, http (loopback hosts only), cursor, vscode, vscode-insiders"
    )
    assert not Application.objects.filter(redirect_uris__contains="myapp").exists()


def test_a_scheme_taken_off_the_list_is_no_longer_redirected_to(web: Client, user: Any) -> None:
    client_id = register(web, [CURSOR_REDIRECT]).json()["client_id"]
    web.force_login(user)
    with override_settings(MCP_OAUTH_REDIRECT_SCHEMES=["vscode"]):
        reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri=CURSOR_REDIRECT))
    assert reply.status_code == 400 and not reply.has_header("Location")


# --- resource (RFC 8707) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource", [None, "https://other.example/mcp", "http://testserver/mcpx", "http://testserver/", "http://evil/mcp"]
)
def test_an_authorization_request_without_this_resource_is_refused(
    web: Client, user: Any, resource: str | None
) -> None:
    client_id = signed_in_client(web, user)
    reply = web.get(authorize_url(client_id, Pkce.make(), resource=resource))
    assert reply.status_code == 400 and not reply.has_header("Location")
    assert b"invalid_target" in reply.content


def test_an_error_before_consent_never_bounces_to_a_registered_https_redirect(web: Client, user: Any) -> None:
    """RFC 9700 §4.11.2: anyone can register https://evil.example/cb; an error must not make us its redirector."""
    client_id = register(web, ["https://evil.example/cb"]).json()["client_id"]
    web.force_login(user)
    for url in (
        authorize_url(client_id, Pkce.make(), redirect_uri="https://evil.example/cb", resource=None),
        authorize_url(client_id, None, redirect_uri="https://evil.example/cb"),
        authorize_url(client_id, Pkce.make(), redirect_uri="https://evil.example/cb", scope="admin:everything"),
    ):
        reply = web.get(url)
        assert reply.status_code == 400 and not reply.has_header("Location"), url


def test_a_path_below_the_resource_is_accepted(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    pkce = Pkce.make()
    code = redirect_params(approve(web, authorize_url(client_id, pkce, resource=f"{RESOURCE}/sse")))["code"]
    reply = web.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LOOPBACK_REDIRECT,
            "client_id": client_id,
            "code_verifier": pkce.verifier,
        },
    )
    assert reply.status_code == 200
    assert AccessToken.objects.get(application__client_id=client_id, user=user).resource == [f"{RESOURCE}/sse"]


def test_a_consent_form_whose_resource_was_changed_is_refused(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    url = authorize_url(client_id, Pkce.make())
    fields = Forms(web.get(url).content.decode()).fields | {"resource": "https://other.example/mcp"}
    params = redirect_params(web.post(url, fields | {"allow": "Authorize"}))
    assert params["error"] == "invalid_target"
    assert not AccessToken.objects.filter(user=user).exists()


# --- codes and refresh tokens -------------------------------------------------------------------------


def test_a_replayed_authorization_code_is_refused(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    pkce = Pkce.make()
    code = redirect_params(approve(web, authorize_url(client_id, pkce)))["code"]
    assert exchange(web, client_id, code, pkce.verifier).status_code == 200
    again = exchange(web, client_id, code, pkce.verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_refresh_token_used_twice_revokes_its_family(web: Client, user: Any) -> None:
    client_id, first = tokens(web, user)
    renewed = refresh(web, client_id, first["refresh_token"])
    assert renewed.status_code == 200 and renewed.json()["refresh_token"] != first["refresh_token"]
    assert AccessToken.objects.get(user=user).resource == [RESOURCE]  # inherited from the grant
    again = refresh(web, client_id, first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.filter(user=user).exists()  # the first refresh's access token is gone too
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert refresh(web, client_id, renewed.json()["refresh_token"]).status_code == 400


def test_a_disabled_user_can_neither_refresh_nor_redeem_a_code(web: Client, user: Any) -> None:
    client_id, answer = tokens(web, user)
    pkce = Pkce.make()
    code = redirect_params(approve(web, authorize_url(client_id, pkce)))["code"]
    user.is_active = False
    user.save()
    assert refresh(web, client_id, answer["refresh_token"]).json()["error"] == "invalid_grant"
    assert exchange(web, client_id, code, pkce.verifier).json()["error"] == "invalid_grant"


def test_revocation_ends_the_refresh_token(web: Client, user: Any) -> None:
    client_id, answer = tokens(web, user)
    done = web.post("/oauth/revoke_token/", {"token": answer["refresh_token"], "client_id": client_id})
    assert done.status_code == 200
    assert refresh(web, client_id, answer["refresh_token"]).status_code == 400
    assert not AccessToken.objects.filter(user=user).exists()


# --- registration ---------------------------------------------------------------------------------


def test_registration_accepts_application_type_and_makes_a_public_client(web: Client) -> None:
    reply = register(web, application_type="native")
    assert reply.status_code == 201
    body = reply.json()
    assert body["client_id"] and "client_secret" not in body


def test_registration_is_off_when_dcr_is_off(web: Client, settings: Any) -> None:
    with override_settings(OAUTH2_PROVIDER=settings.OAUTH2_PROVIDER | {"DCR_ENABLED": False}):
        assert register(web).status_code == 404
        assert "registration_endpoint" not in web.get("/.well-known/oauth-authorization-server/oauth").json()
    assert "registration_endpoint" in web.get("/.well-known/oauth-authorization-server/oauth").json()


# --- switched off -------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth,issuer", [("keys", ""), ("none", ""), ("oauth", "https://id.example")])
def test_the_authorization_server_is_absent_unless_it_is_the_issuer(web: Client, auth: str, issuer: str) -> None:
    with override_settings(MCP_AUTH=auth, MCP_OAUTH_ISSUER=issuer):
        for path in ("/.well-known/oauth-authorization-server/oauth", "/oauth/authorize/", "/oauth/login/"):
            assert web.get(path).status_code == 404, path
        assert web.post("/oauth/token/", {}).status_code == 404


# --- consent is never skipped -------------------------------------------------------------------------


def test_approval_prompt_auto_still_shows_the_consent_page(web: Client, user: Any) -> None:
    client_id, _ = tokens(web, user)  # alice holds a live token for this client
    url = authorize_url(client_id, Pkce.make(), redirect_uri="http://127.0.0.1:31337/callback", approval_prompt="auto")
    reply = web.get(url)
    assert reply.status_code == 200 and not reply.has_header("Location")
    assert b'name="allow"' in reply.content


def test_an_application_marked_skip_authorization_still_shows_the_consent_page(web: Client, user: Any) -> None:
    client_id = signed_in_client(web, user)
    Application.objects.filter(client_id=client_id).update(skip_authorization=True)
    reply = web.get(authorize_url(client_id, Pkce.make()))
    assert reply.status_code == 200 and b'name="allow"' in reply.content
    assert redirect_params(approve(web, authorize_url(client_id, Pkce.make())))["code"]


def test_registration_cannot_ask_to_skip_the_consent_page(web: Client) -> None:
    client_id = register(web, skip_authorization=True).json()["client_id"]
    assert Application.objects.get(client_id=client_id).skip_authorization is False


# --- registration limits ---------------------------------------------------------------------------------


def post_registration(web: Client, **meta: str) -> Any:
    metadata = {"client_name": "c", "redirect_uris": [LOOPBACK_REDIRECT], "token_endpoint_auth_method": "none"}
    return web.post("/oauth/register/", json.dumps(metadata), content_type="application/json", **meta)


def test_registrations_from_one_address_meet_the_rate(web: Client, settings: Any) -> None:
    settings.MCP_RATELIMIT_ENABLED = True
    settings.MCP_OAUTH_REGISTRATION_RATE = "2/h"
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    address = {"REMOTE_ADDR": "192.0.2.50"}
    assert [post_registration(web, **address).status_code for _ in range(2)] == [201, 201]
    refused = post_registration(web, **address)
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert refused.json()["error"] == "too_many_requests" and "registrations" in refused.json()["error_description"]
    # Naming another address does not help, unless a trusted proxy says so.
    assert post_registration(web, HTTP_X_FORWARDED_FOR="198.51.100.7", **address).status_code == 429
    behind_proxy = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.50"}
    assert post_registration(web, **behind_proxy).status_code == 429
    assert post_registration(web, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 201
    assert Application.objects.count() == 3


def test_registrations_stop_at_the_client_cap(web: Client, settings: Any) -> None:
    settings.MCP_OAUTH_MAX_CLIENTS = 2
    Application.objects.create(  # made in the admin: not counted
        name="manual",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=LOOPBACK_REDIRECT,
    )
    assert [register(web).status_code for _ in range(2)] == [201, 201]
    full = register(web)
    assert full.status_code == 400 and full.json() == {
        "error": "invalid_client_metadata",
        "error_description": "registration is full: this server takes no more clients",
    }
    assert Application.objects.count() == 3
