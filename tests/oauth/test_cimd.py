"""Client ID Metadata Documents: the happy path against a real HTTPS server on loopback (a throw-away CA in
SSL_CERT_FILE, its host allow-listed by MCP_OAUTH_CIMD_ALLOW_HOSTS), and every document or address the fetcher
must refuse. A refused document makes the client unknown: a 400 page, no redirect."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from oauth2_provider.models import AccessToken, Application

from tests.oauth.cimd_server import REDIRECT_URI, CimdServer
from tests.oauth.flow import Pkce, approve, authorize_url, exchange, redirect_params

pytestmark = pytest.mark.usefixtures("builtin_as")
_serial = itertools.count()


@pytest.fixture(scope="module")
def documents() -> Iterator[CimdServer]:
    server = CimdServer().start()
    yield server
    server.stop()


@pytest.fixture
def trusted(documents: CimdServer, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[CimdServer]:
    """The test CA trusted and the server's host:port allow-listed; DOT's 5 s whole-fetch deadline cut to 1 s."""
    monkeypatch.setenv("SSL_CERT_FILE", str(documents.ca_file))
    provider = settings.OAUTH2_PROVIDER | {"CIMD_FETCH_TIMEOUT_SECONDS": 1.0, "CIMD_MAX_DOCUMENT_SIZE": 4096}
    with override_settings(MCP_OAUTH_CIMD_ALLOW_HOSTS=[documents.netloc], OAUTH2_PROVIDER=provider):
        yield documents


def fresh(server: CimdServer, path: str) -> str:
    """A client_id URL not seen before (DOT backs off a failed URL for a minute)."""
    return server.url(f"{path}?n={next(_serial)}")


def test_a_cimd_client_signs_in_and_gets_a_token(trusted: CimdServer, user: Any) -> None:
    web = Client()
    web.force_login(user)
    client_id = fresh(trusted, "/client.json")
    pkce = Pkce.make()
    url = authorize_url(client_id, pkce, redirect_uri=REDIRECT_URI)
    page = web.get(url).content.decode()
    assert "CIMD test client" in page and "127.0.0.1:33418" in page and client_id in page
    assert "only returns to this computer" in page  # loopback-only redirects: the warning
    code = redirect_params(approve(web, url))["code"]
    assert exchange(web, client_id, code, pkce.verifier, REDIRECT_URI).status_code == 200
    application = Application.objects.get(client_id=client_id)
    assert application.registration_source == "cimd" and application.client_type == "public"
    assert AccessToken.objects.filter(application=application, user=user).exists()


def test_a_document_shaped_like_vs_codes_signs_in(trusted: CimdServer, user: Any) -> None:
    """VS Code's document lists the device-code grant too: the server keeps the two grants it uses, and the
    client signs in on the random loopback port it falls back to (registered without a port)."""
    web = Client()
    web.force_login(user)
    client_id = fresh(trusted, "/vscode.json")
    pkce = Pkce.make()
    url = authorize_url(client_id, pkce, redirect_uri="http://127.0.0.1:59656/")
    assert "Visual Studio Code (test double)" in web.get(url).content.decode()
    code = redirect_params(approve(web, url))["code"]
    answer = exchange(web, client_id, code, pkce.verifier, "http://127.0.0.1:59656/")
    assert answer.status_code == 200 and answer.json()["refresh_token"]
    application = Application.objects.get(client_id=client_id)
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE


def test_a_document_without_the_authorization_code_grant_is_refused(
    trusted: CimdServer, user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    web = Client()
    web.force_login(user)
    client_id = fresh(trusted, "/device-only.json")
    with caplog.at_level(logging.INFO, logger="oauth2_provider.cimd"):
        reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri=REDIRECT_URI))
    assert reply.status_code == 400 and not reply.has_header("Location")
    assert not Application.objects.filter(client_id=client_id).exists()
    assert "lack authorization_code" in caplog.text


def test_a_redirect_uri_the_document_does_not_name_is_refused(trusted: CimdServer, user: Any) -> None:
    web = Client()
    web.force_login(user)
    reply = web.get(authorize_url(fresh(trusted, "/client.json"), Pkce.make(), redirect_uri="https://evil.example/cb"))
    assert reply.status_code == 400 and not reply.has_header("Location")


@pytest.mark.parametrize(
    "path",
    [
        "/mismatch.json",  # the document names another client_id
        "/huge.json",  # bigger than CIMD_MAX_DOCUMENT_SIZE
        "/slow.json",  # trickles in past the whole-fetch deadline
        "/redirect.json",  # redirects are never followed
        "/metadata.json",  # nor one to the cloud metadata address
    ],
)
def test_a_bad_document_leaves_the_client_unknown(trusted: CimdServer, user: Any, path: str) -> None:
    web = Client()
    web.force_login(user)
    before = trusted.hits[path]
    client_id = fresh(trusted, path)
    reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri=REDIRECT_URI))
    assert reply.status_code == 400 and not reply.has_header("Location")
    assert trusted.hits[path] == before + 1  # fetched once, then refused
    assert not Application.objects.filter(client_id=client_id).exists()


@pytest.mark.parametrize(
    "client_id",
    [
        "https://127.0.0.1/client.json",  # loopback
        "https://10.1.2.3/client.json",  # private
        "https://169.254.169.254/latest/client.json",  # link-local, the cloud metadata address
        "https://[::ffff:127.0.0.1]/client.json",  # IPv4-mapped IPv6
        "https://[::1]/client.json",
        "https://[fe80::1]/client.json",
        "http://example.com/client.json",  # not https
        "https://localhost/client.json",  # a name that resolves to loopback
    ],
)
def test_a_document_at_a_non_public_address_is_never_fetched(user: Any, client_id: str) -> None:
    web = Client()
    web.force_login(user)
    reply = web.get(authorize_url(client_id, Pkce.make(), redirect_uri=REDIRECT_URI))
    assert reply.status_code == 400 and not reply.has_header("Location")


def test_without_the_allow_list_the_test_server_itself_is_refused(
    documents: CimdServer, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(documents.ca_file))
    web = Client()
    web.force_login(user)
    before = documents.hits["/client.json"]
    reply = web.get(authorize_url(fresh(documents, "/client.json"), Pkce.make(), redirect_uri=REDIRECT_URI))
    assert reply.status_code == 400
    assert documents.hits["/client.json"] == before  # refused at the address check: nothing fetched


def test_cimd_off_leaves_url_clients_unknown(trusted: CimdServer, user: Any, settings: Any) -> None:
    web = Client()
    web.force_login(user)
    before = trusted.hits["/client.json"]
    with override_settings(OAUTH2_PROVIDER=settings.OAUTH2_PROVIDER | {"CIMD_ENABLED": False}):
        reply = web.get(authorize_url(fresh(trusted, "/client.json"), Pkce.make(), redirect_uri=REDIRECT_URI))
    assert reply.status_code == 400 and trusted.hits["/client.json"] == before


def test_a_new_cimd_client_is_refused_when_registration_is_full(trusted: CimdServer, user: Any, settings: Any) -> None:
    settings.MCP_OAUTH_MAX_CLIENTS = 1
    web = Client()
    web.force_login(user)
    known = fresh(trusted, "/client.json")
    assert web.get(authorize_url(known, Pkce.make(), redirect_uri=REDIRECT_URI)).status_code == 200
    newcomer = fresh(trusted, "/client.json")
    refused = web.get(authorize_url(newcomer, Pkce.make(), redirect_uri=REDIRECT_URI))
    assert refused.status_code == 400 and not refused.has_header("Location")
    assert b"invalid_client_metadata" in refused.content and b"registration is full" in refused.content
    assert not Application.objects.filter(client_id=newcomer).exists()
    # The token endpoint (DOT's own client lookup) does not fetch it either.
    token = web.post("/oauth/token/", {"grant_type": "authorization_code", "code": "x", "client_id": newcomer})
    assert token.status_code in (400, 401) and not Application.objects.filter(client_id=newcomer).exists()
    assert web.get(authorize_url(known, Pkce.make(), redirect_uri=REDIRECT_URI)).status_code == 200  # still known
