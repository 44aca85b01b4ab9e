"""JSON-RPC framing as a client sees it on the wire: every refusal's code, message and echoed id (no server)."""

from __future__ import annotations

import json

import pytest

from mcp_gateway import jsonrpc
from mcp_gateway.jsonrpc import Invalid, JsonRpcError, Notification, Request, Response


def invalid(message: object) -> Invalid:
    [classified] = jsonrpc.payload_from(message).messages
    assert isinstance(classified, Invalid)
    return classified


@pytest.mark.parametrize(
    ("message", "text", "echoed"),
    [
        ([1], "Invalid Request: a message must be a JSON object", None),
        ({"jsonrpc": "1.0", "id": 4, "method": "ping"}, 'Invalid Request: "jsonrpc" must be "2.0"', 4),
        ({"jsonrpc": "2.0", "id": 5, "method": 7}, 'Invalid Request: "method" must be a string', 5),
        ({"jsonrpc": "2.0", "id": 6, "method": ""}, 'Invalid Request: "method" must be a string', 6),
        ({"jsonrpc": "2.0", "id": 7, "method": "m", "params": [1]}, 'Invalid Request: "params" must be an object', 7),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "m"}, 'Invalid Request: "id" must be a string or an integer', None),
        ({"jsonrpc": "2.0", "id": True, "method": "m"}, 'Invalid Request: "id" must be a string or an integer', None),
        ({"jsonrpc": "2.0", "result": {}}, 'Invalid Request: a response needs an "id"', None),
        ({"jsonrpc": "2.0", "id": [1], "error": {}}, 'Invalid Request: a response needs an "id"', None),
        ({"jsonrpc": "2.0", "id": 8, "error": "bad"}, 'Invalid Request: "error" must be an object', 8),
        ({"jsonrpc": "2.0", "id": "x"}, 'Invalid Request: no "method", "result" or "error"', "x"),
    ],
)
def test_each_invalid_message_says_why_with_the_id_it_could_read(message: object, text: str, echoed: object) -> None:
    if isinstance(message, list):  # a batch of one non-object
        [classified] = jsonrpc.payload_from(message).messages
        assert isinstance(classified, Invalid)
    else:
        classified = invalid(message)
    assert classified.id == echoed
    assert classified.error.to_dict() == {"code": jsonrpc.INVALID_REQUEST, "message": text}
    assert str(classified.error) == text and classified.error.message == text
    assert jsonrpc.error_message(classified.id, classified.error) == {
        "jsonrpc": "2.0",
        "id": echoed,
        "error": {"code": -32600, "message": text},
    }


def test_a_scalar_body_is_one_invalid_message_not_a_batch() -> None:
    payload = jsonrpc.payload_from(3)
    assert payload.is_batch is False
    [classified] = payload.messages
    assert isinstance(classified, Invalid) and classified.id is None
    assert classified.error.message == "Invalid Request: a message must be a JSON object"


def test_messages_keep_their_method_params_and_ids() -> None:
    payload = jsonrpc.parse_payload(b'{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}')
    assert payload.is_batch is False
    assert payload.messages == [Request("a", "tools/call", {"name": "x"})]
    assert jsonrpc.classify({"jsonrpc": "2.0", "id": 0, "method": "ping"}) == Request(0, "ping", {})
    assert jsonrpc.classify({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": None}) == Request(1, "ping", {})
    assert jsonrpc.classify({"jsonrpc": "2.0", "method": "n", "params": {"a": 1}}) == Notification("n", {"a": 1})
    assert jsonrpc.classify({"jsonrpc": "2.0", "method": "n"}) == Notification("n", {})
    assert jsonrpc.classify({"jsonrpc": "2.0", "method": "n", "params": None}) == Notification("n", {})


def test_responses_keep_result_and_error() -> None:
    assert jsonrpc.classify({"jsonrpc": "2.0", "id": 3, "result": {"ok": 1}}) == Response(3, {"ok": 1}, None)
    error = {"code": -1, "message": "no"}
    assert jsonrpc.classify({"jsonrpc": "2.0", "id": "r", "error": error}) == Response("r", None, error)
    assert jsonrpc.classify({"jsonrpc": "2.0", "id": 4, "error": None, "result": 2}) == Response(4, 2, None)


def test_a_batch_classifies_each_member() -> None:
    payload = jsonrpc.parse_payload('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}, 5]')
    assert payload.is_batch is True
    first, second, third = payload.messages
    assert first == Request(1, "a", {}) and second == Notification("b", {})
    assert isinstance(third, Invalid)


def test_an_empty_batch_is_an_invalid_request() -> None:
    with pytest.raises(JsonRpcError) as refused:
        jsonrpc.parse_payload(b"[]")
    assert refused.value.to_dict() == {"code": -32600, "message": "Invalid Request: empty batch"}


@pytest.mark.parametrize("raw", [b"{", "{", b'{"a":}'])
def test_a_parse_error_quotes_the_decoder_briefly(raw: bytes | str) -> None:
    with pytest.raises(JsonRpcError) as refused:
        jsonrpc.decode(raw)
    assert refused.value.code == jsonrpc.PARSE_ERROR == -32700
    assert refused.value.message.startswith("Parse error: ") and len(refused.value.message) > len("Parse error: ")
    assert "None" not in refused.value.message


def test_a_long_decoder_message_is_cut_at_200_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    class Loud(ValueError):
        def __str__(self) -> str:
            return "e" * 300

    def fail(raw: object) -> object:
        raise Loud()

    monkeypatch.setattr(jsonrpc.json, "loads", fail)
    with pytest.raises(JsonRpcError) as refused:
        jsonrpc.decode("1" * 19)  # a long number takes the json path
    assert refused.value.message == "Parse error: " + "e" * 200


def test_too_deep_json_has_its_own_message() -> None:
    with pytest.raises(JsonRpcError) as refused:
        jsonrpc.decode("[" * 100_000 + "]" * 100_000)
    assert refused.value.code == -32700
    assert refused.value.message == "Parse error: the JSON is nested too deeply"


def test_valid_json_decodes_on_both_paths() -> None:
    assert jsonrpc.decode(b'{"a":[1,2]}') == {"a": [1, 2]}
    assert jsonrpc.decode('{"a":"\u00e9"}') == {"a": "\u00e9"}
    assert jsonrpc.decode('{"id":12345678901234567890}') == {"id": 12345678901234567890}


def test_error_objects_carry_data_only_when_given() -> None:
    assert JsonRpcError(-1, "m").to_dict() == {"code": -1, "message": "m"}
    assert JsonRpcError(-1, "m", {"why": 1}).to_dict() == {"code": -1, "message": "m", "data": {"why": 1}}
    assert JsonRpcError(-1, "m", 0).to_dict()["data"] == 0
    params = jsonrpc.invalid_params("bad name", {"field": "name"})
    assert params.to_dict() == {"code": -32602, "message": "bad name", "data": {"field": "name"}}
    assert str(params) == "bad name"
    assert jsonrpc.invalid_params("plain").to_dict() == {"code": -32602, "message": "plain"}


def test_the_codes_clients_read() -> None:
    assert (jsonrpc.PARSE_ERROR, jsonrpc.INVALID_REQUEST, jsonrpc.METHOD_NOT_FOUND) == (-32700, -32600, -32601)
    assert (jsonrpc.INVALID_PARAMS, jsonrpc.INTERNAL_ERROR, jsonrpc.RATE_LIMITED) == (-32602, -32603, -32029)
    assert jsonrpc.RESOURCE_NOT_FOUND == -32002


def test_outgoing_messages_have_their_wire_shape() -> None:
    assert jsonrpc.result_message(1, {"x": 1}) == {"jsonrpc": "2.0", "id": 1, "result": {"x": 1}}
    assert jsonrpc.error_message(None, JsonRpcError(-32601, "nope")) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32601, "message": "nope"},
    }
    assert jsonrpc.notification_message("n") == {"jsonrpc": "2.0", "method": "n"}
    assert jsonrpc.notification_message("n", {}) == {"jsonrpc": "2.0", "method": "n", "params": {}}


def test_dumps_falls_back_to_json_compactly_and_keeps_unicode() -> None:
    big = {"id": 2**70, "text": "\u00e9\u4e2d"}
    assert jsonrpc.dumps_bytes(big) == ('{"id":' + str(2**70) + ',"text":"\u00e9\u4e2d"}').encode()
    assert jsonrpc.dumps({"a": 1, "b": "\u00e9"}) == '{"a":1,"b":"\u00e9"}'
    assert json.loads(jsonrpc.dumps({1: "x", "y": [2**65]})) == {"1": "x", "y": [2**65]}
