"""Input-required results (SEP-2322, 2026-07-28): a request that needs the client's answers is answered in rounds.

A handler asks with `ctx.ask_client`; without the answer at hand the core stops it (`InputRequired`) and answers
`{"resultType": "input_required", "inputRequests": {...}, "requestState": "..."}`. The client retries the same
request with `inputResponses`; the handler runs again from the start and its asks, keyed the same way in the same
order, now find their answers. Answers of earlier rounds travel in `requestState`, sealed by a `StateCodec` and
bound to the request, so no process keeps anything between rounds and any process of a fleet takes the next one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcp_types.methods import INPUT_REQUIRED_METHODS

from mcp_gateway.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, JsonRpcError

__all__ = ["INPUT_REQUIRED_METHODS", "HmacCodec", "InputRequired", "Round", "Rounds", "StateCodec", "StateRejected"]

STATE_TTL = 600.0
STATE_MAX_BYTES = 64 * 1024
MAX_ASKS = 16


class InputRequired(Exception):
    """Stops a handler whose asks are not all answered yet; the core answers with the round's inputRequests."""


class StateRejected(Exception):
    """A requestState the codec will not open: tampered with, not ours, or expired (the message says which)."""


class StateCodec(Protocol):
    """Seals the state of a request between rounds; `unseal` raises StateRejected for anything it did not seal
    unmodified within its time to live. No compression: `Rounds` bounds a token's length so as to bound what it
    holds, and the work of opening it on every round."""

    def seal(self, payload: dict[str, Any]) -> str: ...

    def unseal(self, token: str) -> dict[str, Any]: ...


class HmacCodec:
    """A stdlib codec (HMAC-SHA256 over JSON, with the time it was sealed): the default of a bare core and of tests.

    The server passes its own, keyed from SECRET_KEY, so that every process of a fleet opens the others' states."""

    def __init__(self, key: bytes | None = None, ttl: float = STATE_TTL, clock: Any = time.time) -> None:
        self.key = key or os.urandom(32)
        self.ttl = ttl
        self.clock = clock

    def _mac(self, body: bytes) -> str:
        return _b64(hmac.new(self.key, body, hashlib.sha256).digest())

    def seal(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps({"t": self.clock(), "p": payload}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body.encode())}"

    def unseal(self, token: str) -> dict[str, Any]:
        body, _, mac = token.rpartition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body.encode())):
            raise StateRejected("requestState integrity check failed")
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if self.clock() - data["t"] > self.ttl:
            raise StateRejected("requestState has expired; send the request again without it")
        payload: dict[str, Any] = data["p"]
        return payload


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def binding(method: str, params: Mapping[str, Any], caller: str) -> str:
    """What a state is good for: this method on this tool, prompt or resource with these arguments, for this
    caller (the partition and API key name)."""
    target = params.get("name", params.get("uri"))
    what = json.dumps([method, target, params.get("arguments"), caller], sort_keys=True, default=str)
    return hashlib.sha256(what.encode()).hexdigest()[:32]


@dataclass(slots=True)
class Round:
    """One run of a handler on one round of a request: the answers at hand and the asks still open."""

    bound_to: str
    responses: dict[str, Any] = field(default_factory=dict)  # this round's inputResponses
    earlier: dict[str, Any] = field(default_factory=dict)  # answers of earlier rounds (from requestState)
    used: dict[str, Any] = field(default_factory=dict)  # answers this run consumed: the next state
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked: int = 0
    max_asks: int = MAX_ASKS

    def count(self) -> int:
        """Counts every ask of this run against the bound; the count also names unnamed asks, in the order made,
        so a handler that runs again from the start asks under the same keys."""
        self.asked += 1
        if self.asked > self.max_asks:
            raise JsonRpcError(INVALID_REQUEST, f"a request may ask the client at most {self.max_asks} times")
        return self.asked

    def lookup(self, key: str, method: str, params: dict[str, Any] | None) -> tuple[bool, Any]:
        """(True, answer) when answered; else notes the ask as missing."""
        if key in self.earlier:
            self.used[key] = self.earlier[key]
            return True, self.earlier[key]
        if key in self.responses:
            answer = self.responses[key]
            if not isinstance(answer, dict):
                raise JsonRpcError(INVALID_PARAMS, f"inputResponses[{key!r}] must be the result object of {method}")
            self.used[key] = answer
            return True, answer
        self.missing[key] = {"method": method, "params": params if params is not None else {}}
        return False, None

    def answer(self, key: str | None, method: str, params: dict[str, Any] | None) -> Any:
        number = self.count()
        found, answer = self.lookup(key or f"input-{number}", method, params)
        if not found:
            raise InputRequired
        return answer

    def answer_all(self, asks: Mapping[str, tuple[str, dict[str, Any] | None]]) -> dict[str, Any]:
        """Several asks in one round: every one still open goes out together."""
        answers = {}
        for key, (method, params) in asks.items():
            self.count()
            answers[key] = self.lookup(key, method, params)[1]
        if self.missing:
            raise InputRequired
        return answers


class Rounds:
    """Opens a round from a request's params and turns an unanswered round into its input-required result."""

    def __init__(
        self, codec: StateCodec | None = None, max_state_bytes: int = STATE_MAX_BYTES, max_asks: int = MAX_ASKS
    ) -> None:
        self.codec = codec or HmacCodec()
        self.max_state_bytes = max_state_bytes
        self.max_asks = max_asks

    def open(self, method: str, params: Mapping[str, Any], caller: str) -> Round:
        bound_to = binding(method, params, caller)
        responses = params.get("inputResponses", {})
        if not isinstance(responses, dict):
            raise JsonRpcError(INVALID_PARAMS, '"inputResponses" must be an object of answers keyed as asked')
        token = params.get("requestState")
        earlier: dict[str, Any] = {}
        if token is not None:
            earlier = self._earlier(token, bound_to)
        return Round(bound_to, responses, earlier, max_asks=self.max_asks)

    def _earlier(self, token: Any, bound_to: str) -> dict[str, Any]:
        if not isinstance(token, str):
            raise JsonRpcError(INVALID_PARAMS, '"requestState" must be the string the server sent')
        if len(token) > self.max_state_bytes:
            raise JsonRpcError(INVALID_PARAMS, f"requestState is longer than {self.max_state_bytes} bytes")
        try:
            state = self.codec.unseal(token)
        except StateRejected as exc:
            raise JsonRpcError(INVALID_PARAMS, str(exc)) from None
        except Exception:  # a codec that chokes on garbage rejects it all the same
            raise JsonRpcError(INVALID_PARAMS, "requestState integrity check failed") from None
        if not isinstance(state, dict) or state.get("b") != bound_to or not isinstance(state.get("a"), dict):
            raise JsonRpcError(INVALID_PARAMS, "requestState was issued for another request; start this one afresh")
        answers: dict[str, Any] = state["a"]
        return answers

    def result(self, round_: Round) -> dict[str, Any]:
        """The input-required result of a round that stopped on open asks."""
        token = self.codec.seal({"b": round_.bound_to, "a": round_.used})
        if len(token) > self.max_state_bytes:
            raise JsonRpcError(
                INVALID_PARAMS,
                f"the answers given so far make a requestState over {self.max_state_bytes} bytes; answer more briefly",
            )
        return {"resultType": "input_required", "inputRequests": dict(round_.missing), "requestState": token}
