"""Input-required rounds at their edges: what a requestState is bound to, its expiry and size bounds exactly at the
limit, what each refusal tells the client, and what the next round's state carries (the core alone, no server)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mcp_gateway.input_required import HmacCodec, InputRequired, Round, Rounds, StateRejected
from mcp_gateway.jsonrpc import INVALID_PARAMS, JsonRpcError

KEY = b"k" * 32
ANSWER = {"action": "accept", "content": {"name": "Ada"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rounds(clock: Clock) -> Rounds:
    return Rounds(HmacCodec(KEY, ttl=600, clock=clock), max_state_bytes=4096, max_asks=5)


def refused(rounds: Rounds, method: str, params: dict[str, Any], caller: str = "aws:alice") -> str:
    """The message a client reads when a round cannot open (always -32602)."""
    with pytest.raises(JsonRpcError) as info:
        rounds.open(method, params, caller)
    assert info.value.code == INVALID_PARAMS
    return info.value.message


def state_for(rounds: Rounds, method: str, params: dict[str, Any], caller: str = "aws:alice") -> str:
    """The requestState of a first round that answered one ask and stopped on the next."""
    round_ = rounds.open(method, {**params, "inputResponses": {"input-1": ANSWER}}, caller)
    round_.answer(None, "elicitation/create", {})
    with pytest.raises(InputRequired):
        round_.answer(None, "elicitation/create", {})
    return str(rounds.result(round_)["requestState"])


def test_a_state_opens_in_any_process_that_has_the_key(clock: Clock) -> None:
    payload = {"b": "bound", "a": {"input-1": ANSWER}}
    assert HmacCodec(KEY, clock=clock).unseal(HmacCodec(KEY, clock=clock).seal(payload)) == payload
    keyless = HmacCodec(clock=clock)  # a bare core makes up its own key: only it opens its states
    assert keyless.unseal(keyless.seal(payload)) == payload
    with pytest.raises(StateRejected, match=r"^requestState integrity check failed$"):
        HmacCodec(clock=clock).unseal(keyless.seal(payload))


def test_a_state_opens_whatever_its_answers(clock: Clock) -> None:
    codec = HmacCodec(KEY, clock=clock)
    for n in range(12):  # every length of the encoded body modulo 4, so with and without stripped padding
        clock.now = 1000.0 + n
        payload = {"b": "bound", "a": {"input-1": {"action": "accept", "content": {"name": "a" * n + "é~?>"}}}}
        assert codec.unseal(codec.seal(payload)) == payload


def test_answers_resealed_without_the_key_are_refused(clock: Clock) -> None:
    codec = HmacCodec(KEY, clock=clock)
    token = codec.seal({"b": "bound", "a": {"input-1": {"action": "decline"}}})
    _, mac = token.rsplit(".", 1)
    forged = json.dumps({"t": 1000.0, "p": {"b": "bound", "a": {"input-1": ANSWER}}}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    with pytest.raises(StateRejected, match=r"^requestState integrity check failed$"):
        codec.unseal(f"{body}.{mac}")


def test_a_state_expires_just_after_its_time_to_live(clock: Clock) -> None:
    codec = HmacCodec(KEY, ttl=600, clock=clock)
    token = codec.seal({"b": "bound", "a": {}})
    clock.now = 1600.0  # exactly the time to live: still good
    assert codec.unseal(token) == {"b": "bound", "a": {}}
    clock.now = 1600.5
    with pytest.raises(StateRejected) as info:
        codec.unseal(token)
    assert str(info.value) == "requestState has expired; send the request again without it"


def test_an_expired_or_forged_state_tells_the_client_why(rounds: Rounds, clock: Clock) -> None:
    params = {"name": "one", "arguments": {}}
    state = state_for(rounds, "tools/call", params)
    forged = state[:-1] + ("A" if state[-1] != "A" else "B")
    assert refused(rounds, "tools/call", {**params, "requestState": forged}) == "requestState integrity check failed"
    clock.now += 601
    assert refused(rounds, "tools/call", {**params, "requestState": state}) == (
        "requestState has expired; send the request again without it"
    )


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/call", {"name": "two", "arguments": {"n": 1}}),  # another tool, same arguments
        ("tools/call", {"name": "one", "arguments": {"n": 2}}),
        ("tools/call", {"name": "one"}),
        ("prompts/get", {"name": "one", "arguments": {"n": 1}}),  # another method, same name and arguments
        ("tools/call", {"uri": "docs://one", "arguments": {"n": 1}}),
    ],
)
def test_a_state_is_bound_to_the_method_target_and_arguments(
    rounds: Rounds, method: str, params: dict[str, Any]
) -> None:
    state = state_for(rounds, "tools/call", {"name": "one", "arguments": {"n": 1}})
    assert refused(rounds, method, {**params, "requestState": state}) == (
        "requestState was issued for another request; start this one afresh"
    )


def test_a_state_is_bound_to_the_caller(rounds: Rounds) -> None:
    state = state_for(rounds, "tools/call", {"name": "one", "arguments": {}}, caller="aws:alice")
    for caller in ("aws:mallory", "aws-cn:alice"):
        message = refused(rounds, "tools/call", {"name": "one", "arguments": {}, "requestState": state}, caller)
        assert message == "requestState was issued for another request; start this one afresh"


def test_a_resource_state_is_bound_to_its_uri(rounds: Rounds) -> None:
    state = state_for(rounds, "resources/read", {"uri": "docs://a"})
    rounds.open("resources/read", {"uri": "docs://a", "requestState": state}, "aws:alice")
    assert refused(rounds, "resources/read", {"uri": "docs://b", "requestState": state}) == (
        "requestState was issued for another request; start this one afresh"
    )


def test_arguments_bind_by_value_not_by_the_order_the_client_wrote_them(rounds: Rounds) -> None:
    state = state_for(rounds, "tools/call", {"name": "one", "arguments": {"a": 1, "b": {"y": 2, "x": 3}}})
    again = {"name": "one", "arguments": {"b": {"x": 3, "y": 2}, "a": 1}, "requestState": state}
    assert rounds.open("tools/call", again, "aws:alice").earlier == {"input-1": ANSWER}


def test_answers_from_the_state_travel_on_to_every_later_round(rounds: Rounds) -> None:
    params = {"name": "three", "arguments": {}}
    state = state_for(rounds, "tools/call", params, caller="c")
    second = rounds.open("tools/call", {**params, "inputResponses": {"input-2": {"n": 2}}, "requestState": state}, "c")
    assert second.answer(None, "elicitation/create", {}) == ANSWER  # from the state
    assert second.answer(None, "elicitation/create", {}) == {"n": 2}
    with pytest.raises(InputRequired):
        second.answer(None, "elicitation/create", {})
    third = rounds.open("tools/call", {**params, "requestState": rounds.result(second)["requestState"]}, "c")
    assert third.earlier == {"input-1": ANSWER, "input-2": {"n": 2}}


def test_an_ask_without_params_goes_out_with_empty_params(rounds: Rounds) -> None:
    round_ = rounds.open("tools/call", {"name": "one"}, "c")
    with pytest.raises(InputRequired):
        round_.answer("roots", "roots/list", None)
    assert rounds.result(round_)["inputRequests"] == {"roots": {"method": "roots/list", "params": {}}}


def test_asks_made_together_go_out_with_their_own_params(rounds: Rounds) -> None:
    round_ = rounds.open("tools/call", {"name": "one", "inputResponses": {"who": ANSWER}}, "c")
    asks = {"who": ("elicitation/create", {"message": "who?"}), "llm": ("sampling/createMessage", {"maxTokens": 9})}
    with pytest.raises(InputRequired):
        round_.answer_all(asks)
    result = rounds.result(round_)
    assert result["inputRequests"] == {"llm": {"method": "sampling/createMessage", "params": {"maxTokens": 9}}}


def test_malformed_answers_are_refused_with_what_to_send(rounds: Rounds) -> None:
    assert refused(rounds, "tools/call", {"name": "one", "inputResponses": ["x"]}) == (
        '"inputResponses" must be an object of answers keyed as asked'
    )
    assert refused(rounds, "tools/call", {"name": "one", "requestState": 5}) == (
        '"requestState" must be the string the server sent'
    )


def test_a_state_at_the_length_bound_is_opened_and_one_byte_more_is_not(rounds: Rounds) -> None:
    at_bound = refused(rounds, "tools/call", {"name": "one", "requestState": "x" * 4096})
    assert at_bound == "requestState integrity check failed"  # opened, and found not to be ours
    assert refused(rounds, "tools/call", {"name": "one", "requestState": "x" * 4097}) == (
        "requestState is longer than 4096 bytes"
    )


class Choking:
    """A codec that fails on garbage with its own exception instead of StateRejected."""

    def seal(self, payload: dict[str, Any]) -> str:
        return "sealed"

    def unseal(self, token: str) -> dict[str, Any]:
        raise ValueError("not base64")


def test_a_codec_that_chokes_on_garbage_rejects_it_all_the_same() -> None:
    assert refused(Rounds(Choking()), "tools/call", {"name": "one", "requestState": "garbage"}) == (
        "requestState integrity check failed"
    )


def test_the_next_state_may_be_exactly_as_long_as_the_bound(clock: Clock) -> None:
    codec = HmacCodec(KEY, clock=clock)
    round_ = Round("bound", used={"input-1": ANSWER}, missing={"input-2": {"method": "roots/list", "params": {}}})
    length = len(codec.seal({"b": "bound", "a": {"input-1": ANSWER}}))
    assert Rounds(codec, max_state_bytes=length).result(round_)["resultType"] == "input_required"
    with pytest.raises(JsonRpcError) as info:
        Rounds(codec, max_state_bytes=length - 1).result(round_)
    assert (info.value.code, info.value.message) == (
        INVALID_PARAMS,
        f"the answers given so far make a requestState over {length - 1} bytes; answer more briefly",
    )
