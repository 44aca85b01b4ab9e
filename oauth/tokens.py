"""An access token, checked: who it speaks for, or why it is refused.

Three sources, chosen by settings: the built-in authorization server (MCP_OAUTH_ISSUER empty: the token is looked
up in django-oauth-toolkit's table by its SHA-256 checksum, so revocation is immediate and JWT-shaped built-in
tokens are found the same way), an external issuer's JWTs (checked against its JWKS, oauth.jwks), or RFC 7662
introspection (MCP_OAUTH_INTROSPECTION_URL). Every source must show the token was issued for this resource: an
empty audience is refused (DOT calls an empty `resource` list unrestricted; we do not). Good answers are cached
by token hash (MCP_OAUTH_TOKEN_CACHE entries, MCP_OAUTH_TOKEN_CACHE_SECONDS) so the per-request check is cheap;
refusals are cached the same way, apart and as long, so a flood of one made-up token costs one lookup (a token
minted just after it was refused is refused for at most MCP_OAUTH_TOKEN_CACHE_SECONDS). A refusal that says
nothing of the token (the issuer unreachable or busy: introspect.Unsure) is never cached.

Introspected tokens are kept (at most MCP_OAUTH_INTROSPECTED_MAX, least recently seen dropped first) so the warden
can ask about them again; a credential whose token was dropped is logged and treated as not ended.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.db import close_old_connections

from awsmcp.pools import run_in
from mcp_gateway.gate import Principal
from oauth import introspect, jwks
from oauth.introspect import Unsure

log = logging.getLogger(__name__)

DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})  # RFC 9068 §2.1; "JWT" as many issuers send


def checksum(token: str) -> str:
    """The SHA-256 hex digest DOT stores a token under (and our cache keys on)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _setting_list(name: str, default: Iterable[str]) -> list[str]:
    value = getattr(settings, name, None)
    if value is None or value == "":
        return list(default)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


def allowed_algorithms() -> list[str]:
    """settings.MCP_OAUTH_ALGORITHMS, never an HMAC one or `none` (a public key is no shared secret)."""
    return [
        alg
        for alg in _setting_list("MCP_OAUTH_ALGORITHMS", DEFAULT_ALGORITHMS)
        if not alg.upper().startswith("HS") and alg.lower() != "none"
    ]


def covers(audience: str, accepted: str) -> bool:
    """`audience` is `accepted` or a path-descendant of it on `/` boundaries (same scheme and host)."""
    if audience == accepted:
        return True
    got, want = urlsplit(audience), urlsplit(accepted)
    if not (got.scheme and got.netloc) or got.query or got.fragment:
        return False
    if (got.scheme.lower(), got.netloc.lower()) != (want.scheme.lower(), want.netloc.lower()):
        return False
    base = want.path.rstrip("/")
    return got.path == base or got.path.startswith(base + "/")


def accepted_audiences(resource: str) -> list[str]:
    """settings.MCP_OAUTH_AUDIENCE when set, else this resource."""
    return _setting_list("MCP_OAUTH_AUDIENCE", ()) or [resource]


def for_this_resource(audiences: Collection[str], resource: str) -> bool:
    """One of the token's audiences names this resource; an empty audience never does."""
    wanted = accepted_audiences(resource)
    return any(covers(audience, accepted) for audience in audiences for accepted in wanted)


def _scopes(granted: Iterable[str]) -> frozenset[str]:
    """The granted scopes in our spelling: the issuer's prefix stripped, scopes without it (other APIs') dropped."""
    prefix = str(getattr(settings, "MCP_OAUTH_SCOPE_PREFIX", ""))
    return frozenset(scope[len(prefix) :] for scope in granted if scope.startswith(prefix) and len(scope) > len(prefix))


def principal(
    subject: str, client_id: str, granted: Iterable[str], credential: str, expires: float | None
) -> Principal:
    return Principal(
        name=f"oauth:{subject}",
        kind="oauth",
        subject=subject,
        client_id=client_id,
        scopes=_scopes(granted),
        credential=credential,
        expires=expires,
    )


# --- the built-in authorization server (django-oauth-toolkit's tables; blocking, on the database pool) ----------


def builtin(token: str, resource: str) -> Principal | str:
    """A DOT access token: present, unexpired, its user active, issued for this resource."""
    from oauth2_provider.models import get_access_token_model

    close_old_connections()
    row = (
        get_access_token_model()
        .objects.select_related("user", "application", "refresh_token", "source_refresh_token")
        .filter(token_checksum=checksum(token))
        .first()
    )
    if row is None:
        return "the token is unknown or revoked"
    if row.is_expired():
        return "the token has expired"
    user = row.user
    if user is None or not user.is_active:
        return "the token's user is disabled"
    if not for_this_resource(list(row.resource or []), resource):
        return "the token was not issued for this resource"
    application = row.application
    return principal(
        user.get_username(),
        application.client_id if application is not None else "",
        row.scope.split(),
        f"dot:{user.pk}:{application.pk if application is not None else ''}:{row.pk}:{token_family(row)}",
        row.expires.timestamp(),
    )


def token_family(row: Any) -> str:
    """The refresh-token family an access token belongs to ("" for none): a refresh makes a new access token in
    the same family, so the family tells a refreshed token from a revoked one."""
    for name in ("refresh_token", "source_refresh_token"):
        refresh = getattr(row, name, None)  # a missing reverse one-to-one raises an AttributeError subclass
        if refresh is not None and refresh.token_family:
            return str(refresh.token_family)
    return ""


def builtin_credential(credential: str) -> tuple[int, int | None, int, str] | None:
    """(user pk, application pk or None, access token pk, refresh family or "") of a `dot:…` credential; None when
    malformed."""
    parts = credential.split(":")
    if len(parts) != 5 or parts[0] != "dot" or not (parts[1].isdigit() and parts[3].isdigit()):
        return None
    if parts[2] and not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2]) if parts[2] else None, int(parts[3]), parts[4]


def ended_builtin(credentials: Collection[str]) -> set[str]:
    """Which `dot:<user>:<application>:<access token>:<refresh family>` credentials ended: the user is inactive or
    gone, or that access token is gone (RFC 7009 revocation, the admin's revoke or "End the grant", a reused refresh
    token's family) and no access token of its refresh family lives. A refresh deletes the old token and creates its
    successor in the same family in one transaction (DOT's save_bearer_token), so a refreshing client never looks
    revoked, while another token of the same person and client (a second device, a second consent: another
    family) does not keep a revoked one alive. Expiry alone ends nothing (the client may refresh); `cleartokens`
    deleting an expired token with no successor does. Blocking: on the database pool."""
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_access_token_model

    held = {credential: parsed for credential in credentials if (parsed := builtin_credential(credential))}
    ended = set(credentials) - set(held)
    if not held:
        return ended
    close_old_connections()
    users = {user for user, _, _, _ in held.values()}
    active = set(get_user_model().objects.filter(pk__in=users, is_active=True).values_list("pk", flat=True))
    access_tokens = get_access_token_model().objects
    present = set(access_tokens.filter(pk__in={t for _, _, t, _ in held.values()}).values_list("pk", flat=True))
    families = {family for _, _, _, family in held.values() if family}
    living = {
        str(family)
        for family in access_tokens.filter(refresh_token__token_family__in=families).values_list(
            "refresh_token__token_family", flat=True
        )
    }
    for credential, (user, _application, token, family) in held.items():
        if user not in active or (token not in present and family not in living):
            ended.add(credential)
    return ended


# --- an external issuer's JWTs -----------------------------------------------------------------------------------


def _header(token: str) -> dict[str, Any] | str:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return "the token is not a JWT"


async def external_jwt(token: str, resource: str, issuer: str) -> Principal | str:
    """A JWT signed by one of the issuer's keys, for this resource, an access token (not an ID token)."""
    header = _header(token)
    if isinstance(header, str):
        return header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algorithms():
        return "the token's signing algorithm is not allowed"
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES):
        return "the token is not an access token"
    kid = header.get("kid", "")
    keys = jwks.key_set(issuer)
    jwk = await keys.key(issuer, kid if isinstance(kid, str) else "")
    if jwk is None:
        if keys.problem:  # the JWKS could not be had: no answer about this token
            return Unsure(f"the token's signing key is unknown ({keys.problem})")
        return "the token's signing key is unknown"
    claims = _decode(token, jwk, alg, issuer)
    if isinstance(claims, str):
        return claims
    return _from_claims(claims, resource)


def _decode(token: str, jwk: dict[str, Any], alg: str, issuer: str) -> dict[str, Any] | str:
    try:
        key = jwt.PyJWK(jwk, algorithm=jwk.get("alg") or alg)  # the key's own alg binds it when it names one
        return jwt.decode(
            token,
            key,
            algorithms=allowed_algorithms(),
            issuer=issuer,
            leeway=float(getattr(settings, "MCP_OAUTH_LEEWAY", 30)),
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},  # audience: ours to check, below
        )
    except jwt.ExpiredSignatureError:
        return "the token has expired"
    except jwt.ImmatureSignatureError:
        return "the token is not valid yet"
    except jwt.InvalidIssuerError:
        return "the token was issued by another issuer"
    except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError, TypeError):
        return "the token's signature or claims are invalid"
    except jwt.InvalidKeyError:  # a well-formed JWKS entry PyJWT cannot use (an RSA key marked HS256, a tiny e)
        return "the token's signing key is unusable"


def _an_id_token(claims: dict[str, Any], audience_claim: str) -> bool:
    """Cognito says token_use=id (and always token_use=access on its access tokens); Keycloak says typ=ID."""
    token_use = claims.get("token_use")
    if (token_use is not None or audience_claim == "client_id") and token_use != "access":
        return True
    return claims.get("typ") == "ID"


def _granted(claims: dict[str, Any]) -> list[str]:
    """`scope` (space-separated, RFC 9068) or `scp` (Entra: a string; others: a list)."""
    scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(scope, str):
        return scope.split()
    return [s for s in scope if isinstance(s, str)] if isinstance(scope, list) else []


def _from_claims(claims: dict[str, Any], resource: str) -> Principal | str:
    audience_claim = str(getattr(settings, "MCP_OAUTH_AUDIENCE_CLAIM", "aud") or "aud")
    if _an_id_token(claims, audience_claim):
        return "the token is not an access token"
    if not for_this_resource(introspect.audiences_of(claims.get(audience_claim)), resource):
        return "the token was not issued for this resource"
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return "the token names no subject"
    client = claims.get("client_id") or claims.get("azp") or ""
    return principal(subject, str(client), _granted(claims), "", float(claims["exp"]))


# --- introspection --------------------------------------------------------------------------------------------


async def introspected(token: str, resource: str, issuer: str) -> Principal | str:
    """An opaque token the issuer says is active, for this resource."""
    answer = await introspect.introspect(token)
    if isinstance(answer, str):
        return answer
    if answer.issuer and answer.issuer != issuer:
        return "the token was issued by another issuer"
    if not for_this_resource(answer.audiences, resource):
        return "the token was not issued for this resource"
    if not answer.subject:
        return "the token names no subject"
    _remember(token)
    return principal(answer.subject, answer.client_id, answer.scopes, f"introspect:{checksum(token)}", answer.expires)


# --- the cache and the entry point ------------------------------------------------------------------------------

_cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()  # sha256|resource -> (principal, good until)
_refused: OrderedDict[str, tuple[str, float]] = OrderedDict()  # sha256|resource -> (why, refused until)
_introspected: OrderedDict[str, str] = OrderedDict()  # sha256 -> token, so a grant can be asked about again
_lost: OrderedDict[str, None] = OrderedDict()  # sha256 of dropped tokens already reported (once each)


def _cache_size() -> int:
    return max(0, int(getattr(settings, "MCP_OAUTH_TOKEN_CACHE", 1024)))


def _cache_seconds() -> float:
    default = getattr(settings, "MCP_KEY_REVOCATION_POLL", 2.0)
    return float(getattr(settings, "MCP_OAUTH_TOKEN_CACHE_SECONDS", default))


def _introspected_max() -> int:
    return max(1, int(getattr(settings, "MCP_OAUTH_INTROSPECTED_MAX", 10000)))


def _remember(token: str) -> None:
    _introspected[checksum(token)] = token
    _introspected.move_to_end(checksum(token))
    while len(_introspected) > _introspected_max():
        _introspected.popitem(last=False)


def _refusal(key: str) -> str | None:
    found = _refused.get(key)
    if found is None:
        return None
    if found[1] <= time.time():
        del _refused[key]
        return None
    return found[0]


def _store_refusal(key: str, why: str) -> None:
    """A definitive refusal, kept MCP_OAUTH_TOKEN_CACHE_SECONDS (FIFO, MCP_OAUTH_TOKEN_CACHE entries)."""
    seconds = _cache_seconds()
    if _cache_size() == 0 or seconds <= 0 or isinstance(why, Unsure):
        return
    _refused[key] = (why, time.time() + seconds)
    _refused.move_to_end(key)
    while len(_refused) > _cache_size():
        _refused.popitem(last=False)


def _cached(key: str) -> Principal | None:
    found = _cache.get(key)
    if found is None:
        return None
    if found[1] <= time.time():
        del _cache[key]
        return None
    _cache.move_to_end(key)
    return found[0]


def _store(key: str, found: Principal) -> None:
    until = time.time() + _cache_seconds()
    if found.expires is not None:
        until = min(until, found.expires)
    if _cache_size() == 0 or until <= time.time():
        return
    _cache[key] = (found, until)
    _cache.move_to_end(key)
    while len(_cache) > _cache_size():
        _cache.popitem(last=False)


def forget() -> None:
    """Drop every cached answer (tests; a settings change)."""
    _cache.clear()
    _refused.clear()
    _introspected.clear()
    _lost.clear()
    introspect._slots.clear()
    jwks.forget()


async def validate(token: str, resource: str) -> Principal | str:
    """The principal a bearer token speaks for at `resource`, or why it is refused. No I/O on the event loop."""
    key = f"{checksum(token)}|{resource}"
    hit = _cached(key)
    if hit is not None:
        return hit
    refused = _refusal(key)
    if refused is not None:
        return refused
    issuer = str(getattr(settings, "MCP_OAUTH_ISSUER", ""))
    found: Principal | str
    if not issuer:
        found = await run_in("database", builtin, token, resource)
    elif getattr(settings, "MCP_OAUTH_INTROSPECTION_URL", ""):
        found = await introspected(token, resource, issuer)
    else:
        found = await external_jwt(token, resource, issuer)
    if isinstance(found, Principal):
        _store(key, found)
    else:
        _store_refusal(key, found)
    return found


async def ended(credentials: Collection[str]) -> set[str]:
    """Which credentials of OAuth principals no longer hold (access tokens of the built-in AS, introspected tokens)."""
    lines = [c for c in credentials if c.startswith("dot:")]
    gone: set[str] = await run_in("database", ended_builtin, lines) if lines else set()
    asked = [c for c in credentials if c.startswith("introspect:")]
    # Concurrently, as many at once as MCP_OAUTH_INTROSPECTION_CONCURRENCY lets (introspect's own slots).
    answers = await asyncio.gather(*(_introspected_ended(c) for c in asked))
    return gone | {credential for credential, over in zip(asked, answers, strict=True) if over}


async def _introspected_ended(credential: str) -> bool:
    """The issuer's definitive no (`active: false`, or an expiry it states); not an unreachable or busy issuer,
    and not a token we no longer hold (dropped past MCP_OAUTH_INTROSPECTED_MAX: logged, then left to idle out)."""
    digest = credential.removeprefix("introspect:")
    token = _introspected.get(digest)
    if token is None:
        if digest not in _lost:
            log.warning(
                "introspected token %s… no longer held (MCP_OAUTH_INTROSPECTED_MAX): not re-checked", digest[:12]
            )
            _lost[digest] = None
            while len(_lost) > _introspected_max():
                _lost.popitem(last=False)
        return False
    if _cached_any(digest) is not None:
        return False
    answer = await introspect.introspect(token)
    return isinstance(answer, str) and not isinstance(answer, Unsure)


def _cached_any(digest: str) -> Principal | None:
    """A still-fresh cached answer for this token at any resource."""
    for key in list(_cache):
        if key.startswith(digest + "|"):
            found = _cached(key)
            if found is not None:
                return found
    return None
