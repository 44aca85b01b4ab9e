"""SEP-2243 mirrored headers at their edges: which header is checked for which method, in what order, what a
client is told, and values an HTTP library may hand over (no server; the HTTP rules are in test_http_2026)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types.jsonrpc import HEADER_MISMATCH

from mcp_gateway.catalogue import Tool
from mcp_gateway.jsonrpc import JsonRpcError, Request
from mcp_gateway.transports import mcp_headers


async def _handler(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
    return {"content": []}


REGION_TOOL = Tool(
    "lookup",
    "a tool with a mirrored argument",
    {
        "type": "object",
        "properties": {
            "where": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}
        },
    },
    _handler,
)


def call(arguments: Any = None, name: str = "lookup", **headers: str) -> tuple[Request, dict[str, str]]:
    params: dict[str, Any] = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    sent = {"mcp-method": "tools/call", "mcp-name": name}
    sent.update({key.replace("_", "-"): value for key, value in headers.items()})
    return Request(1, "tools/call", params), sent


def refusal(request: Request, headers: dict[str, str], tool: Tool | None = REGION_TOOL) -> str:
    """The message a client reads when the headers disagree with the body (always -32020)."""
    with pytest.raises(JsonRpcError) as info:
        mcp_headers.check(request, headers, tool)
    assert info.value.code == HEADER_MISMATCH
    return info.value.message


def test_a_mismatch_is_minus_32020_and_says_what_disagrees() -> None:
    error = mcp_headers.mismatch("the mcp-name header is sent more than once")
    assert (error.code, error.message) == (-32020, "Header mismatch: the mcp-name header is sent more than once")


def test_headers_that_agree_with_the_body_pass() -> None:
    request, headers = call({"where": {"region": "eu-west-1"}}, mcp_param_region="eu-west-1")
    mcp_headers.check(request, headers, REGION_TOOL)


def test_mcp_method_is_required_and_checked_first() -> None:
    request, headers = call({"where": {"region": "eu"}})
    del headers["mcp-method"], headers["mcp-name"]  # the name and param headers are wrong too: not reported
    assert refusal(request, headers) == (
        "Header mismatch: the Mcp-Method header is required (the body's method is 'tools/call')"
    )


@pytest.mark.parametrize("sent", [" tools/call", "tools/call\t", "\t tools/call  "])
def test_mcp_method_may_carry_optional_whitespace(sent: str) -> None:
    request, headers = call(mcp_method=sent)
    mcp_headers.check(request, headers, None)


@pytest.mark.parametrize("sent", ["tools/list", "tools/callX", "Xtools/call", "tools/call\x0b", "\x0ctools/call"])
def test_any_other_mcp_method_is_refused_before_the_name_is_looked_at(sent: str) -> None:
    request, headers = call(mcp_method=sent, mcp_name="wrong")
    assert refusal(request, headers) == (
        f"Header mismatch: Mcp-Method header {sent!r} does not match the body's method 'tools/call'"
    )


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [("tools/call", {"name": "lookup"}, "name"), ("prompts/get", {"name": "p"}, "name"), ("resources/read", {"uri": "docs://a"}, "uri")],
)  # fmt: skip
def test_mcp_name_is_required_where_the_body_names_a_target(method: str, params: dict[str, Any], field: str) -> None:
    request = Request(1, method, params)
    assert refusal(request, {"mcp-method": method}, None) == (
        f"Header mismatch: the Mcp-Name header is required for {method} (the body names {params[field]!r})"
    )
    assert refusal(request, {"mcp-method": method, "mcp-name": "other"}, None) == (
        f"Header mismatch: Mcp-Name header 'other' does not match the body's {field} {params[field]!r}"
    )
    mcp_headers.check(request, {"mcp-method": method, "mcp-name": params[field]}, None)


def test_mcp_name_is_compared_decoded() -> None:
    request = Request(1, "resources/read", {"uri": "docs://世界"})
    mcp_headers.check(request, {"mcp-method": "resources/read", "mcp-name": "=?base64?ZG9jczovL+S4lueVjA==?="}, None)


@pytest.mark.parametrize("params", [{}, {"name": 42}, {"name": None}])
def test_without_a_named_target_the_core_answers_and_no_name_is_required(params: dict[str, Any]) -> None:
    mcp_headers.check(Request(1, "tools/call", params), {"mcp-method": "tools/call"}, None)


def test_a_task_id_is_checked_when_sent_and_not_required() -> None:
    for method in ("tasks/get", "tasks/update", "tasks/cancel"):
        request = Request(1, method, {"taskId": "t-1"})
        mcp_headers.check(request, {"mcp-method": method}, None)
        mcp_headers.check(request, {"mcp-method": method, "mcp-name": "t-1"}, None)
        assert refusal(request, {"mcp-method": method, "mcp-name": "t-2"}, None) == (
            "Header mismatch: Mcp-Name header 't-2' does not match the body's taskId 't-1'"
        )


def test_an_unnamed_method_ignores_mcp_name() -> None:
    mcp_headers.check(Request(1, "tools/list", {"name": "x"}), {"mcp-method": "tools/list", "mcp-name": "y"}, None)


def test_the_name_is_checked_before_the_params() -> None:
    request, headers = call({"where": {"region": "eu"}}, mcp_name="other")
    assert refusal(request, headers).startswith("Header mismatch: Mcp-Name header 'other'")


def test_a_mirrored_argument_without_its_header_is_refused() -> None:
    request, headers = call({"where": {"region": "eu"}})
    assert refusal(request, headers) == (
        "Header mismatch: Mcp-Param-Region header is missing but the argument 'where.region' is present"
    )


def test_a_param_header_without_its_argument_is_refused() -> None:
    for arguments in (None, {}, ["eu"], "eu"):  # absent, or arguments that are not an object: nothing at the path
        request, headers = call(arguments, mcp_param_region="eu")
        assert refusal(request, headers) == (
            "Header mismatch: Mcp-Param-Region header is sent but the argument 'where.region' is absent"
        )


def test_a_param_header_that_differs_or_cannot_be_decoded_is_refused() -> None:
    request, headers = call({"where": {"region": "eu"}}, mcp_param_region="us")
    assert (
        refusal(request, headers)
        == "Header mismatch: Mcp-Param-Region header does not match the argument 'where.region'"
    )
    request, headers = call({"where": {"region": "eu"}}, mcp_param_region="=?base64?ZXU?=")
    assert refusal(request, headers) == (
        "Header mismatch: Mcp-Param-Region header has invalid characters or a malformed base64 value"
    )


def test_params_are_checked_only_for_tools_call_on_a_known_tool() -> None:
    # The transport looks a tool up by the body's name whatever the method: a prompt of the same name has no
    # mirrored arguments, and an unknown tool is the core's to answer.
    prompt = Request(1, "prompts/get", {"name": "lookup", "arguments": {"where": {"region": "eu"}}})
    mcp_headers.check(prompt, {"mcp-method": "prompts/get", "mcp-name": "lookup"}, REGION_TOOL)
    unknown, headers = call({"where": {"region": "eu"}})
    mcp_headers.check(unknown, headers, None)


@pytest.mark.parametrize(
    ("sent", "decoded"),
    [
        ("\x0bus-west1", None),  # only space and tab are optional whitespace; other controls are refused
        ("us-west1\x0c", None),
        ("\rus-west1", None),
        ("XL-instance-X", "XL-instance-X"),  # nothing but whitespace is trimmed
        ("=?base64?WA==?=", "X"),
        ("=?base64?SGVs bG8=?=", None),  # a space inside the payload is not base64
        ("=?base64??=", ""),
    ],
)
def test_decode_edges(sent: str, decoded: str | None) -> None:
    assert mcp_headers.decode(sent) == decoded


@pytest.mark.parametrize(("flag", "sent", "agrees"), [(True, "true", True), (True, "TRUE", False), (True, "false", False), (False, "true", False)])  # fmt: skip
def test_booleans_are_mirrored_as_true_and_false(flag: bool, sent: str, agrees: bool) -> None:
    params = [(("flag",), "Flag", "boolean")]
    if agrees:
        mcp_headers.check_params(params, {"flag": flag}, {"mcp-param-flag": sent})
    else:
        with pytest.raises(JsonRpcError, match="Mcp-Param-Flag header does not match the argument 'flag'"):
            mcp_headers.check_params(params, {"flag": flag}, {"mcp-param-flag": sent})


def test_each_routing_header_once_is_no_duplicate() -> None:
    raw = [(b"Mcp-Method", b"tools/call"), (b"Mcp-Name", b"a"), (b"MCP-Protocol-Version", b"2026-07-28")]
    assert mcp_headers.duplicated([*raw, (b"Mcp-Param-A", b"1"), (b"Mcp-Param-B", b"2")]) is None
    assert mcp_headers.duplicated([*raw, (b"mcp-protocol-version", b"2025-11-25")]) == "mcp-protocol-version"
    assert mcp_headers.duplicated([*raw, (b"MCP-METHOD", b"tools/list")]) == "mcp-method"
