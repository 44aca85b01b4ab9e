"""The built-in authorization server's sign-in: Django's login, CSRF-protected and throttled by django-axes
exactly as the admin login is (ADMIN_LOGIN_FAILURE_LIMIT failures lock the address and the username: 429)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.oauth.conftest import PASSWORD
from tests.oauth.flow import Forms

pytestmark = pytest.mark.usefixtures("builtin_as")


def log_in(web: Client, username: str, password: str) -> Any:
    fields = Forms(web.get("/oauth/login/?next=/oauth/authorize/").content.decode()).fields
    return web.post("/oauth/login/", fields | {"username": username, "password": password})


def test_the_login_page_has_the_admin_style_and_the_fields() -> None:
    page = Client().get("/oauth/login/").content.decode()
    assert 'name="username"' in page and 'name="password"' in page and 'name="csrfmiddlewaretoken"' in page
    assert "admin/css/login.css" in page


def test_a_login_without_the_csrf_token_is_refused(user: Any) -> None:
    web = Client(enforce_csrf_checks=True)
    web.get("/oauth/login/")
    assert web.post("/oauth/login/", {"username": "alice", "password": PASSWORD}).status_code == 403


def test_failed_logins_lock_the_login_out_with_429(user: Any) -> None:
    web = Client()
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [log_in(web, "alice", "wrong").status_code for _ in range(limit)]
    assert statuses[: limit - 1] == [200] * (limit - 1) and statuses[-1] == 429, statuses
    assert log_in(web, "alice", PASSWORD).status_code == 429  # the right password too, until the cool-off


def test_a_good_login_returns_to_next(user: Any) -> None:
    reply = log_in(Client(), "alice", PASSWORD)
    assert reply.status_code == 302 and reply["Location"] == "/oauth/authorize/"


def test_an_inactive_user_cannot_sign_in(user: Any) -> None:
    user.is_active = False
    user.save()
    assert log_in(Client(), "alice", PASSWORD).status_code == 200  # the form again, with its error
