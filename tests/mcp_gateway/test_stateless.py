"""mcp_gateway.stateless: the 2026-07-28 `_meta` envelope, what it accepts and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
)
from mcp_types.jsonrpc import HEADER_MISMATCH, UNSUPPORTED_PROTOCOL_VERSION

from mcp_gateway import stateless
from mcp_gateway.jsonrpc import INVALID_PARAMS, JsonRpcError, Notification, Payload, Request
from mcp_gateway.sessions import ServerSession
from mcp_gateway.versions import KNOWN_PROTOCOL_VERSIONS

MODERN = "2026-07-28"


def envelope(**extra: Any) -> dict[str, Any]:
    return {PROTOCOL_VERSION_META_KEY: MODERN, CLIENT_CAPABILITIES_META_KEY: {"sampling": {}}, **extra}


def request(meta: Any = None, method: str = "tools/list") -> Request:
    return Request(1, method, {} if meta is None else {"_meta": meta})


def session() -> ServerSession:
    return ServerSession("s", "streamable-http", "aws")


def test_the_envelope_initializes_the_session() -> None:
    target = session()
    info = {"name": "client", "version": "1", "title": "Client", "extra": "dropped"}
    level = stateless.adopt_envelope(target, request(envelope(**{CLIENT_INFO_META_KEY: info})))
    assert level is None  # no log level asked for: no log messages
    assert target.initialized and target.protocol_version == MODERN
    assert target.client_capabilities == {"sampling": {}}
    assert target.client_info == {"name": "client", "version": "1", "title": "Client"}


@pytest.mark.parametrize(("asked", "level"), [("debug", "debug"), ("error", "error"), ("loud", None), (3, None)])
def test_the_log_level_is_taken_only_when_it_is_one(asked: Any, level: str | None) -> None:
    assert stateless.adopt_envelope(session(), request(envelope(**{LOG_LEVEL_META_KEY: asked}))) == level


def test_odd_capabilities_and_client_info_are_ignored() -> None:
    target = session()
    meta = envelope(**{CLIENT_CAPABILITIES_META_KEY: "all", CLIENT_INFO_META_KEY: ["x"]})
    stateless.adopt_envelope(target, request(meta))
    assert target.client_capabilities == {} and target.client_info == {}


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        (None, "must carry"),
        ("envelope", "must carry"),
        ({CLIENT_CAPABILITIES_META_KEY: {}}, PROTOCOL_VERSION_META_KEY),
        ({PROTOCOL_VERSION_META_KEY: MODERN}, CLIENT_CAPABILITIES_META_KEY),
        ({PROTOCOL_VERSION_META_KEY: 20260728, CLIENT_CAPABILITIES_META_KEY: {}}, "must be a string"),
    ],
)
def test_a_malformed_envelope_is_invalid_params(meta: Any, words: str) -> None:
    target = session()
    with pytest.raises(JsonRpcError) as info:
        stateless.adopt_envelope(target, Request(1, "tools/list", {} if meta is None else {"_meta": meta}))
    assert info.value.code == INVALID_PARAMS and words in info.value.message
    assert not target.initialized


@pytest.mark.parametrize("version", ["2025-11-25", "1999-01-01"])
def test_a_version_outside_the_stateless_revision_is_unsupported(version: str) -> None:
    with pytest.raises(JsonRpcError) as info:
        stateless.adopt_envelope(session(), request(envelope(**{PROTOCOL_VERSION_META_KEY: version})))
    assert info.value.code == UNSUPPORTED_PROTOCOL_VERSION
    assert info.value.data == {"supported": list(KNOWN_PROTOCOL_VERSIONS), "requested": version}


def test_modern_requests_are_told_by_their_envelope_or_by_discover() -> None:
    assert stateless.is_modern(request(envelope()))
    assert stateless.is_modern(request(method="server/discover"))
    assert not stateless.is_modern(request())
    assert not stateless.is_modern(request({"progressToken": 1}))


def test_a_body_is_stateless_by_its_header_or_by_a_modern_request() -> None:
    plain = Payload([request()], is_batch=False)
    modern = Payload([Notification("x"), request(envelope())], is_batch=True)
    assert stateless.is_stateless(plain, MODERN)
    assert not stateless.is_stateless(plain, "2025-11-25") and not stateless.is_stateless(plain, None)
    assert stateless.is_stateless(modern, None)


def test_the_version_header_must_be_sent_and_agree_with_the_envelope() -> None:
    stateless.check_version_header(request(envelope()), MODERN)
    for header in (None, "2025-11-25"):  # a missing required header is a mismatch too (SEP-2243)
        with pytest.raises(JsonRpcError) as info:
            stateless.check_version_header(request(envelope()), header)
        assert info.value.code == HEADER_MISMATCH
    with pytest.raises(JsonRpcError) as info:  # no envelope: the envelope's fault comes first
        stateless.check_version_header(request(), MODERN)
    assert info.value.code == INVALID_PARAMS


def test_an_unknown_resource_is_invalid_params_in_this_revision() -> None:
    error = stateless.revise_error(JsonRpcError(-32002, "Resource not found: x", {"uri": "x"}))
    assert (error.code, error.data) == (INVALID_PARAMS, {"uri": "x"})
    other = JsonRpcError(-32601, "Method not found")
    assert stateless.revise_error(other) is other


def test_results_gain_their_type_and_cacheable_ones_their_scope() -> None:
    assert stateless.finish_result("tools/call", {"content": []}) == {"content": [], "resultType": "complete"}
    assert stateless.finish_result("tools/list", {"tools": []}) == {
        "tools": [],
        "resultType": "complete",
        "cacheScope": "public",
        "ttlMs": 60_000,
    }
    assert stateless.finish_result("resources/read", {})["cacheScope"] == "private"
    assert stateless.finish_result("tools/list", ["not", "a", "dict"]) == ["not", "a", "dict"]


def test_discover_lists_versions_and_drops_subscriptions() -> None:
    result = stateless.discover_result({"resources": {"subscribe": True}, "tools": {}}, {"name": "n"}, "hello")
    assert result["supportedVersions"] == list(KNOWN_PROTOCOL_VERSIONS)
    assert result["capabilities"] == {"resources": {"listChanged": False}, "tools": {}}
    assert result["_meta"] == {SERVER_INFO_META_KEY: {"name": "n"}}
    assert result["instructions"] == "hello"
    assert "instructions" not in stateless.discover_result({}, {}, "")


@pytest.mark.parametrize(("code", "status"), [(INVALID_PARAMS, 400), (HEADER_MISMATCH, 400), (-32601, 404)])
def test_request_errors_have_their_http_status(code: int, status: int) -> None:
    assert stateless.HTTP_STATUS[code] == status
