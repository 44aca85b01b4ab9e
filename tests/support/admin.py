"""Driving the real Django admin of a running Daphne over HTTP, as a staff member's browser would."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.support.processes import DaphneServer

STAFF_USER = "operator"
STAFF_PASSWORD = "operator-password-for-tests"


# The servers (by port and process id) whose database has the staff user already: each `manage.py shell` costs
# seconds of CPU. Keyed by the server, not by its database's setting: a setting names a new, empty database again
# when a later server gets the same path or URL (the same tmp path, a new PostgreSQL on a reused port).
_staffed: set[tuple[int, int]] = set()


def create_staff(server: DaphneServer) -> None:
    identity = (server.port, server.proc.pid)
    if identity in _staffed:
        return
    result = server.manage("shell", "-c", _CREATE_STAFF)
    assert result.returncode == 0, result.stderr
    _staffed.add(identity)


_CREATE_STAFF = f"""
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(username={STAFF_USER!r}).exists():
    User.objects.create_superuser({STAFF_USER!r}, "ops@example.com", {STAFF_PASSWORD!r})
"""


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def logged_in(server: DaphneServer) -> httpx.AsyncClient:
    """An httpx client with a staff session cookie."""
    create_staff(server)
    client = httpx.AsyncClient(base_url=server.base, timeout=15, follow_redirects=True)
    await sign_in(client, server)
    return client


async def sign_in(client: httpx.AsyncClient, server: DaphneServer) -> httpx.Response:
    """The admin's login form filled in as the staff user (made already) by a client that follows redirects."""
    page = await client.get("/admin/login/")
    reply = await client.post(
        "/admin/login/?next=/admin/",
        data={"username": STAFF_USER, "password": STAFF_PASSWORD, "csrfmiddlewaretoken": csrf_token(page.text)},
        headers={"referer": f"{server.base}/admin/login/"},
    )
    assert reply.status_code == 200 and "logout" in reply.text.lower(), reply.text[:500]
    return reply


async def post_form(client: httpx.AsyncClient, path: str, data: dict[str, object]) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text[:300]
    return await client.post(
        path,
        data={**data, "csrfmiddlewaretoken": csrf_token(page.text)},
        headers={"referer": str(page.url)},
    )


def connection_rows(listing_html: str, session_ids: list[str]) -> list[str]:
    """The admin's row keys (for `_selected_action`) of these sessions on a Connections list page."""
    return [
        key
        for session_id in session_ids
        for key in re.findall(
            r'name="_selected_action" value="(\d+)"[^>]*>\s*</td>\s*<th class="field-short_id"><a[^>]*>'
            + re.escape(session_id[:12]),
            listing_html,
        )
    ]


async def close_from_admin(admin: httpx.AsyncClient, row_keys: list[str]) -> httpx.Response:
    """The Connections page's "Disconnect the selected sessions" action (value close_connections) on these rows."""
    return await post_form(
        admin,
        "/admin/ops/connection/?state__exact=active",
        {"action": "close_connections", "_selected_action": row_keys, "index": "0"},
    )


def staff_cookies(server: DaphneServer) -> httpx.Cookies:
    """A staff member's session cookies, logged in once (for a module's tests, each with a client of its own loop)."""

    async def log_in() -> httpx.Cookies:
        client = await logged_in(server)
        await client.aclose()
        return client.cookies

    return asyncio.run(log_in())


def staff_client(server: DaphneServer, cookies: httpx.Cookies) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base, cookies=cookies, timeout=20, follow_redirects=True)
