"""Input-required rounds (SEP-2322) in the protocol core: asks, rounds, the sealed requestState and its bounds."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, LOG_LEVEL_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_gateway import jsonrpc, tracing
from mcp_gateway.catalogue import Catalogue, Prompt, Tool
from mcp_gateway.context import RequestContext
from mcp_gateway.input_required import HmacCodec, InputRequired, Rounds
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession
from tests.mcp_gateway.conftest import Recorder, initialize

ALL_CAPABILITIES = {"sampling": {}, "elicitation": {}, "roots": {}}
EMPTY: dict[str, Any] = {"type": "object", "properties": {}}
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elicit(message: str) -> tuple[str, dict[str, Any]]:
    return "elicitation/create", {"message": message, "requestedSchema": NAME_SCHEMA}


def accepted(name: str) -> dict[str, Any]:
    return {"action": "accept", "content": {"name": name}}


def text_of(reply: dict[str, Any]) -> str:
    return str(reply["result"]["content"][0]["text"])


def make_catalogue() -> Catalogue:
    catalogue = Catalogue()

    async def one(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        answer = await ctx.ask_client(*elicit("name?"))
        return {"content": [{"type": "text", "text": f"hello {answer['content']['name']} {args.get('n', '')}"}]}

    async def two(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        first = await ctx.ask_client(*elicit("first?"))
        second = await ctx.ask_client(*elicit("second?"))
        return {"content": [{"type": "text", "text": f"{first['content']['name']}+{second['content']['name']}"}]}

    async def three_at_once(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        answers = await ctx.ask_client_all(
            {"who": elicit("who?"), "llm": ("sampling/createMessage", {"messages": []}), "roots": ("roots/list", {})}
        )
        return {"content": [{"type": "text", "text": ",".join(sorted(answers))}]}

    async def loops(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        while True:
            await ctx.ask_client(*elicit("again?"))

    async def prompt(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
        answer = await ctx.ask_client(*elicit("context?"), key="ctx")
        return {"messages": [{"role": "user", "content": {"type": "text", "text": answer["content"]["name"]}}]}

    async def chatty(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await ctx.log("info", "a log line")
        logging.getLogger("tests.tool").warning("inside the tool")
        return {"content": [{"type": "text", "text": "done"}]}

    catalogue.add_tool(Tool("one", "asks once", {"type": "object", "properties": {"n": {"type": "integer"}}}, one))
    catalogue.add_tool(Tool("two", "asks twice", EMPTY, two))
    catalogue.add_tool(Tool("three_at_once", "asks three at once", EMPTY, three_at_once))
    catalogue.add_tool(Tool("loops", "asks forever", EMPTY, loops))
    catalogue.add_tool(Tool("chatty", "logs", EMPTY, chatty))
    catalogue.add_prompt(Prompt("asking_prompt", prompt))
    return catalogue


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> McpServer:
    rounds = Rounds(HmacCodec(b"k" * 32, ttl=600, clock=clock), max_state_bytes=4096, max_asks=5)
    return McpServer(make_catalogue(), version="test", rounds=rounds)


@pytest.fixture
def session() -> ServerSession:
    return ServerSession("sid", "test", "aws", key_name="alice")


def meta(capabilities: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    caps = ALL_CAPABILITIES if capabilities is None else capabilities
    return {PROTOCOL_VERSION_META_KEY: "2026-07-28", CLIENT_CAPABILITIES_META_KEY: caps, **extra}


async def send(
    server: McpServer,
    session: ServerSession,
    method: str,
    params: dict[str, Any],
    emit: Recorder | None = None,
    capabilities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    params = {**params, "_meta": {**meta(capabilities), **params.get("_meta", {})}}
    message = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    replies = await server.handle_payload(session, jsonrpc.payload_from(message), emit or Recorder())
    assert len(replies) == 1
    return replies[0]


async def tool(server: McpServer, session: ServerSession, name: str, **params: Any) -> dict[str, Any]:
    return await send(server, session, "tools/call", {"name": name, "arguments": params.pop("arguments", {}), **params})


async def test_an_unanswered_ask_is_an_input_required_result_and_nothing_goes_on_the_stream(
    server: McpServer, session: ServerSession
) -> None:
    emit = Recorder()
    reply = await send(server, session, "tools/call", {"name": "one", "arguments": {}}, emit)
    result = reply["result"]
    assert result["resultType"] == "input_required"
    assert result["inputRequests"] == {"input-1": {"method": "elicitation/create", "params": elicit("name?")[1]}}
    assert isinstance(result["requestState"], str)
    assert emit.sent == []  # no server-to-client request on the response stream


async def test_the_retry_with_the_answer_completes(server: McpServer, session: ServerSession) -> None:
    first = await tool(server, session, "one")
    state = first["result"]["requestState"]
    reply = await tool(server, session, "one", inputResponses={"input-1": accepted("Ada")}, requestState=state)
    assert reply["result"]["resultType"] == "complete"
    assert text_of(reply) == "hello Ada "


async def test_answers_of_earlier_rounds_travel_in_the_state(server: McpServer, session: ServerSession) -> None:
    r1 = (await tool(server, session, "two"))["result"]
    r2 = await tool(server, session, "two", inputResponses={"input-1": accepted("A")}, requestState=r1["requestState"])
    r2 = r2["result"]
    assert r2["resultType"] == "input_required" and list(r2["inputRequests"]) == ["input-2"]
    assert r2["requestState"] != r1["requestState"]
    # The last round carries only the last answer: the first comes back from the state.
    r3 = await tool(server, session, "two", inputResponses={"input-2": accepted("B")}, requestState=r2["requestState"])
    assert text_of(r3) == "A+B"


async def test_several_asks_go_out_in_one_round(server: McpServer, session: ServerSession) -> None:
    r1 = (await tool(server, session, "three_at_once"))["result"]
    assert {k: v["method"] for k, v in r1["inputRequests"].items()} == {
        "who": "elicitation/create",
        "llm": "sampling/createMessage",
        "roots": "roots/list",
    }
    # Two answered: the third alone is asked again, and the two are kept in the state.
    partial = {"who": accepted("A"), "llm": {"role": "assistant", "content": {"type": "text", "text": "hi"}}}
    r2 = await tool(server, session, "three_at_once", inputResponses=partial, requestState=r1["requestState"])
    assert list(r2["result"]["inputRequests"]) == ["roots"]
    last = {"roots": {"roots": []}}
    r3 = await tool(server, session, "three_at_once", inputResponses=last, requestState=r2["result"]["requestState"])
    assert text_of(r3) == "llm,roots,who"


async def test_missing_answers_are_asked_again_and_extra_ones_ignored(
    server: McpServer, session: ServerSession
) -> None:
    wrong = await tool(server, session, "one", inputResponses={"wrong_key": accepted("X")})
    assert wrong["result"]["resultType"] == "input_required"
    assert list(wrong["result"]["inputRequests"]) == ["input-1"]
    extra = await tool(server, session, "one", inputResponses={"input-1": accepted("Ada"), "other": 5})
    assert text_of(extra) == "hello Ada "


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"inputResponses": None}, "inputResponses"),
        ({"inputResponses": {"input-1": 12345}}, "must be the result object"),
        ({"requestState": 12}, "must be the string"),
    ],
)
async def test_malformed_answers_are_invalid_params(
    server: McpServer, session: ServerSession, params: dict[str, Any], words: str
) -> None:
    reply = await tool(server, session, "one", **params)
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert words in reply["error"]["message"]


async def state_for(server: McpServer, session: ServerSession, **params: Any) -> str:
    reply = await tool(server, session, "one", **params)
    return str(reply["result"]["requestState"])


async def assert_refused(reply: dict[str, Any], words: str) -> None:
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS, reply
    assert words in reply["error"]["message"]


async def test_a_tampered_state_is_refused_and_the_server_goes_on(server: McpServer, session: ServerSession) -> None:
    state = await state_for(server, session)
    answers = {"input-1": accepted("Ada")}
    await assert_refused(
        await tool(server, session, "one", inputResponses=answers, requestState=state + "x"), "integrity"
    )
    await assert_refused(await tool(server, session, "one", requestState="not.a-state"), "integrity")
    body, mac = state.rsplit(".", 1)
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    await assert_refused(await tool(server, session, "one", requestState=forged), "integrity")
    assert text_of(await tool(server, session, "one", inputResponses=answers, requestState=state)) == "hello Ada "


async def test_an_expired_state_is_refused(server: McpServer, session: ServerSession, clock: Clock) -> None:
    state = await state_for(server, session)
    clock.now += 601
    await assert_refused(await tool(server, session, "one", requestState=state), "expired")


async def test_a_state_is_good_only_for_its_own_request(server: McpServer, session: ServerSession) -> None:
    state = await state_for(server, session, arguments={"n": 1})
    await assert_refused(await tool(server, session, "one", arguments={"n": 2}, requestState=state), "another request")
    await assert_refused(await tool(server, session, "two", requestState=state), "another request")
    other_key = ServerSession("sid2", "test", "aws", key_name="mallory")
    await assert_refused(
        await tool(server, other_key, "one", arguments={"n": 1}, requestState=state), "another request"
    )
    prompt = await send(server, session, "prompts/get", {"name": "one", "requestState": state})
    await assert_refused(prompt, "another request")
    other_partition = ServerSession("sid3", "test", "aws-cn", key_name="alice")
    reply = await tool(server, other_partition, "one", arguments={"n": 1}, requestState=state)
    await assert_refused(reply, "another request")


async def test_the_state_size_is_bounded_both_ways(server: McpServer, session: ServerSession) -> None:
    too_long = "x" * 4097
    await assert_refused(await tool(server, session, "one", requestState=too_long), "longer than 4096 bytes")
    big = {"input-1": {"action": "accept", "content": {"name": "y" * 5000}}}
    await assert_refused(await tool(server, session, "two", inputResponses=big), "over 4096 bytes")
    assert (await tool(server, session, "two"))["result"]["resultType"] == "input_required"


async def test_the_number_of_asks_is_bounded(server: McpServer, session: ServerSession) -> None:
    state, answers = None, {}
    for n in range(1, 6):
        params: dict[str, Any] = {"inputResponses": answers}
        if state:
            params["requestState"] = state
        reply = await tool(server, session, "loops", **params)
        assert list(reply["result"]["inputRequests"]) == [f"input-{n}"]
        state, answers = reply["result"]["requestState"], {f"input-{n}": accepted("again")}
    reply = await tool(server, session, "loops", inputResponses=answers, requestState=state)
    assert reply["error"]["code"] == jsonrpc.INVALID_REQUEST
    assert "at most 5 times" in reply["error"]["message"]


async def test_an_undeclared_capability_is_minus_32021(server: McpServer, session: ServerSession) -> None:
    reply = await send(server, session, "tools/call", {"name": "one"}, capabilities={"sampling": {}})
    assert reply["error"]["code"] == MISSING_REQUIRED_CLIENT_CAPABILITY
    assert reply["error"]["data"] == {"requiredCapabilities": {"elicitation": {}}}
    several = await send(server, session, "tools/call", {"name": "three_at_once"}, capabilities={"elicitation": {}})
    assert several["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}


async def test_a_prompt_asks_in_rounds_too(server: McpServer, session: ServerSession) -> None:
    r1 = (await send(server, session, "prompts/get", {"name": "asking_prompt"}))["result"]
    assert r1["resultType"] == "input_required" and list(r1["inputRequests"]) == ["ctx"]
    params = {"name": "asking_prompt", "inputResponses": {"ctx": accepted("docs")}, "requestState": r1["requestState"]}
    r2 = await send(server, session, "prompts/get", params)
    assert r2["result"]["messages"][0]["content"]["text"] == "docs"


async def test_a_modern_request_that_cannot_answer_input_required_sends_no_request_either(
    server: McpServer, session: ServerSession
) -> None:
    async def asks(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return dict(await ctx.ask_client("roots/list", {}))

    server.methods["custom/asks"] = asks
    emit = Recorder()
    reply = await send(server, session, "custom/asks", {}, emit)
    assert reply["error"] == {"code": jsonrpc.INTERNAL_ERROR, "message": "custom/asks cannot ask the client"}
    assert emit.sent == []


async def test_lists_never_answer_input_required(server: McpServer, session: ServerSession) -> None:
    reply = await send(server, session, "tools/list", {"inputResponses": {"x": {}}})
    assert reply["result"]["resultType"] == "complete"


class Waiting(Recorder):
    """Keeps what was sent, and says when `count` messages have been."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.enough = asyncio.Event()

    async def __call__(self, message: dict[str, Any]) -> None:
        await super().__call__(message)
        if len(self.sent) >= self.count:
            self.enough.set()


async def test_a_stateful_session_still_asks_with_a_real_request(server: McpServer, session: ServerSession) -> None:
    await initialize(server, session)
    emit = Waiting(3)
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "three_at_once"}}
    task = asyncio.create_task(server.handle_payload(session, jsonrpc.payload_from(message), emit))
    await asyncio.wait_for(emit.enough.wait(), 5)
    assert {m["method"] for m in emit.sent} == {"elicitation/create", "sampling/createMessage", "roots/list"}
    for asked in emit.sent:
        answer = {"jsonrpc": "2.0", "id": asked["id"], "result": {}}
        await server.handle_payload(session, jsonrpc.payload_from(answer))
    replies = await asyncio.wait_for(task, 5)
    assert text_of(replies[0]) == "llm,roots,who"


async def test_an_asker_takes_the_asks(session: ServerSession) -> None:
    asked: list[tuple[str, Any, float]] = []

    async def asker(method: str, params: dict[str, Any] | None, timeout: float) -> Any:
        asked.append((method, params, timeout))
        return {"action": "accept"}

    session.client_capabilities = {"roots": {}}
    ctx = RequestContext(session, 1, asker=asker, request_meta=meta())
    assert await ctx.ask_client("roots/list", {}, 3) == {"action": "accept"}
    assert asked == [("roots/list", {}, 3)]


async def test_input_required_outside_a_round_is_an_internal_error(session: ServerSession) -> None:
    catalogue = Catalogue()

    async def raises(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
        raise InputRequired

    catalogue.add_prompt(Prompt("raises", raises))
    server = McpServer(catalogue)
    await initialize(server, session)
    message = {"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {"name": "raises"}}
    replies = await server.handle_payload(session, jsonrpc.payload_from(message), Recorder())
    assert replies[0]["error"]["code"] == jsonrpc.INTERNAL_ERROR


async def test_logs_go_out_only_when_the_request_asked_for_a_level(server: McpServer, session: ServerSession) -> None:
    quiet, loud = Recorder(), Recorder()
    await send(server, session, "tools/call", {"name": "chatty"}, quiet)
    assert [m for m in quiet.sent if m.get("method") == "notifications/message"] == []
    await send(server, session, "tools/call", {"name": "chatty", "_meta": {LOG_LEVEL_META_KEY: "info"}}, loud)
    assert [m["params"]["data"] for m in loud.sent if m.get("method") == "notifications/message"] == ["a log line"]


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(tracing.TraceFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("traceparent", "trace_id"),
    [
        (TRACEPARENT, "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", None),  # no flags
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),  # all-zero trace id
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),  # version ff
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),  # uppercase
        (42, None),
    ],
)
async def test_a_traceparent_goes_on_the_log_lines_of_its_request(
    server: McpServer, session: ServerSession, traceparent: Any, trace_id: str | None
) -> None:
    keep = Keep()
    logger = logging.getLogger("tests.tool")
    logger.addHandler(keep)
    try:
        extra = {"traceparent": traceparent, "tracestate": "vendor=1"}
        reply = await send(server, session, "tools/call", {"name": "chatty", "_meta": extra})
        logger.warning("after the request")
    finally:
        logger.removeHandler(keep)
    assert text_of(reply) == "done"
    inside, after = keep.records
    assert inside.trace_id == trace_id  # type: ignore[attr-defined]
    assert after.trace_id is None  # type: ignore[attr-defined]
    if trace_id:
        assert inside.span_id == "00f067aa0ba902b7"  # type: ignore[attr-defined]
        assert f"trace_id={trace_id}" in inside.trace  # type: ignore[attr-defined]


def test_tracestate_rides_along_and_an_overlong_one_is_dropped() -> None:
    parsed = tracing.parse({"traceparent": TRACEPARENT, "tracestate": "a=1"})
    assert parsed is not None and parsed.tracestate == "a=1"
    overlong = tracing.parse({"traceparent": TRACEPARENT, "tracestate": "a" * 600})
    assert overlong is not None and overlong.tracestate is None
