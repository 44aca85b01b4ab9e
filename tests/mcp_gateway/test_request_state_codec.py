"""The server's requestState codec: Django signing under a key derived from SECRET_KEY."""

from __future__ import annotations

import pytest
from django.core import signing

from mcp_gateway.input_required import HmacCodec, Round, Rounds, StateCodec, StateRejected
from mcp_gateway.jsonrpc import JsonRpcError
from mcp_gateway.server import SignedStateCodec

PAYLOAD = {"b": "bound", "a": {"input-1": {"action": "accept"}}}


def test_a_sealed_state_opens_again() -> None:
    codec = SignedStateCodec(ttl=600)
    assert codec.unseal(codec.seal(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token + "x",
        lambda token: "x" + token,
        lambda token: "",
        lambda token: "no signature at all",
        lambda token: signing.dumps(PAYLOAD),  # signed with SECRET_KEY, but for another purpose (salt)
    ],
)
def test_anything_else_fails_the_integrity_check(forge: object) -> None:
    codec = SignedStateCodec(ttl=600)
    with pytest.raises(StateRejected, match="integrity"):
        codec.unseal(forge(codec.seal(PAYLOAD)))  # type: ignore[operator]


def test_an_old_state_has_expired() -> None:
    token = SignedStateCodec(ttl=600).seal(PAYLOAD)
    with pytest.raises(StateRejected, match="expired"):
        SignedStateCodec(ttl=-1).unseal(token)


def test_a_state_is_not_compressed_so_its_length_bounds_what_it_holds() -> None:
    """The server bounds the token's length; compressed, a short token could open to megabytes on every replay."""
    codec = SignedStateCodec(ttl=600)
    payload = {"b": "bound", "a": {"input-1": {"action": "accept", "content": {"name": "a" * 10_000}}}}
    token = codec.seal(payload)
    assert len(token) > 10_000
    assert codec.unseal(token) == payload


def test_a_compressed_token_signed_by_someone_else_is_refused_before_it_is_expanded() -> None:
    forged = signing.dumps({"b": "bound", "a": {"x": "a" * 100_000}}, salt="another", compress=True)
    with pytest.raises(StateRejected, match="integrity"):
        SignedStateCodec(ttl=600).unseal(forged)


@pytest.mark.parametrize("codec", [SignedStateCodec(ttl=600), HmacCodec()], ids=["server", "core"])
def test_the_bound_refuses_repetitive_answers_with_either_codec(codec: StateCodec) -> None:
    """The core's default codec (tests, a bare core) and the server's agree: the bound is on what the state holds."""
    rounds = Rounds(codec, max_state_bytes=4096)
    round_ = Round("bound", used={"input-1": {"action": "accept", "content": {"name": "a" * 10_000}}})
    with pytest.raises(JsonRpcError) as info:
        rounds.result(round_)
    assert info.value.code == -32602 and "over 4096 bytes" in info.value.message
