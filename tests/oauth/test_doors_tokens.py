"""Token checks at their edges, without an issuer: settings parsing, the audience rule, scope spelling, claims of
every shape, the answer caches and their bounds (no server, no network; keys are the tests' own)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from pytest_django.fixtures import Settings

from mcp_gateway.gate import Principal
from oauth import tokens
from oauth.introspect import Unsure
from tests.support.jwks_server import JwksServer, Signer, b64

RESOURCE = "https://mcp.example/mcp"
ISSUER = "https://login.example/tenant"
SIGNER = Signer("doors-key")


@pytest.fixture(autouse=True)
def fresh(settings: Settings) -> Iterator[None]:
    settings.MCP_OAUTH_AUDIENCE = []
    settings.MCP_OAUTH_AUDIENCE_CLAIM = "aud"
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    settings.MCP_OAUTH_ALGORITHMS = list(tokens.DEFAULT_ALGORITHMS)
    settings.MCP_OAUTH_TOKEN_CACHE = 1024
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 60
    settings.MCP_OAUTH_INTROSPECTED_MAX = 10000
    settings.MCP_OAUTH_LEEWAY = 30
    tokens.forget()
    yield
    tokens.forget()


def someone(name: str = "alice", expires: float | None = None) -> Principal:
    return tokens.principal(name, "client-1", ["docs:read"], "", expires)


# --- settings ------------------------------------------------------------------------------------------------------


def test_a_setting_list_from_a_string_a_list_or_nothing(settings: Settings) -> None:
    settings.MCP_OAUTH_AUDIENCE = " a , b,,c "
    assert tokens._setting_list("MCP_OAUTH_AUDIENCE", ["d"]) == ["a", "b", "c"]
    settings.MCP_OAUTH_AUDIENCE = ("x", 2)
    assert tokens._setting_list("MCP_OAUTH_AUDIENCE", ["d"]) == ["x", "2"]
    settings.MCP_OAUTH_AUDIENCE = ""
    assert tokens._setting_list("MCP_OAUTH_AUDIENCE", ("d", "e")) == ["d", "e"]
    settings.MCP_OAUTH_AUDIENCE = None
    assert tokens._setting_list("MCP_OAUTH_AUDIENCE", ("d",)) == ["d"]
    del settings.MCP_OAUTH_AUDIENCE
    assert tokens._setting_list("MCP_OAUTH_AUDIENCE", ("d",)) == ["d"]
    settings.MCP_OAUTH_AUDIENCE = []
    assert tokens._setting_list("MCP_OAUTH_AUDIENCE", ("d",)) == []


def test_hmac_and_none_are_never_allowed_whatever_their_case(settings: Settings) -> None:
    settings.MCP_OAUTH_ALGORITHMS = "RS256, hs256,HS512 , none,NONE,ES256,rs384"
    assert tokens.allowed_algorithms() == ["RS256", "ES256", "rs384"]
    del settings.MCP_OAUTH_ALGORITHMS
    assert tokens.allowed_algorithms() == list(tokens.DEFAULT_ALGORITHMS)


def test_the_cache_settings_and_their_floors(settings: Settings) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE = -5
    assert tokens._cache_size() == 0
    settings.MCP_OAUTH_TOKEN_CACHE = "7"
    assert tokens._cache_size() == 7
    del settings.MCP_OAUTH_TOKEN_CACHE
    assert tokens._cache_size() == 1024
    settings.MCP_OAUTH_INTROSPECTED_MAX = 0
    assert tokens._introspected_max() == 1
    settings.MCP_OAUTH_INTROSPECTED_MAX = "3"
    assert tokens._introspected_max() == 3
    del settings.MCP_OAUTH_INTROSPECTED_MAX
    assert tokens._introspected_max() == 10000
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = "1.5"
    assert tokens._cache_seconds() == 1.5
    del settings.MCP_OAUTH_TOKEN_CACHE_SECONDS
    settings.MCP_KEY_REVOCATION_POLL = 4
    assert tokens._cache_seconds() == 4.0
    del settings.MCP_KEY_REVOCATION_POLL
    assert tokens._cache_seconds() == 2.0


# --- the audience rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "accepted", "ok"),
    [
        (RESOURCE, RESOURCE, True),
        ("api://awsmcp", "api://awsmcp", True),  # not a URL, but the very value configured
        ("awsmcp", "awsmcp", True),
        ("https://mcp.example/mcp/sse", RESOURCE, True),
        ("https://MCP.example/mcp", RESOURCE, True),
        ("HTTPS://mcp.example/mcp", RESOURCE, True),
        ("https://mcp.example/mcp", "https://MCP.EXAMPLE/mcp", True),
        ("https://mcp.example/mcp/", RESOURCE, True),
        ("https://mcp.example/mcp", "https://mcp.example/mcp/", True),
        ("https://mcp.example/anything", "https://mcp.example/", True),
        ("https://mcp.example/mcpx", RESOURCE, False),
        ("https://mcp.example/MCP", RESOURCE, False),
        ("https://mcp.example/", RESOURCE, False),
        ("http://mcp.example/mcp", RESOURCE, False),
        ("https://mcp.example:8443/mcp", RESOURCE, False),
        ("https://other.example/mcp", RESOURCE, False),
        ("https://mcp.example/mcp?x=1", RESOURCE, False),
        ("https://mcp.example/mcp/sse?x=1", RESOURCE, False),
        ("https://mcp.example/mcp/sse#f", RESOURCE, False),
        ("//mcp.example/mcp/sse", RESOURCE, False),
        ("https:///mcp/sse", "https:///mcp", False),
        ("/mcp/sse", "/mcp", False),
        ("awsmcp/sub", "awsmcp", False),
        ("", RESOURCE, False),
    ],
)
def test_covers_is_the_value_or_a_path_below_it_on_the_same_origin(audience: str, accepted: str, ok: bool) -> None:
    assert tokens.covers(audience, accepted) is ok


def test_configured_audiences_replace_the_resource(settings: Settings) -> None:
    assert tokens.accepted_audiences(RESOURCE) == [RESOURCE]
    assert tokens.for_this_resource([RESOURCE], RESOURCE)
    assert not tokens.for_this_resource([], RESOURCE)
    settings.MCP_OAUTH_AUDIENCE = "api://awsmcp,https://public.example/mcp"
    assert tokens.accepted_audiences(RESOURCE) == ["api://awsmcp", "https://public.example/mcp"]
    assert not tokens.for_this_resource([RESOURCE], RESOURCE)
    assert tokens.for_this_resource(["other", "https://public.example/mcp/ws"], RESOURCE)
    assert tokens.for_this_resource(["api://awsmcp"], RESOURCE)


# --- scopes and the principal --------------------------------------------------------------------------------------


def test_scopes_lose_the_issuers_prefix_and_others_are_dropped(settings: Settings) -> None:
    assert tokens._scopes(["docs:read", "docs:search"]) == {"docs:read", "docs:search"}
    settings.MCP_OAUTH_SCOPE_PREFIX = "api://awsmcp/"
    granted = ["api://awsmcp/docs:read", "docs:search", "api://awsmcp/", "openid", "xapi://awsmcp/docs:x"]
    assert tokens._scopes(granted) == {"docs:read"}
    del settings.MCP_OAUTH_SCOPE_PREFIX
    assert tokens._scopes(["docs:read", ""]) == {"docs:read"}


def test_a_principal_is_named_after_its_subject() -> None:
    found = tokens.principal("alice", "c-1", ["docs:read"], "dot:1:2:3", 12.5)
    assert found == Principal(
        name="oauth:alice",
        kind="oauth",
        subject="alice",
        client_id="c-1",
        scopes=frozenset({"docs:read"}),
        credential="dot:1:2:3",
        expires=12.5,
    )


# --- claims --------------------------------------------------------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": RESOURCE,
        "client_id": "client-1",
        "scope": "docs:read docs:search",
        "exp": int(time.time()) + 600,
    }
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "audience_claim", "is_id"),
    [
        ({}, "aud", False),
        ({"token_use": "access"}, "aud", False),
        ({"token_use": "id"}, "aud", True),
        ({"token_use": ""}, "aud", True),
        ({}, "client_id", True),  # Cognito's access tokens always say token_use=access
        ({"token_use": "access"}, "client_id", False),
        ({"token_use": "id"}, "client_id", True),
        ({"typ": "ID"}, "aud", True),
        ({"typ": "Bearer"}, "aud", False),
        ({"typ": "id"}, "aud", False),
        ({"token_use": "access", "typ": "ID"}, "aud", True),
    ],
)
def test_id_tokens_are_told_apart(changes: dict[str, Any], audience_claim: str, is_id: bool) -> None:
    assert tokens._an_id_token(claims(**changes), audience_claim) is is_id


@pytest.mark.parametrize(
    ("changes", "granted"),
    [
        ({}, ["docs:read", "docs:search"]),
        ({"scope": None, "scp": "docs:read  docs:cn"}, ["docs:read", "docs:cn"]),
        ({"scope": None, "scp": ["docs:read", 7, "docs:cn"]}, ["docs:read", "docs:cn"]),
        ({"scope": "docs:read", "scp": "docs:cn"}, ["docs:read"]),
        ({"scope": None}, []),
        ({"scope": 7}, []),
        ({"scope": {"docs:read": True}}, []),
        ({"scope": ""}, []),
    ],
)
def test_granted_scopes_from_scope_or_scp(changes: dict[str, Any], granted: list[str]) -> None:
    assert tokens._granted(claims(**changes)) == granted


def test_claims_give_the_principal_with_the_client_from_client_id_or_azp() -> None:
    body = claims()
    found = tokens._from_claims(body, RESOURCE)
    assert found == tokens.principal("alice", "client-1", ["docs:read", "docs:search"], "", float(body["exp"]))
    found = tokens._from_claims(claims(client_id=None, azp="entra-app"), RESOURCE)
    assert isinstance(found, Principal) and found.client_id == "entra-app"
    found = tokens._from_claims(claims(client_id="", azp="entra-app"), RESOURCE)
    assert isinstance(found, Principal) and found.client_id == "entra-app"
    found = tokens._from_claims(claims(client_id=None), RESOURCE)
    assert isinstance(found, Principal) and found.client_id == ""
    found = tokens._from_claims(claims(client_id=42), RESOURCE)
    assert isinstance(found, Principal) and found.client_id == "42"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"token_use": "id"}, "the token is not an access token"),
        ({"aud": None}, "the token was not issued for this resource"),
        ({"aud": []}, "the token was not issued for this resource"),
        ({"aud": "https://other.example/mcp"}, "the token was not issued for this resource"),
        ({"sub": None}, "the token names no subject"),
        ({"sub": ""}, "the token names no subject"),
        ({"sub": 42}, "the token names no subject"),
    ],
)
def test_claims_that_give_no_principal_say_why(changes: dict[str, Any], why: str) -> None:
    assert tokens._from_claims(claims(**changes), RESOURCE) == why


def test_the_audience_claim_is_configurable_and_defaults_to_aud(settings: Settings) -> None:
    settings.MCP_OAUTH_AUDIENCE = "client-1"
    settings.MCP_OAUTH_AUDIENCE_CLAIM = "client_id"
    found = tokens._from_claims(claims(aud="elsewhere", token_use="access"), RESOURCE)
    assert isinstance(found, Principal) and found.subject == "alice"
    settings.MCP_OAUTH_AUDIENCE = []
    settings.MCP_OAUTH_AUDIENCE_CLAIM = ""
    assert isinstance(tokens._from_claims(claims(), RESOURCE), Principal)
    assert tokens._from_claims(claims(aud="elsewhere"), RESOURCE) == "the token was not issued for this resource"
    del settings.MCP_OAUTH_AUDIENCE_CLAIM
    assert isinstance(tokens._from_claims(claims(), RESOURCE), Principal)


# --- signatures (the tests' own key, no JWKS fetch) ----------------------------------------------------------------


def decode(token: str, **jwk_changes: Any) -> dict[str, Any] | str:
    jwk = {**SIGNER.jwk(), **jwk_changes}
    return tokens._decode(token, {k: v for k, v in jwk.items() if v is not None}, "RS256", ISSUER)


def test_a_good_signature_gives_the_claims() -> None:
    body = claims()
    assert decode(SIGNER.sign(body)) == body
    assert decode(SIGNER.sign(body), alg=None) == body  # a key without alg takes the token's


def test_a_key_without_alg_verifies_with_the_tokens_algorithm() -> None:
    signer = Signer("rs512", alg="RS512")
    body = claims()
    jwk = signer.jwk(with_alg=False)
    assert tokens._decode(signer.sign(body), jwk, "RS512", ISSUER) == body


def test_a_key_for_an_algorithm_not_allowed_verifies_nothing() -> None:
    """Even handed an HMAC key (the JWKS filter and the header check keep them out before), the decode refuses."""
    secret = b"a-shared-secret-of-thirty-two-bytes!"
    jwk = {"kty": "oct", "k": b64(secret), "alg": "HS256"}
    token = jwt.encode(claims(), secret, algorithm="HS256")
    assert tokens._decode(token, jwk, "HS256", ISSUER) == "the token's signature or claims are invalid"


def test_the_leeway_is_the_setting(settings: Settings) -> None:
    late = SIGNER.sign(claims(exp=int(time.time()) - 20))
    assert isinstance(decode(late), dict)
    settings.MCP_OAUTH_LEEWAY = 5
    assert decode(late) == "the token has expired"
    del settings.MCP_OAUTH_LEEWAY
    assert isinstance(decode(late), dict)  # 30 s by default
    assert decode(SIGNER.sign(claims(exp=int(time.time()) - 40))) == "the token has expired"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"nbf": "+600"}, "the token is not valid yet"),  # seconds from when the test runs, not from collection
        ({"iss": "https://other.example"}, "the token was issued by another issuer"),
        ({"exp": None}, "the token's signature or claims are invalid"),
        ({"iss": None}, "the token's signature or claims are invalid"),
        ({"sub": None}, "the token's signature or claims are invalid"),
    ],
)
def test_claims_the_signature_check_refuses(changes: dict[str, Any], why: str) -> None:
    now = int(time.time())
    changes = {k: now + int(v) if isinstance(v, str) and v.startswith("+") else v for k, v in changes.items()}
    assert decode(SIGNER.sign(claims(**changes))) == why


def test_a_key_bound_to_another_algorithm_or_unusable_is_refused() -> None:
    token = SIGNER.sign(claims())
    assert decode(token, alg="RS512") == "the token's signature or claims are invalid"
    assert decode(Signer("other").sign(claims())) == "the token's signature or claims are invalid"


def test_the_header_of_what_is_no_jwt_is_a_refusal() -> None:
    assert tokens._header("not-a-jwt") == "the token is not a JWT"
    assert tokens._header(SIGNER.sign(claims(), typ="at+jwt")) == {"alg": "RS256", "kid": "doors-key", "typ": "at+jwt"}


# --- the caches ----------------------------------------------------------------------------------------------------


def test_good_answers_are_kept_the_cache_seconds_and_no_longer_than_the_token(settings: Settings) -> None:
    tokens._store("k", someone())
    assert tokens._cached("k") == someone()
    assert tokens._cache["k"][1] == pytest.approx(time.time() + 60, abs=5)
    tokens._store("soon", someone(expires=time.time() + 10))
    assert tokens._cache["soon"][1] == pytest.approx(time.time() + 10, abs=5)
    tokens._store("gone", someone(expires=time.time() - 1))
    assert "gone" not in tokens._cache
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 0
    tokens._store("never", someone())
    assert "never" not in tokens._cache


def test_an_expired_answer_is_dropped_when_asked() -> None:
    tokens._cache["old"] = (someone(), time.time() - 1)
    assert tokens._cached("old") is None
    assert "old" not in tokens._cache
    assert tokens._cached("unknown") is None


def test_the_least_recently_used_answer_goes_first(settings: Settings) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE = 2
    tokens._store("a", someone("a"))
    tokens._store("b", someone("b"))
    assert tokens._cached("a") == someone("a")  # now the most recent
    tokens._store("c", someone("c"))
    assert list(tokens._cache) == ["a", "c"]
    tokens._store("a", someone("a2"))
    assert list(tokens._cache) == ["c", "a"]
    settings.MCP_OAUTH_TOKEN_CACHE = 0
    tokens._store("d", someone("d"))
    assert "d" not in tokens._cache


def test_refusals_are_kept_apart_bounded_and_expire(settings: Settings) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE = 2
    tokens._store_refusal("a", "no a")
    tokens._store_refusal("b", "no b")
    assert tokens._refused["a"][1] == pytest.approx(time.time() + 60, abs=5)
    tokens._store_refusal("a", "no a again")  # the newest again
    tokens._store_refusal("c", "no c")
    assert list(tokens._refused) == ["a", "c"]
    assert tokens._refusal("a") == "no a again"
    assert tokens._refusal("b") is None
    assert tokens._cached("a") is None  # not a good answer
    tokens._refused["c"] = ("no c", time.time() - 1)
    assert tokens._refusal("c") is None
    assert "c" not in tokens._refused


def test_unsure_refusals_and_a_disabled_cache_keep_nothing(settings: Settings) -> None:
    tokens._store_refusal("unsure", Unsure("the issuer is unreachable"))
    assert tokens._refusal("unsure") is None
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 0
    tokens._store_refusal("a", "no")
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = -1
    tokens._store_refusal("b", "no")
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 60
    settings.MCP_OAUTH_TOKEN_CACHE = 0
    tokens._store_refusal("c", "no")
    assert not tokens._refused


def test_introspected_tokens_are_remembered_up_to_the_bound(settings: Settings) -> None:
    settings.MCP_OAUTH_INTROSPECTED_MAX = 2
    for token in ("t1", "t2", "t1", "t3"):
        tokens._remember(token)
    assert list(tokens._introspected.values()) == ["t1", "t3"]
    assert tokens._introspected[tokens.checksum("t3")] == "t3"


def test_forget_drops_everything() -> None:
    tokens._store("k", someone())
    tokens._store_refusal("r", "no")
    tokens._remember("t")
    tokens._lost["x"] = None
    tokens.forget()
    assert not (tokens._cache or tokens._refused or tokens._introspected or tokens._lost)


def test_the_checksum_is_the_sha256_dot_stores() -> None:
    assert tokens.checksum("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert tokens.checksum("\u00e9") == "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"


# --- the warden's questions ----------------------------------------------------------------------------------------


async def test_a_dropped_introspected_token_is_reported_once_and_not_ended(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MCP_OAUTH_INTROSPECTED_MAX = 2
    caplog.set_level(logging.WARNING, logger="oauth.tokens")
    credentials = [f"introspect:{tokens.checksum(name)}" for name in ("x", "y", "z")]
    assert await tokens.ended(credentials) == set()
    assert await tokens.ended(credentials[:1]) == set()
    reported = [r.getMessage() for r in caplog.records if "no longer held" in r.getMessage()]
    assert (
        reported
        == [  # x again: the list of reported tokens is bounded too
            f"introspected token {tokens.checksum(name)[:12]}… no longer held (MCP_OAUTH_INTROSPECTED_MAX): not re-checked"
            for name in ("x", "y", "z", "x")
        ]
    )
    assert list(tokens._lost) == [tokens.checksum("z"), tokens.checksum("x")]


async def test_a_token_with_a_fresh_answer_is_not_asked_about_again() -> None:
    tokens._remember("held")
    found = someone()
    tokens._store(f"{tokens.checksum('held')}|{RESOURCE}", found)
    tokens._store(f"{tokens.checksum('other')}|{RESOURCE}", found)
    assert tokens._cached_any(tokens.checksum("held")) == found
    assert tokens._cached_any(tokens.checksum("held")[:-1]) is None
    assert await tokens.ended([f"introspect:{tokens.checksum('held')}"]) == set()


async def test_credentials_of_no_known_kind_are_left_alone() -> None:
    assert await tokens.ended(["", "key:ci", "jwt:x"]) == set()


# --- the key a token names (a real issuer on loopback) ---------------------------------------------------------------


def signed(signer: Signer, header: dict[str, Any], body: dict[str, Any]) -> str:
    """A JWT with exactly this header (PyJWT would refuse to write a kid that is no string)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = jwt.get_algorithm_by_name(signer.alg).sign(signing_input.encode(), signer.key)
    return f"{signing_input}.{b64(signature)}"


async def test_a_token_naming_no_key_uses_the_only_key_with_the_tokens_algorithm(settings: Settings) -> None:
    signer = Signer("only", alg="RS512")
    server = JwksServer().start()
    try:
        server.publish(signer, with_alg=False)  # the key binds no algorithm: the token's (RS512) is used
        settings.MCP_OAUTH_ISSUER = server.issuer
        settings.MCP_OAUTH_JWKS_URL = server.url + "/jwks.json"
        settings.MCP_OAUTH_FETCH_TIMEOUT = 2
        body = claims(iss=server.issuer)
        found = await tokens.external_jwt(
            signed(signer, {"alg": "RS512", "typ": "at+jwt"}, body), RESOURCE, server.issuer
        )
        assert isinstance(found, Principal)
        numbered = signed(signer, {"alg": "RS512", "kid": 5}, body)  # PyJWT refuses a kid that is no string
        assert await tokens.external_jwt(numbered, RESOURCE, server.issuer) == "the token is not a JWT"
        other = signed(signer, {"alg": "RS512", "kid": "other"}, body)
        assert await tokens.external_jwt(other, RESOURCE, server.issuer) == "the token's signing key is unknown"
    finally:
        server.stop()


def test_a_jwks_key_pyjwt_cannot_use_refuses_the_token_instead_of_raising() -> None:
    """An RSA key the issuer marks HS256 is well-formed JSON but no usable key: the token is refused with a reason."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key())) | {"alg": "HS256", "kid": "k"}
    token = jwt.encode({"iss": "https://issuer.example", "sub": "s", "exp": 2_000_000_000}, private, "RS256")
    assert tokens._decode(token, jwk, "RS256", "https://issuer.example") == "the token's signing key is unusable"
