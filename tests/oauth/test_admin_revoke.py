"""The admin ends a grant (every access and refresh token one user gave one application), from the access-token,
refresh-token or application list; other users' grants stay."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from oauth2_provider.models import AccessToken, Application, RefreshToken

from tests.oauth.flow import LOOPBACK_REDIRECT, Pkce, approve, authorize_url, exchange, redirect_params, refresh, tokens

pytestmark = pytest.mark.usefixtures("builtin_as")


@pytest.fixture
def admin_web(db: None) -> Client:
    web = Client()
    web.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-password-1234"))
    return web


def second_grant(web: Client, client_id: str, someone: Any) -> dict[str, Any]:
    web.force_login(someone)
    pkce = Pkce.make()
    code = redirect_params(approve(web, authorize_url(client_id, pkce)))["code"]
    return exchange(web, client_id, code, pkce.verifier, LOOPBACK_REDIRECT).json()


def live(user: Any) -> tuple[int, int]:
    return AccessToken.objects.filter(user=user).count(), RefreshToken.objects.filter(
        user=user, revoked__isnull=True
    ).count()


@pytest.mark.parametrize("listing", ["accesstoken", "refreshtoken"])
def test_ending_a_grant_from_a_token_revokes_both_kinds(admin_web: Client, user: Any, listing: str) -> None:
    web = Client()
    client_id, answer = tokens(web, user)
    renewed = refresh(web, client_id, answer["refresh_token"]).json()  # two generations in the line
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "bob-password-1234")
    second_grant(web, client_id, bob)
    model = AccessToken if listing == "accesstoken" else RefreshToken
    picked = model.objects.filter(user=user).order_by("-pk").first()
    assert picked is not None and live(user) == (1, 1)
    reply = admin_web.post(
        f"/admin/oauth2_provider/{listing}/",
        {"action": "end_grants", "_selected_action": [picked.pk]},
        follow=True,
    )
    assert reply.status_code == 200 and "Ended 1 grant" in reply.content.decode()
    assert live(user) == (0, 0)
    assert live(bob) == (1, 1)
    assert refresh(web, client_id, renewed["refresh_token"]).status_code == 400


def test_revoking_an_application_ends_every_users_grant(admin_web: Client, user: Any) -> None:
    web = Client()
    client_id, _ = tokens(web, user)
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "bob-password-1234")
    second_grant(web, client_id, bob)
    application = Application.objects.get(client_id=client_id)
    reply = admin_web.post(
        "/admin/oauth2_provider/application/",
        {"action": "revoke_all_tokens", "_selected_action": [application.pk]},
        follow=True,
    )
    assert "Ended 2 grants" in reply.content.decode()
    assert live(user) == (0, 0) and live(bob) == (0, 0)


def test_dots_own_lists_are_still_there(admin_web: Client) -> None:
    for listing in ("application", "accesstoken", "refreshtoken", "grant", "idtoken"):
        assert admin_web.get(f"/admin/oauth2_provider/{listing}/").status_code == 200, listing
