"""SEP-2243: the request headers a 2026-07-28 client mirrors from its body, checked against that body.

`Mcp-Method` (every request), `Mcp-Name` (the tool, prompt or resource a request names) and `Mcp-Param-<Name>`
(tool arguments whose schema carries `x-mcp-header`) let a gateway route without reading the body; a header that
disagrees with the body, or is missing where the body has the value, is refused (400, -32020 HeaderMismatch) so
that what was routed on is what runs.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mcp_types.jsonrpc import HEADER_MISMATCH

from mcp_gateway.catalogue import HeaderParam, Tool
from mcp_gateway.jsonrpc import JsonRpcError, Request

METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
PARAM_PREFIX = "mcp-param-"
ROUTING_HEADERS = frozenset({"mcp-protocol-version", METHOD_HEADER, NAME_HEADER})
# Methods whose target a client must mirror in Mcp-Name, and the body field it comes from.
NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# The tasks extension names its task in Mcp-Name too; checked when sent, not required (the core table lacks it).
NAMED_IF_SENT = {"tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId"}

_SENTINEL = re.compile(r"=\?base64\?(?P<payload>.*)\?=", re.DOTALL)
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")  # RFC 9110 field-value characters (visible ASCII, space, tab)
# A number compared as a number: at most 20 integer digits (a JSON-safe integer has 16; int() refuses past 4,300,
# which is a ValueError, not a mismatch). A longer one is compared as text.
_DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]+)?")


def mismatch(message: str) -> JsonRpcError:
    return JsonRpcError(HEADER_MISMATCH, f"Header mismatch: {message}")


def duplicated(raw: Iterable[tuple[bytes, bytes]]) -> str | None:
    """A routing or Mcp-Param-* header sent twice (readers of the first and of the last copy would disagree),
    or None."""
    seen: set[str] = set()
    for name, _ in raw:
        key = name.decode("latin-1").lower()
        if key in ROUTING_HEADERS or key.startswith(PARAM_PREFIX):
            if key in seen:
                return key
            seen.add(key)
    return None


def decode(value: str) -> str | None:
    """A header value as the body would carry it: optional whitespace dropped (RFC 9110 5.5), the
    `=?base64?...?=` form decoded strictly; None for a value with invalid characters or a bad encoding."""
    value = value.strip(" \t")
    if not _FIELD_VALUE.fullmatch(value):
        return None
    found = _SENTINEL.fullmatch(value)
    if found is None:
        return value
    payload = found["payload"]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:  # not canonical: padding or stray bits
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def check(request: Request, headers: Mapping[str, str], tool: Tool | None) -> None:
    """Raise HeaderMismatch unless the request's headers agree with its body (headers keyed in lower case)."""
    sent = headers.get(METHOD_HEADER)
    if sent is None:
        raise mismatch(f"the Mcp-Method header is required (the body's method is {request.method!r})")
    if sent.strip(" \t") != request.method:
        raise mismatch(f"Mcp-Method header {sent!r} does not match the body's method {request.method!r}")
    _check_name(request, headers)
    if tool is not None and request.method == "tools/call":
        arguments = request.params.get("arguments")
        check_params(tool.header_params, arguments if isinstance(arguments, dict) else {}, headers)


def _check_name(request: Request, headers: Mapping[str, str]) -> None:
    field = NAMED.get(request.method) or NAMED_IF_SENT.get(request.method)
    target = request.params.get(field) if field else None
    if not isinstance(target, str):
        return  # nothing named in the body: the core answers that request
    sent = headers.get(NAME_HEADER)
    if sent is None:
        if request.method in NAMED:
            raise mismatch(f"the Mcp-Name header is required for {request.method} (the body names {target!r})")
        return
    if decode(sent) != target:
        raise mismatch(f"Mcp-Name header {sent!r} does not match the body's {field} {target!r}")


def check_params(params: Iterable[HeaderParam], arguments: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Each x-mcp-header argument and its Mcp-Param-<Name> header: both present and equal, or both absent."""
    for path, suffix, kind in params:
        name = f"Mcp-Param-{suffix}"
        sent = headers.get(PARAM_PREFIX + suffix.lower())
        value = _value_at(arguments, path)
        if value is None:
            if sent is not None:
                raise mismatch(f"{name} header is sent but the argument {'.'.join(path)!r} is absent")
            continue
        if sent is None:
            raise mismatch(f"{name} header is missing but the argument {'.'.join(path)!r} is present")
        decoded = decode(sent)
        if decoded is None:
            raise mismatch(f"{name} header has invalid characters or a malformed base64 value")
        if not _same(kind, value, decoded):
            raise mismatch(f"{name} header does not match the argument {'.'.join(path)!r}")


def _value_at(arguments: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = arguments
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _same(kind: str, value: Any, decoded: str) -> bool:
    """Compare as the client renders: booleans as true/false, integers by number (42.0 is 42), else the text."""
    if isinstance(value, bool):
        return decoded == ("true" if value else "false")
    if kind == "integer" and isinstance(value, int) and _DECIMAL.fullmatch(decoded):
        whole, _, fraction = decoded.partition(".")
        return int(whole) == value and set(fraction) <= {"0"}
    if isinstance(value, str | int | float):
        return decoded == str(value)
    return False  # an object or list cannot be mirrored: a header claiming it cannot match
