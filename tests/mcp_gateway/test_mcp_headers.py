"""mcp_gateway.transports.mcp_headers on its own: header values an HTTP client library will not send
(control characters, non-ASCII), and the comparisons of mirrored values. The HTTP rules are in
tests/integration/test_http_2026.py."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_gateway.jsonrpc import JsonRpcError
from mcp_gateway.transports import mcp_headers


@pytest.mark.parametrize(
    ("sent", "decoded"),
    [
        ("us-west1", "us-west1"),
        (" \tus-west1\t ", "us-west1"),  # optional whitespace around the value is not part of it
        ("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界"),
        ("=?base64?IHBhZGRlZCA=?=", " padded "),
        ("=?base64?SGVsbG8?=", None),  # padding missing
        ("=?base64?SGVsbG9=?=", None),  # not canonical: stray bits
        ("=?base64?//79?=", None),  # not UTF-8
        ("=?BASE64?SGVsbG8=?=", "=?BASE64?SGVsbG8=?="),  # the markers are case-sensitive: a literal value
        ("line1\nline2", None),
        ("caf\xe9", None),  # a byte past ASCII, as Daphne hands it over (latin-1)
        ("a\x00b", None),
    ],
)
def test_decode(sent: str, decoded: str | None) -> None:
    assert mcp_headers.decode(sent) == decoded


PARAMS = [(("n",), "N", "integer"), (("flag",), "Flag", "boolean"), (("where", "region"), "Region", "string")]


@pytest.mark.parametrize(
    ("arguments", "headers", "agrees"),
    [
        ({}, {}, True),
        ({"n": None}, {}, True),  # null is absent: no header expected
        ({"n": 42}, {"mcp-param-n": "42"}, True),
        ({"n": 42}, {"mcp-param-n": "42.000"}, True),
        ({"n": 42}, {"mcp-param-n": "42.5"}, False),
        ({"n": -7}, {"mcp-param-n": "-7"}, True),
        ({"n": 42}, {"mcp-param-n": "4.2e1"}, False),
        ({"n": 42}, {"mcp-param-n": "9" * 5000}, False),  # past int()'s 4,300 digits: a mismatch, not ValueError
        ({"n": 42}, {"mcp-param-n": "-" + "0" * 5000 + "42"}, False),  # no number needs that many digits
        ({"n": 42}, {"mcp-param-n": "42." + "0" * 5000}, True),  # the fraction is only checked to be zeros
        ({"n": 10**24}, {"mcp-param-n": str(10**24)}, True),  # beyond 20 digits the text must be the same
        ({"n": 42}, {"mcp-param-n": "1e99999"}, False),
        ({"flag": False}, {"mcp-param-flag": "false"}, True),
        ({"flag": False}, {"mcp-param-flag": "0"}, False),
        ({"where": {"region": "eu"}}, {"mcp-param-region": "eu"}, True),
        ({"where": "eu"}, {"mcp-param-region": "eu"}, False),  # no value at that path: the header is stray
        ({"where": {"region": ["eu"]}}, {"mcp-param-region": "['eu']"}, False),  # a list cannot be mirrored
    ],
)
def test_check_params(arguments: dict[str, Any], headers: dict[str, str], agrees: bool) -> None:
    if agrees:
        mcp_headers.check_params(PARAMS, arguments, headers)
    else:
        with pytest.raises(JsonRpcError) as info:
            mcp_headers.check_params(PARAMS, arguments, headers)
        assert info.value.code == -32020


def test_duplicated_headers_are_found_whatever_their_case() -> None:
    assert mcp_headers.duplicated([(b"Mcp-Name", b"a"), (b"accept", b"x"), (b"mcp-name", b"a")]) == "mcp-name"
    assert mcp_headers.duplicated([(b"Mcp-Param-Region", b"a"), (b"mcp-param-region", b"b")]) == "mcp-param-region"
    assert mcp_headers.duplicated([(b"accept", b"x"), (b"accept", b"y")]) is None
