"""The test's user at the authorization server: signs in and approves over plain HTTP, as a browser would.

Real OAuth clients (the SDK, mcp-remote, the conformance suite) open an authorization URL in a browser and wait
for the redirect to come back. This helper stands in for the browser and the person: it follows the server to
its login form (`username`, `password`), posts it, then posts the consent form with its `allow` button. The
final redirect to the client is either parsed (the SDK's `redirect_handler` / `callback_handler` pair) or
followed to the client's own loopback listener (mcp-remote, the conformance suite).
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from mcp.shared.auth import AuthorizationCodeResult

USER = "alice"
PASSWORD = "alice-password-for-tests-0123"


class Forms(html.parser.HTMLParser):
    """Every form of a page: its action and its named inputs with their values (buttons included)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag in ("input", "button") and a.get("name") and self.forms:
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1][1].setdefault(a["name"], a.get("value", ""))

    def having(self, name: str) -> tuple[str, dict[str, str]] | None:
        """The first form with a field of this name."""
        return next((form for form in self.forms if name in form[1]), None)


class AuthorizationRefused(AssertionError):
    """The server answered the authorization request with neither a login, a consent page nor a redirect."""


@dataclass
class Browser:
    """One person's browser: keeps its cookies (the sign-in) across authorizations, as a real one does."""

    username: str = USER
    password: str = PASSWORD
    approve: bool = True  # False: press nothing, just report the consent page
    grant_scope: str | None = None  # the person grants less than asked: the consent form's scope, narrowed
    result: AuthorizationCodeResult | None = None
    visited: list[str] = field(default_factory=list)  # every authorization URL it was sent to
    pages: list[httpx.Response] = field(default_factory=list)  # the answers, for tests of refusals
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)  # a sign-in to start from, kept up to date
    _web: httpx.AsyncClient | None = None

    def web(self) -> httpx.AsyncClient:
        if self._web is None:
            self._web = httpx.AsyncClient(follow_redirects=False, timeout=20, cookies=self.cookies)
            self.cookies = self._web.cookies
        return self._web

    async def aclose(self) -> None:
        if self._web is not None:
            await self._web.aclose()

    async def authorize(self, url: str) -> httpx.Response:
        """Sign in if asked, approve the consent page; return the server's final answer, not followed: a
        redirect to the client, or whatever page the server stopped at (an error page, or consent if not
        approving)."""
        self.visited.append(url)
        web = self.web()
        answer = await web.get(url)
        for _ in range(6):
            self.pages.append(answer)
            if answer.is_redirect:
                target = urljoin(str(answer.url), answer.headers["location"])
                if not _same_origin(target, url):
                    return answer  # to the client: done
                if "/login" in urlsplit(target).path:
                    answer = await self._sign_in(target)
                    continue
                answer = await web.get(target)
                continue
            if answer.status_code != 200:
                return answer
            consent = Forms(answer.text).having("allow")
            if consent is None or not self.approve:
                return answer
            action, fields = consent
            if self.grant_scope is not None:
                fields["scope"] = self.grant_scope
            page = str(answer.url)
            answer = await web.post(urljoin(page, action or page), data=fields, headers={"Referer": page})
        raise AuthorizationRefused(f"no end after six steps from {url}: {answer.status_code}")

    async def _sign_in(self, login_url: str) -> httpx.Response:
        web = self.web()
        page = await web.get(login_url)
        form = Forms(page.text).having("username")
        if form is None:
            raise AuthorizationRefused(f"no login form at {login_url}: {page.status_code} {page.text[:300]}")
        action, fields = form
        fields |= {"username": self.username, "password": self.password}
        signed = await web.post(urljoin(login_url, action or login_url), data=fields, headers={"Referer": login_url})
        if not signed.is_redirect:
            raise AuthorizationRefused(f"sign-in as {self.username} refused: {signed.status_code} {signed.text[:300]}")
        return await web.get(urljoin(login_url, signed.headers["location"]))

    async def code(self, url: str) -> AuthorizationCodeResult:
        """Authorize and read the code, state and iss from the final redirect (never followed)."""
        answer = await self.authorize(url)
        if not answer.is_redirect:
            raise AuthorizationRefused(f"no redirect to the client: {answer.status_code} {answer.text[:500]}")
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        if "code" not in query:
            raise AuthorizationRefused(f"the server redirected without a code: {answer.headers['location']}")
        return AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    async def follow(self, url: str) -> httpx.Response:
        """Authorize, then follow the final redirect to the client's own listener (a loopback callback)."""
        answer = await self.authorize(url)
        if not answer.is_redirect:
            raise AuthorizationRefused(f"no redirect to the client: {answer.status_code} {answer.text[:500]}")
        async with httpx.AsyncClient(timeout=20, trust_env=False) as plain:
            return await plain.get(answer.headers["location"])

    # The SDK's OAuthClientProvider pair: `redirect_handler(url)` then `callback_handler()`.
    async def redirect(self, url: str) -> None:
        self.result = await self.code(url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None, "callback before redirect"
        result, self.result = self.result, None
        return result


def _same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.netloc) == (y.scheme, y.netloc)


@dataclass(frozen=True)
class Grant:
    """What a client holds after the code exchange."""

    client_id: str
    access_token: str
    refresh_token: str
    scope: str
    answer: dict[str, object]


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def metadata(issuer: str) -> dict[str, Any]:
    """The authorization server's RFC 8414 metadata, found the way clients find it (path form of the issuer)."""
    parts = urlsplit(issuer)
    async with httpx.AsyncClient(timeout=10) as web:
        answer = await web.get(f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}")
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


async def register(issuer: str, redirect_uri: str = "http://127.0.0.1:9/callback", name: str = "test client") -> str:
    """A public client made by dynamic client registration (RFC 7591); its client_id."""
    endpoint = (await metadata(issuer))["registration_endpoint"]
    async with httpx.AsyncClient(timeout=10) as web:
        made = await web.post(
            endpoint,
            json={
                "client_name": name,
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "application_type": "native",
            },
        )
    assert made.status_code == 201, made.text[:300]
    return made.json()["client_id"]


async def mint(
    browser: Browser,
    issuer: str,
    resource: str,
    scope: str = "docs:read docs:search",
    redirect_uri: str = "http://127.0.0.1:9/callback",
    client_id: str = "",
) -> Grant:
    """A token minted through the real flow: registration, authorize (S256, `resource`), sign-in and consent by
    the browser, code exchange. The way a test gets a bearer for clients that only take one (the Inspector)."""
    meta = await metadata(issuer)
    client_id = client_id or await register(issuer, redirect_uri)
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    got = await browser.code(f"{meta['authorization_endpoint']}?{urlencode(query)}")
    assert got.state == state
    async with httpx.AsyncClient(timeout=10) as web:
        answer = await web.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": got.code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
                "resource": resource,
            },
        )
    assert answer.status_code == 200, answer.text[:300]
    body = answer.json()
    return Grant(client_id, body["access_token"], body.get("refresh_token", ""), body.get("scope", ""), body)
