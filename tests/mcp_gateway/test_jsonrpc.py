"""JSON-RPC framing: every malformed shape gets the right error code."""

from __future__ import annotations

import json

import pytest

from mcp_gateway import jsonrpc
from mcp_gateway.jsonrpc import Invalid, JsonRpcError, Notification, Request, Response


def test_malformed_json_is_a_parse_error() -> None:
    with pytest.raises(JsonRpcError) as info:
        jsonrpc.parse_payload(b'{"jsonrpc": "2.0", "id": 1,')
    assert info.value.code == jsonrpc.PARSE_ERROR


def test_invalid_utf8_is_a_parse_error() -> None:
    with pytest.raises(JsonRpcError) as info:
        jsonrpc.parse_payload(b"\xff\xfe{}")
    assert info.value.code == jsonrpc.PARSE_ERROR


def test_request_notification_and_response_are_told_apart() -> None:
    request = jsonrpc.classify({"jsonrpc": "2.0", "id": 7, "method": "ping"})
    note = jsonrpc.classify({"jsonrpc": "2.0", "method": "notifications/initialized"})
    reply = jsonrpc.classify({"jsonrpc": "2.0", "id": "s1", "result": {}})
    assert isinstance(request, Request) and request.id == 7 and request.params == {}
    assert isinstance(note, Notification) and note.method == "notifications/initialized"
    assert isinstance(reply, Response) and reply.id == "s1" and reply.error is None


@pytest.mark.parametrize(
    ("message", "echoed_id"),
    [
        ({"id": 1, "method": "ping"}, 1),  # no jsonrpc member
        ({"jsonrpc": "1.0", "id": 2, "method": "ping"}, 2),
        ({"jsonrpc": "2.0", "id": 3, "method": 42}, 3),
        ({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": [1, 2]}, 4),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 5}, 5),
        ("just a string", None),
    ],
)
def test_invalid_messages_are_invalid_requests(message: object, echoed_id: object) -> None:
    result = jsonrpc.classify(message)
    assert isinstance(result, Invalid)
    assert result.error.code == jsonrpc.INVALID_REQUEST
    assert result.id == echoed_id


def test_batches_are_recognised_and_empty_ones_refused() -> None:
    payload = jsonrpc.parse_payload(b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]')
    assert payload.is_batch and len(payload.messages) == 2
    with pytest.raises(JsonRpcError) as info:
        jsonrpc.parse_payload(b"[]")
    assert info.value.code == jsonrpc.INVALID_REQUEST


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 50_000, b"1" * 5000])
def test_pathological_json_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(JsonRpcError) as info:
        jsonrpc.parse_payload(raw)
    assert info.value.code == jsonrpc.PARSE_ERROR


def test_dumps_is_compact_utf8_and_keeps_ids_beyond_64_bits() -> None:
    message = {"jsonrpc": "2.0", "id": 10**30, "result": {"text": 'é "q"\n'}}
    encoded = jsonrpc.dumps_bytes(message)
    assert json.loads(encoded) == message
    assert encoded.startswith(b'{"jsonrpc":"2.0","id":1000000000000000000000000000000,')  # compact, exact
    assert jsonrpc.dumps({"id": 1, "t": "é"}) == '{"id":1,"t":"é"}'


def test_ids_and_numbers_beyond_64_bits_are_decoded_exactly() -> None:
    for raw in (b'{"jsonrpc":"2.0","id":18446744073709551617,"method":"ping"}', '{"n": 123456789012345678901234}'):
        decoded = jsonrpc.decode(raw)
        assert decoded == json.loads(raw)
        assert all(isinstance(v, int | str) for v in decoded.values())
