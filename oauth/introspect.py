"""RFC 7662 token introspection, for issuers whose access tokens are opaque (settings.MCP_OAUTH_INTROSPECTION_URL).

The resource server authenticates as a client (HTTP Basic, MCP_OAUTH_INTROSPECTION_CLIENT_ID/_SECRET) and trusts
the answer only when it says `active`, names this resource in `aud` and has not expired. The POST is bounded like
a JWKS fetch (oauth.jwks.fetch) and runs on the fetch pool; at most MCP_OAUTH_INTROSPECTION_CONCURRENCY run at once
per process, so a flood of made-up tokens waits its turn (and is refused at the fetch timeout) instead of taking
every fetch thread the documentation pages need.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from oauth import jwks


class Unsure(str):
    """A refusal that says nothing of the token (the issuer unreachable, slow or busy): it is never cached as a
    refusal and never ends a credential; only the issuer's `active: false` (or an expiry it states) does."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Introspected:
    """What the issuer said of an active token."""

    subject: str
    client_id: str
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    expires: float | None
    issuer: str


def audiences_of(value: Any) -> tuple[str, ...]:
    """`aud` as a tuple of strings (a single string or a list; anything else is no audience)."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


_slots: dict[int, asyncio.Semaphore] = {}


def _in_flight() -> asyncio.Semaphore:
    loop_id = id(asyncio.get_running_loop())
    slots = _slots.get(loop_id)
    if slots is None:
        size = max(1, int(getattr(settings, "MCP_OAUTH_INTROSPECTION_CONCURRENCY", 4)))
        slots = _slots[loop_id] = asyncio.Semaphore(size)
    return slots


async def introspect(token: str) -> Introspected | str:
    """The issuer's answer for `token`, or why it is not usable."""
    slots = _in_flight()
    try:
        async with asyncio.timeout(float(getattr(settings, "MCP_OAUTH_FETCH_TIMEOUT", 5))):
            await slots.acquire()
    except TimeoutError:
        return Unsure("the token could not be introspected (too many introspections in flight; try again)")
    try:
        return await _ask(token)
    finally:
        slots.release()


async def _ask(token: str) -> Introspected | str:
    url = str(getattr(settings, "MCP_OAUTH_INTROSPECTION_URL", ""))
    client_id = str(getattr(settings, "MCP_OAUTH_INTROSPECTION_CLIENT_ID", ""))
    secret = str(getattr(settings, "MCP_OAUTH_INTROSPECTION_CLIENT_SECRET", ""))
    try:
        answer = await jwks.fetch(
            "POST",
            url,
            data={"token": token, "token_type_hint": "access_token"},
            auth=(client_id, secret) if client_id else None,
        )
    except jwks.FetchRefused as exc:
        return Unsure(f"the token could not be introspected ({exc})")
    return read(answer)


def read(answer: dict[str, Any]) -> Introspected | str:
    """An introspection response checked for `active` and `exp`; the audience is the caller's to check."""
    if answer.get("active") is not True:
        return "the token is not active"
    exp = answer.get("exp")
    expires = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    if expires is not None and expires + float(getattr(settings, "MCP_OAUTH_LEEWAY", 30)) < time.time():
        return "the token has expired"
    scope = answer.get("scope")
    subject = answer.get("sub") or answer.get("username") or ""
    client = answer.get("client_id") or ""
    return Introspected(
        subject=str(subject),
        client_id=str(client),
        audiences=audiences_of(answer.get("aud")),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        expires=expires,
        issuer=str(answer.get("iss") or ""),
    )
