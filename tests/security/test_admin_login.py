"""The admin login is throttled per client IP and per username (django-axes), against a real Daphne whose
TRUSTED_PROXIES lets the test speak for several clients through X-Forwarded-For."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from django.test import RequestFactory

from awsmcp.login_throttle import client_ip
from tests.support.admin import STAFF_PASSWORD, STAFF_USER, csrf_token
from tests.support.processes import DaphneServer, daphne

LIMIT = 3
COOLOFF = 15.0  # long enough for the checks made while locked, on a busy machine
OTHER_USER, OTHER_PASSWORD = "second-operator", "second-operator-password"
ATTACKER, BYSTANDER = "203.0.113.7", "198.51.100.20"


@pytest.fixture(scope="module")
def server() -> Iterator[DaphneServer]:
    with daphne(
        TRUSTED_PROXIES="127.0.0.1/32",
        ADMIN_LOGIN_FAILURE_LIMIT=str(LIMIT),
        ADMIN_LOGIN_COOLOFF=str(COOLOFF),
    ) as srv:
        made = srv.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; User = get_user_model(); "
            f"User.objects.create_superuser({STAFF_USER!r}, 'one@example.com', {STAFF_PASSWORD!r}); "
            f"User.objects.create_superuser({OTHER_USER!r}, 'two@example.com', {OTHER_PASSWORD!r})",
        )
        assert made.returncode == 0, made.stderr
        yield srv


def recorded(server: DaphneServer) -> tuple[int, int]:
    """Failures counted in the throttle's records, and the bytes of request data they hold."""
    shown = server.manage(
        "shell",
        "-c",
        "from axes.models import AccessAttempt; rows = AccessAttempt.objects.all(); "
        "print(sum(r.failures_since_start for r in rows), sum(len(r.post_data) + len(r.get_data) for r in rows))",
    )
    assert shown.returncode == 0, shown.stderr
    failures, size = shown.stdout.split()[-2:]
    return int(failures), int(size)


async def log_in(server: DaphneServer, username: str, password: str, ip: str, pad: str = "") -> httpx.Response:
    """One login through the admin form, as a browser behind the trusted proxy at `ip`."""
    client = httpx.AsyncClient(base_url=server.base, timeout=15, headers={"x-forwarded-for": ip})
    async with client:
        page = await client.get("/admin/login/")
        reply = await client.post(
            "/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": csrf_token(page.text),
                **({"note": pad} if pad else {}),
            },
            headers={"referer": f"{server.base}/admin/login/"},
        )
        if reply.status_code == 302:  # logged in: keep the session for a look at the admin
            reply = await client.get("/admin/axes/accessattempt/")
        return reply


def logged_in(reply: httpx.Response) -> bool:
    return reply.status_code == 200 and "log out" in reply.text.lower()


async def test_failed_logins_lock_the_ip_and_the_username_until_the_cooloff(server: DaphneServer) -> None:
    for _ in range(LIMIT - 1):
        wrong = await log_in(server, STAFF_USER, "not-the-password", ATTACKER)
        assert wrong.status_code == 200 and not logged_in(wrong)  # the form again, with its error
    assert (await log_in(server, STAFF_USER, "not-the-password", ATTACKER)).status_code == 429  # the limit
    locked_at = time.monotonic()
    right = await log_in(server, STAFF_USER, STAFF_PASSWORD, ATTACKER)
    assert right.status_code == 429 and not logged_in(right), right.text[:300]
    assert "too many login attempts" in right.text.lower()
    # Per username: the same account from another address is locked too.
    assert (await log_in(server, STAFF_USER, STAFF_PASSWORD, BYSTANDER)).status_code == 429
    # Per IP: the attacker's address is locked for every account.
    assert (await log_in(server, OTHER_USER, OTHER_PASSWORD, ATTACKER)).status_code == 429
    for _ in range(10):  # more attempts while locked, with large form fields
        refused = await log_in(server, STAFF_USER, "x" * 4000, ATTACKER, pad="y" * 4000)
        assert refused.status_code == 429
    # Another account from another address is untouched, and its admin shows the lockout.
    listing = await log_in(server, OTHER_USER, OTHER_PASSWORD, BYSTANDER)
    assert logged_in(listing), listing.text[:300]
    assert ATTACKER in listing.text and STAFF_USER in listing.text
    # Attempts while locked were refused without a write: what is recorded stays at the limit.
    failures, recorded_bytes = recorded(server)
    assert failures == LIMIT and recorded_bytes < LIMIT * 3000, (failures, recorded_bytes)
    assert time.monotonic() - locked_at < COOLOFF, "the checks above outlasted the cool-off"
    # After the cool-off (from the failure that locked) the right password works again.
    await asyncio.sleep(max(0.0, COOLOFF - (time.monotonic() - locked_at)) + 0.5)
    assert logged_in(await log_in(server, STAFF_USER, STAFF_PASSWORD, BYSTANDER))


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(settings: object) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]  # type: ignore[attr-defined]
    factory = RequestFactory()
    spoofed = factory.post("/admin/login/", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR=BYSTANDER)
    assert client_ip(spoofed) == "192.0.2.9"
    proxied = factory.post("/admin/login/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=f"{ATTACKER}, 10.9.9.9")
    assert client_ip(proxied) == ATTACKER
