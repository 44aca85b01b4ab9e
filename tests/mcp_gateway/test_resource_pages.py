"""resources/list in pages (the catalogue's resources, then a resource directory's, behind signed cursors),
{+path} templates, and the result fields a reader may add; the protocol core driven directly."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings

from mcp_gateway import jsonrpc
from mcp_gateway.catalogue import (
    MAX_URI_CHARS,
    Catalogue,
    DirectoryPage,
    Resource,
    ResourceTemplate,
    template_pattern,
)
from mcp_gateway.context import RequestContext
from mcp_gateway.input_required import HmacCodec
from mcp_gateway.protocol import MAX_CURSOR_CHARS, MAX_RESOURCES_PAGE_SIZE, McpServer
from mcp_gateway.sessions import ServerSession
from tests.mcp_gateway.conftest import call, initialize

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
}


class Shelf:
    """A directory over numbered rows (keyset on the number), per partition; it counts what it was asked."""

    name = "shelf"

    def __init__(self, rows: int) -> None:
        self.rows = {"aws": list(range(1, rows + 1)), "aws-cn": [1001]}
        self.asked: list[tuple[str | None, int]] = []

    async def page(self, after: str | None, limit: int, ctx: RequestContext) -> DirectoryPage:
        self.asked.append((after, limit))
        start = int(after or 0)
        rows = [n for n in self.rows[ctx.partition] if n > start]
        taken = rows[:limit]
        more = len(rows) > limit
        return DirectoryPage([{"uri": f"shelf://{n}", "name": str(n)} for n in taken], str(taken[-1]) if more else None)


async def read_text(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
    return [{"uri": uri, "text": repr(variables)}]


def catalogue_with(shelf: Shelf | None, static: int = 2) -> Catalogue:
    catalogue = Catalogue()
    for n in range(static):
        catalogue.add_resource(Resource(f"static://{n}", f"static {n}", read_text))
    if shelf is not None:
        catalogue.add_directory(shelf)
    return catalogue


async def ready(server: McpServer, partition: str = "aws") -> ServerSession:
    session = ServerSession("sid", "test", partition)
    await initialize(server, session)
    return session


async def list_all(server: McpServer, session: ServerSession) -> list[list[str]]:
    """Every page of resources/list, following nextCursor until there is none."""
    pages, cursor = [], None
    while True:
        reply = await call(server, session, "resources/list", {} if cursor is None else {"cursor": cursor})
        result = reply["result"]
        pages.append([r["uri"] for r in result["resources"]])
        cursor = result.get("nextCursor")
        if cursor is None:
            return pages
        assert len(pages) < 50


async def test_the_catalogues_resources_come_first_then_the_directorys_a_page_at_a_time() -> None:
    shelf = Shelf(7)
    server = McpServer(catalogue_with(shelf), resources_page_size=3)
    pages = await list_all(server, await ready(server))
    assert pages == [
        ["static://0", "static://1", "shelf://1"],
        ["shelf://2", "shelf://3", "shelf://4"],
        ["shelf://5", "shelf://6", "shelf://7"],
    ]
    # The directory is asked for no more than the room left on the page, from where its last page ended.
    assert shelf.asked == [(None, 1), ("1", 3), ("4", 3)]


async def test_one_page_holds_everything_when_it_fits_and_then_has_no_cursor() -> None:
    server = McpServer(catalogue_with(Shelf(3)), resources_page_size=100)
    pages = await list_all(server, await ready(server))
    assert pages == [["static://0", "static://1", "shelf://1", "shelf://2", "shelf://3"]]


async def test_a_catalogue_without_directories_pages_through_its_own_resources() -> None:
    server = McpServer(catalogue_with(None, static=5), resources_page_size=2)
    pages = await list_all(server, await ready(server))
    assert pages == [["static://0", "static://1"], ["static://2", "static://3"], ["static://4"]]


async def test_the_keyset_cursor_survives_rows_coming_and_going() -> None:
    shelf = Shelf(6)
    server = McpServer(catalogue_with(shelf, static=0), resources_page_size=2)
    session = await ready(server)
    first = (await call(server, session, "resources/list"))["result"]
    assert [r["uri"] for r in first["resources"]] == ["shelf://1", "shelf://2"]
    shelf.rows["aws"].remove(3)  # purged between two pages
    shelf.rows["aws"].append(7)  # indexed between two pages
    second = (await call(server, session, "resources/list", {"cursor": first["nextCursor"]}))["result"]
    assert [r["uri"] for r in second["resources"]] == ["shelf://4", "shelf://5"]
    rest = await call(server, session, "resources/list", {"cursor": second["nextCursor"]})
    assert [r["uri"] for r in rest["result"]["resources"]] == ["shelf://6", "shelf://7"]
    assert "nextCursor" not in rest["result"]


async def test_a_directory_lists_per_partition() -> None:
    server = McpServer(catalogue_with(Shelf(4), static=0), resources_page_size=10)
    assert await list_all(server, await ready(server, "aws-cn")) == [["shelf://1001"]]


@pytest.mark.parametrize(
    "cursor",
    ["bogus", "", 5, ["a"], "x" * (MAX_CURSOR_CHARS + 1), "e30.AAAA", "not-base64!.sig"],
    ids=["word", "empty", "number", "list", "too-long", "unsigned", "garbled"],
)
async def test_a_cursor_the_server_did_not_issue_is_invalid_params(cursor: Any) -> None:
    server = McpServer(catalogue_with(Shelf(9)), resources_page_size=2)
    session = await ready(server)
    reply = await call(server, session, "resources/list", {"cursor": cursor})
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert reply["error"]["message"].startswith("Invalid cursor")
    # The server stays correct for the next request.
    assert len((await call(server, session, "resources/list"))["result"]["resources"]) == 2


async def test_a_forged_or_foreign_cursor_is_invalid_params() -> None:
    server = McpServer(catalogue_with(Shelf(9)), resources_page_size=2)
    session = await ready(server)
    cursor = (await call(server, session, "resources/list"))["result"]["nextCursor"]
    body, _, mac = cursor.rpartition(".")
    tampered = f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{mac}"
    # Another fleet's key (or another deployment's): its cursors are not ours.
    other = McpServer(catalogue_with(Shelf(9)), resources_page_size=2, cursors=HmacCodec(b"k" * 32))
    foreign = (await call(other, await ready(other), "resources/list"))["result"]["nextCursor"]
    for bad in (tampered, foreign, cursor + "x"):
        reply = await call(server, session, "resources/list", {"cursor": bad})
        assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS, bad
    # A cursor of another partition, or sealed for another purpose, is refused too.
    china = await ready(server, "aws-cn")
    assert (await call(server, china, "resources/list", {"cursor": cursor}))["error"]["code"] == jsonrpc.INVALID_PARAMS
    sealed = server.cursors.seal({"list": "prompts", "partition": "aws", "stage": "", "after": None})
    assert (await call(server, session, "resources/list", {"cursor": sealed}))["error"]["code"] == (
        jsonrpc.INVALID_PARAMS
    )


async def test_a_stale_cursor_is_invalid_params() -> None:
    catalogue = catalogue_with(Shelf(9), static=0)
    server = McpServer(catalogue, resources_page_size=2)
    session = await ready(server)
    cursor = (await call(server, session, "resources/list"))["result"]["nextCursor"]
    catalogue.directories.clear()  # the directory it points into is gone (another version of the server)
    reply = await call(server, session, "resources/list", {"cursor": cursor})
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS and "list again" in reply["error"]["message"]


async def test_a_position_the_directory_cannot_read_is_invalid_params() -> None:
    server = McpServer(catalogue_with(Shelf(9), static=0), resources_page_size=2)
    session = await ready(server)
    sealed = server.cursors.seal({"list": "resources", "partition": "aws", "stage": "shelf", "after": "ten"})
    reply = await call(server, session, "resources/list", {"cursor": sealed})
    assert reply["error"]["code"] == jsonrpc.INVALID_PARAMS


@pytest.mark.parametrize("size", [0, -1, MAX_RESOURCES_PAGE_SIZE + 1])
def test_the_page_size_is_bounded(size: int) -> None:
    with pytest.raises(ValueError, match="MCP_RESOURCES_PAGE_SIZE must be between 1 and 1000"):
        McpServer(Catalogue(), resources_page_size=size)


async def test_the_largest_page_size_is_taken_and_filled() -> None:
    server = McpServer(catalogue_with(Shelf(MAX_RESOURCES_PAGE_SIZE + 5), static=0), resources_page_size=1000)
    pages = await list_all(server, await ready(server))
    assert [len(page) for page in pages] == [1000, 5]


async def test_a_page_size_of_one() -> None:
    server = McpServer(catalogue_with(Shelf(2), static=1), resources_page_size=1)
    assert await list_all(server, await ready(server)) == [["static://0"], ["shelf://1"], ["shelf://2"]]


def test_a_directory_name_is_registered_once() -> None:
    catalogue = catalogue_with(Shelf(1))
    with pytest.raises(ValueError, match="already registered"):
        catalogue.add_directory(Shelf(2))


# --- templates ------------------------------------------------------------------------------------------------


def test_a_reserved_expansion_spans_segments_and_a_simple_one_does_not() -> None:
    docs = template_pattern("https://docs.aws.amazon.com/{+path}")
    found = docs.match("https://docs.aws.amazon.com/lambda/latest/dg/welcome.html#anchor")
    assert found is not None and found.groupdict() == {"path": "lambda/latest/dg/welcome.html#anchor"}
    assert docs.match("https://docs.aws.amazon.com/") is None
    assert docs.match("https://docs.aws.amazon.com/a b.html") is None  # no whitespace in a URI
    assert docs.match("https://docs.aws.amazon.com.evil.example/x.html") is None
    assert docs.match("https://evil.example/https://docs.aws.amazon.com/x.html") is None
    simple = template_pattern("test://template/{id}/data")
    assert simple.match("test://template/42/data") is not None
    assert simple.match("test://template/4/2/data") is None
    both = template_pattern("repo://{owner}/{+file}")
    found = both.match("repo://me/src/a.py")
    assert found is not None and found.groupdict() == {"owner": "me", "file": "src/a.py"}


@pytest.mark.parametrize(
    "template",
    ["x://{?q}", "x://{#frag}", "x://{a,b}", "x://{a*}", "x://{/p}", "x://{}", "x://a{b", "x://{a}/{a}", "x://{a\n}"],
)
def test_a_template_expression_it_cannot_match_is_refused_at_start_up(template: str) -> None:
    with pytest.raises(ValueError):
        ResourceTemplate(template, "t", read_text)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("repo://{+dir}/{+file}.py", "at most one {+var}"),
        ("repo://{+dir}/x/{name}/{+file}", "at most one {+var}"),
        ("x://{a}{b}", "needs a '/' between"),
        ("x://{a}.{b}.html", "needs a '/' between"),
        ("x://{+path}.{ext}", "needs a '/' between"),
        ("x://{a}-{+rest}", "needs a '/' between"),
    ],
)
def test_a_template_that_would_match_slowly_is_refused_at_start_up(template: str, reason: str) -> None:
    """Each of these would try every split of a long segment (quadratic): seconds for a few kilobytes."""
    with pytest.raises(ValueError, match=re.escape(reason)):
        ResourceTemplate(template, "t", read_text)


@pytest.mark.parametrize(
    ("template", "uri"),
    [
        ("x://{a}/{b}/{c}.html", "x://" + "a." * 500_000),  # a segment of a megabyte
        ("x://{a}/{b}/{c}.html", "x://" + "a/" * 500_000),  # half a million segments
        ("x://{+path}/{b}/{c}.html", "x://" + "a/" * 500_000),
        ("x://{+path}/{b}/{c}.html", "x://" + "a." * 500_000 + "/b/c.htm"),
        ("x://{a}/{+path}.py", "x://" + "a/" * 500_000),
    ],
)
def test_the_templates_accepted_match_in_linear_time(template: str, uri: str) -> None:
    """A megabyte against the matcher itself, past the URI bound: milliseconds when linear, hours were it quadratic
    (the suite's timeout would fail it)."""
    assert ResourceTemplate(template, "t", read_text).match(uri) is None


def test_a_value_holds_no_control_character_and_no_final_newline() -> None:
    simple = ResourceTemplate("test://template/{id}/data", "t", read_text)
    reserved = ResourceTemplate("https://docs.example/{+path}", "t", read_text)
    assert simple.match("test://template/42/data") == {"id": "42"}
    for uri in ("test://template/42/data\n", "test://template/4\n2/data", "test://template/4\x012/data"):
        assert simple.match(uri) is None, uri
        assert template_pattern(simple.uri_template).match(uri) is None, uri
    for uri in ("https://docs.example/a.html\n", "https://docs.example/a\x7f.html", "https://docs.example/a\tb"):
        assert reserved.match(uri) is None, uri


async def test_a_uri_past_the_bound_is_refused_without_matching_or_echoing_it() -> None:
    catalogue = Catalogue()
    catalogue.add_template(ResourceTemplate("x://{+path}", "x", read_text))
    server = McpServer(catalogue)
    session = await ready(server)
    at_bound = "x://" + "a" * (MAX_URI_CHARS - 4)
    assert catalogue.resource_for(at_bound) is not None
    assert catalogue.resource_for(at_bound + "a") is None  # the scope check looks it up this way too
    reply = await call(server, session, "resources/read", {"uri": at_bound})
    assert reply["result"]["contents"][0]["uri"] == at_bound
    for uri in (at_bound + "a", "x://" + "a/" * 500_000):
        for meta in ({}, {"_meta": MODERN_META}):
            error = (await call(server, session, "resources/read", {"uri": uri, **meta}))["error"]
            assert error == {
                "code": jsonrpc.INVALID_PARAMS,
                "message": f"The URI is longer than {MAX_URI_CHARS} characters: no resource has one that long",
            }


async def test_resources_read_through_a_reserved_template() -> None:
    catalogue = Catalogue()
    catalogue.add_template(ResourceTemplate("https://docs.example/{+path}", "docs", read_text))
    server = McpServer(catalogue)
    session = await ready(server)
    reply = await call(server, session, "resources/read", {"uri": "https://docs.example/a/b/c.html"})
    assert reply["result"]["contents"][0]["text"] == "{'path': 'a/b/c.html'}"
    off = await call(server, session, "resources/read", {"uri": "https://elsewhere.example/a.html"})
    assert off["error"]["code"] == jsonrpc.RESOURCE_NOT_FOUND


# --- what a reader answers ------------------------------------------------------------------------------------


async def read_cached(uri: str, variables: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    return {"contents": [{"uri": uri, "text": "page"}], "ttlMs": 1234, "cacheScope": "public", "stray": True}


async def test_a_readers_cache_hints_reach_a_2026_client_and_no_earlier_one() -> None:
    catalogue = Catalogue()
    catalogue.add_resource(Resource("page://one", "one", read_cached))
    catalogue.add_resource(Resource("page://plain", "plain", read_text))
    server = McpServer(catalogue)
    modern = await call(
        server, ServerSession("m", "test", "aws"), "resources/read", {"uri": "page://one", "_meta": MODERN_META}
    )
    assert modern["result"] == {
        "contents": [{"uri": "page://one", "text": "page"}],
        "ttlMs": 1234,
        "cacheScope": "public",
        "resultType": "complete",
    }
    # A reader that answers only its contents gets the revision's defaults for resources/read.
    plain = await call(
        server, ServerSession("m", "test", "aws"), "resources/read", {"uri": "page://plain", "_meta": MODERN_META}
    )
    assert plain["result"]["ttlMs"] == 0 and plain["result"]["cacheScope"] == "private"
    legacy = await call(server, await ready(server), "resources/read", {"uri": "page://one"})
    assert legacy["result"] == {"contents": [{"uri": "page://one", "text": "page"}]}


async def read_public(server: McpServer, uri: str, partition: str = "aws") -> Any:
    reply = await call(
        server, ServerSession("m", "test", partition), "resources/read", {"uri": uri, "_meta": MODERN_META}
    )
    return reply["result"]["cacheScope"]


async def test_what_needs_a_scope_to_read_is_never_public_whatever_the_reader_says() -> None:
    """A public answer may be served across authorization contexts: a client without the scope would get it."""
    catalogue = Catalogue()
    catalogue.add_resource(Resource("page://open", "open", read_cached))
    catalogue.add_resource(Resource("page://scoped", "scoped", read_cached, scopes=("docs:read",)))
    catalogue.add_resource(Resource("page://china", "china", read_cached, partition="aws-cn"))
    catalogue.add_template(ResourceTemplate("tpl://{+path}", "tpl", read_cached, scopes=("docs:read",)))
    open_server = McpServer(catalogue)
    assert await read_public(open_server, "page://open") == "public"
    assert await read_public(open_server, "page://china") == "public"  # no partition scopes configured
    assert await read_public(open_server, "page://scoped") == "private"
    assert await read_public(open_server, "tpl://a/b") == "private"
    restricted = McpServer(
        catalogue, partition_scopes=lambda partition: frozenset({"docs:cn"}) if partition == "aws-cn" else frozenset()
    )
    assert await read_public(restricted, "page://china") == "private"  # its data's partition needs docs:cn
    assert await read_public(restricted, "page://open") == "public"
    assert await read_public(restricted, "page://open", "aws-cn") == "private"  # the connection needed docs:cn


async def test_a_2026_resources_list_page_carries_the_lists_cache_hints() -> None:
    server = McpServer(catalogue_with(Shelf(3)), resources_page_size=2)
    reply = await call(server, ServerSession("m", "test", "aws"), "resources/list", {"_meta": MODERN_META})
    result = reply["result"]
    assert result["cacheScope"] == "public" and result["ttlMs"] == 60_000 and "nextCursor" in result


class Overfull(Shelf):
    """A directory that gives more than it is asked for (a bug): its position is past entries a page has no room
    for, so cutting the page would lose them."""

    async def page(self, after: str | None, limit: int, ctx: RequestContext) -> DirectoryPage:
        page = await super().page(after, limit + 1, ctx)
        return DirectoryPage(page.resources, page.after)


async def test_a_directory_giving_more_than_the_room_left_is_an_internal_error_not_a_lossy_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = McpServer(catalogue_with(Overfull(20)), resources_page_size=3)
    reply = await call(server, await ready(server), "resources/list")
    assert reply["error"] == {"code": jsonrpc.INTERNAL_ERROR, "message": "Internal error"}
    assert "resource directory 'shelf' gave 2 entries, not 1" in caplog.text  # the room after two static ones


def test_a_directory_without_a_name_is_refused() -> None:
    """Its cursors would name the stage of the catalogue's own resources."""
    nameless = Shelf(1)
    nameless.name = ""
    with pytest.raises(ValueError, match="needs a name"):
        Catalogue().add_directory(nameless)


async def read_no_contents(uri: str, variables: dict[str, str], ctx: RequestContext) -> Any:
    return {"ttlMs": 5, "cacheScope": "public"}


async def read_a_string(uri: str, variables: dict[str, str], ctx: RequestContext) -> Any:
    return "text"


async def test_a_reader_answering_no_contents_list_is_an_internal_error() -> None:
    catalogue = Catalogue()
    catalogue.add_resource(Resource("page://empty", "empty", read_no_contents))
    catalogue.add_resource(Resource("page://string", "string", read_a_string))
    server = McpServer(catalogue)
    session = await ready(server)
    for uri in ("page://empty", "page://string"):
        for meta in ({}, {"_meta": MODERN_META}):
            reply = await call(server, session, "resources/read", {"uri": uri, **meta})
            assert reply["error"] == {"code": jsonrpc.INTERNAL_ERROR, "message": "Internal error"}, uri


@pytest.mark.parametrize("size", [0, MAX_RESOURCES_PAGE_SIZE + 1])
def test_a_page_size_out_of_bounds_stops_the_start(settings: Settings, size: int) -> None:
    """Checked as the gateway app starts: the server itself is built on the first request, too late."""
    settings.MCP_RESOURCES_PAGE_SIZE = size
    with pytest.raises(ImproperlyConfigured, match=f"MCP_RESOURCES_PAGE_SIZE must be between 1 and 1000, not {size}"):
        apps.get_app_config("mcp_gateway").ready()


class Broken(Shelf):
    async def page(self, after: str | None, limit: int, ctx: RequestContext) -> DirectoryPage:
        raise ValueError("the table is not there")


async def test_a_directory_failing_without_a_cursor_is_an_internal_error_not_a_bad_cursor() -> None:
    server = McpServer(catalogue_with(Broken(1), static=0))
    reply = await call(server, await ready(server), "resources/list")
    assert reply["error"] == {"code": jsonrpc.INTERNAL_ERROR, "message": "Internal error"}
