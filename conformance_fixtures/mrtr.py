"""Fixtures of the suite's input-required (SEP-2322) scenarios and of its server-stateless checks on client
capabilities, response streams and logging; names, keys and texts are fixed by the suite.

Each asks with `ctx.ask_client`, so the same tool makes a real server-to-client request in a stateful session
and an input-required round on a 2026-07-28 request.
"""

from __future__ import annotations

from typing import Any

from mcp_gateway.catalogue import Catalogue, Prompt, Tool
from mcp_gateway.context import RequestContext

EMPTY: dict[str, Any] = {"type": "object", "properties": {}}


def text_result(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}]}


def elicit(message: str, field: str, kind: str = "string") -> tuple[str, dict[str, Any]]:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return "elicitation/create", {"message": message, "requestedSchema": schema}


def sample(prompt: str, max_tokens: int) -> tuple[str, dict[str, Any]]:
    return "sampling/createMessage", {
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "maxTokens": max_tokens,
    }


ROOTS: tuple[str, dict[str, Any]] = ("roots/list", {})


def field_of(answer: Any, name: str, default: str = "") -> str:
    """A field of an accepted elicitation's content."""
    content = answer.get("content") if isinstance(answer, dict) else None
    value = content.get(name) if isinstance(content, dict) else None
    return str(value) if value is not None else default


def sampled_text(answer: Any, default: str) -> str:
    content = answer.get("content") if isinstance(answer, dict) else None
    value = content.get("text") if isinstance(content, dict) else None
    return value if isinstance(value, str) else default


def roots_of(answer: Any) -> list[Any]:
    roots = answer.get("roots") if isinstance(answer, dict) else None
    return roots if isinstance(roots, list) else []


async def ask(ctx: RequestContext, key: str, request: tuple[str, dict[str, Any]]) -> Any:
    return await ctx.ask_client(request[0], request[1], key=key)


# --- tools ---------------------------------------------------------------------------------------
async def missing_capability(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Needs sampling: a client that did not declare it gets -32021 (HTTP 400)."""
    ctx.require_capability("sampling/createMessage")
    return text_result("Success")


async def elicitation(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    answer = await ask(ctx, "user_name", elicit("What is your name?", "name"))
    return text_result(f"Hello, {field_of(answer, 'name', 'friend')}!")


async def sampling(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    answer = await ask(ctx, "sample_request", sample("What is the capital of France?", 100))
    return text_result(f"Sampling result: {sampled_text(answer, 'no response')}")


async def list_roots(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    answer = await ask(ctx, "roots_request", ROOTS)
    return text_result(f"Found {len(roots_of(answer))} root(s)")


async def request_state(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """The core seals and checks requestState: reaching the end means the echoed state was valid."""
    answer = await ask(ctx, "confirm", elicit("Please confirm", "ok", "boolean"))
    return text_result(f"state-ok: requestState validated (ok={field_of(answer, 'ok')})")


async def multiple_inputs(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    answers = await ctx.ask_client_all(
        {
            "user_name": elicit("What is your name?", "name"),
            "greeting": sample("Generate a greeting", 50),
            "client_roots": ROOTS,
        }
    )
    name = field_of(answers["user_name"], "name", "friend")
    greeting = sampled_text(answers["greeting"], "Hello there!")
    return text_result(f"Name: {name}; Greeting: {greeting}; Roots: {len(roots_of(answers['client_roots']))}")


async def multi_round(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    name = field_of(await ask(ctx, "step1", elicit("Step 1: What is your name?", "name")), "name", "friend")
    color = field_of(await ask(ctx, "step2", elicit("Step 2: What is your favorite color?", "color")), "color")
    return text_result(f"Multi-round complete for {name} who likes {color}")


async def tampered_state(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    await ask(ctx, "confirm", elicit("Please confirm", "ok", "boolean"))
    return text_result("integrity-ok: state verified")


async def capabilities(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Asks only for what the client declared."""
    asks: dict[str, tuple[str, dict[str, Any] | None]] = {}
    if "elicitation" in ctx.client_capabilities:
        asks["elicit_input"] = elicit("Elicitation input", "value")
    if "sampling" in ctx.client_capabilities:
        asks["sample_input"] = sample("Sample request", 50)
    if not asks:
        return text_result("No supported capabilities declared")
    answers = await ctx.ask_client_all(asks)
    return text_result(f"capabilities-ok: received {','.join(answers)}")


async def streaming_elicitation(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Progress on the response stream, then an ask: under 2026-07-28 that ends the stream with input_required,
    never a request of the server's."""
    await ctx.progress(50, 100)
    answer = await ask(ctx, "stream_input", elicit("Streaming input", "value"))
    return text_result(f"Streaming complete: {field_of(answer, 'value')}")


async def logging_tool(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Logs at info: sent only if the request asked for a log level (2026-07-28) or the session's level allows."""
    await ctx.log("info", "Diagnostic trace logging activated")
    return text_result("Logging evaluated")


TOOLS = [
    ("test_missing_capability", "Test tool requiring sampling", missing_capability),
    ("test_input_required_result_elicitation", "MRTR: asks for elicitation input", elicitation),
    ("test_input_required_result_sampling", "MRTR: asks for a sampling result", sampling),
    ("test_input_required_result_list_roots", "MRTR: asks for the client's roots", list_roots),
    ("test_input_required_result_request_state", "MRTR: asks with a requestState", request_state),
    ("test_input_required_result_multiple_inputs", "MRTR: asks three things in one round", multiple_inputs),
    ("test_input_required_result_multi_round", "MRTR: asks in two rounds", multi_round),
    ("test_input_required_result_tampered_state", "MRTR: signed requestState integrity test", tampered_state),
    ("test_input_required_result_capabilities", "MRTR: asks only what the client declared", capabilities),
    ("test_streaming_elicitation", "Diagnostic tool validating response progress streams", streaming_elicitation),
    ("test_logging_tool", "Diagnostic logging validator tool", logging_tool),
]
# Asks nothing of the client and sends nothing meanwhile: answered as plain JSON, so -32021 gets its HTTP 400.
QUIET = frozenset({"test_missing_capability"})


# --- prompts -------------------------------------------------------------------------------------
async def context_prompt(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    answer = await ask(ctx, "user_context", elicit("What context should the prompt use?", "context"))
    message = {"type": "text", "text": f"Prompt with context: {field_of(answer, 'context')}"}
    return {"messages": [{"role": "user", "content": message}]}


def register(catalogue: Catalogue) -> None:
    for name, description, handler in TOOLS:
        catalogue.add_tool(Tool(name, description, EMPTY, handler, quiet=name in QUIET))
    catalogue.add_prompt(
        Prompt("test_input_required_result_prompt", context_prompt, "MRTR: prompt that requires elicitation input")
    )
