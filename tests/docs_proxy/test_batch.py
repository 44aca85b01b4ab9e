"""read_documentation_batch end to end: a real Daphne, the SDK client, the fixture origin, both partitions."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from django.test import override_settings
from mcp.client.session import ClientSession

from docs_proxy import batch as batch_module
from docs_proxy import tokens, tools
from docs_proxy.addresses import DocAddress, parse_doc_url
from docs_proxy.batch import batch_schema, max_pages
from docs_proxy.page import Page
from tests.docs_proxy.test_paging_chunks import page
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer
from tests.support.witness import Witness, while_witnessed

PUBLIC = "https://docs.aws.amazon.com"
RDS_PATH = "/AmazonRDS/latest/UserGuide/Welcome.html"
RDS = PUBLIC + RDS_PATH
AUTHZ = f"{PUBLIC}/service-authorization/latest/reference/list_awsaccountmanagement.html"
CN_S3 = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"
CN_SERVICES = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/services.html"
BATCH = "read_documentation_batch"


def texts(result: Any) -> list[str]:
    return [c.text for c in result.content if c.type == "text"]


async def batch(session: ClientSession, *requests: dict[str, Any]) -> Any:
    return await session.call_tool(BATCH, {"requests": list(requests)})


async def single(session: ClientSession, **arguments: Any) -> str:
    result = await session.call_tool("read_documentation", arguments)
    assert not result.is_error, texts(result)
    return "\n".join(texts(result))


async def test_each_page_reads_as_read_documentation_does(docs_server: DaphneServer) -> None:
    requests: list[dict[str, Any]] = [
        {"url": RDS, "max_length": 600},
        {"url": AUTHZ, "max_tokens": 150},
        {"url": RDS, "max_length": 400, "start_index": 1000},
        {"url": RDS + "#Welcome.Concepts.comparison", "max_length": 300},
        {"url": "/lambda/latest/dg/"},  # root-relative, a guide's directory: its start page
    ]
    async with open_session(docs_server, "streamable-http") as session:
        result = await batch(session, *requests)
        expected = [await single(session, **request) for request in requests]
        listed = {t.name: t for t in (await session.list_tools()).tools}
    assert not result.is_error
    assert texts(result) == expected
    assert all(text.startswith(f"AWS Documentation from {PUBLIC}/") for text in expected[:3])
    assert expected[4].startswith(f"<e>Requested {PUBLIC}/lambda/latest/dg/; served ")  # the single read's notes too
    schema = listed[BATCH].output_schema
    assert schema is not None
    jsonschema.validate(result.structured_content, schema)
    pages = result.structured_content["pages"]
    assert [p["url"] for p in pages] == [r["url"] for r in requests]
    assert [p["status"] for p in pages] == ["ok"] * 5 and all(p["error"] is None for p in pages)
    assert pages[4]["served_url"].endswith("/lambda/latest/dg/lambda-python-how-to-create-deployment-package.html")


async def test_a_page_asked_for_twice_is_fetched_once(docs_server: DaphneServer, origin: OriginServer) -> None:
    tag = uuid.uuid4().hex
    path, other = f"/copies/{tag}{RDS_PATH}", f"/copies/{tag}-b{RDS_PATH}"
    async with open_session(docs_server, "websocket") as session:
        result = await batch(
            session,
            {"url": PUBLIC + path, "max_length": 300},
            {"url": PUBLIC + other, "max_length": 300},
            {"url": PUBLIC + path, "max_length": 300, "start_index": 300},
            {"url": PUBLIC + path + "#Welcome.Concepts", "max_length": 300},
        )
    assert not result.is_error and len(texts(result)) == 4
    assert (origin.hits(path), origin.hits(other)) == (1, 1)
    first, _other, second, _anchored = texts(result)
    assert first != second and "start_index=300" not in second  # the second chunk, not the first again


async def test_one_failing_page_does_not_fail_the_others(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "sse") as session:
        result = await batch(
            session,
            {"url": RDS, "max_length": 200},
            {"url": "https://example.com/page.html"},
            {"url": f"{PUBLIC}/test/missing.html"},
            {"url": f"{PUBLIC}/test/binary.html"},
            {"url": AUTHZ, "max_length": 200},
        )
        all_bad = await batch(session, {"url": "https://example.com/a.html"}, {"url": f"{PUBLIC}/test/missing.html"})
    assert not result.is_error
    blocks = texts(result)
    assert blocks[0].startswith(f"AWS Documentation from {RDS}:")
    assert blocks[1].startswith("Failed to read https://example.com/page.html: ") and "not an AWS" in blocks[1]
    assert blocks[2].startswith(f"Failed to read {PUBLIC}/test/missing.html: ") and "Page not found" in blocks[2]
    assert blocks[3].startswith(f"Failed to read {PUBLIC}/test/binary.html: ") and "not an HTML page" in blocks[3]
    assert blocks[4].startswith(f"AWS Documentation from {AUTHZ}:")
    pages = result.structured_content["pages"]
    assert [p["status"] for p in pages] == ["ok", "error", "error", "error", "ok"]
    assert pages[1]["error"] in blocks[1] and pages[1]["served_url"] is None
    assert all_bad.is_error and [p["status"] for p in all_bad.structured_content["pages"]] == ["error", "error"]


async def test_the_china_partition(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http", query="partition=aws-cn") as session:
        result = await batch(session, {"url": CN_S3}, {"url": RDS}, {"url": CN_SERVICES, "max_length": 300})
        alone = await single(session, url=CN_S3)
    assert not result.is_error
    s3, aws, services = texts(result)
    assert s3 == alone and "# Amazon S3 in the China Regions" in s3
    assert aws.startswith(f"Failed to read {RDS}: ") and "partition" in aws
    assert services.startswith(f"AWS Documentation from {CN_SERVICES}:")


async def test_hostile_batches_are_refused_and_the_server_stays_up(docs_server: DaphneServer) -> None:
    cases: list[tuple[Any, str]] = [
        ([{"url": RDS}] * 11, "has more than 10 items"),
        ([], "requests"),
        ("not a list", "requests"),
        ([{"url": RDS, "max_length": 1_000_000}], "max_length"),
        ([{"url": RDS, "start_index": -1}], "start_index"),
        ([{"url": RDS, "max_tokens": 100_001}], "max_tokens"),
        ([{"url": RDS}, {"url": PUBLIC + "/" + "a" * 5000 + ".html"}], "is longer than 2048 characters"),
        ([{"max_length": 10}], "url"),
    ]
    async with Witness(docs_server) as witness, open_session(docs_server, "streamable-http") as session:
        for requests, expected in cases:
            result = await session.call_tool(BATCH, {"requests": requests})
            assert result.is_error, requests if len(str(requests)) < 300 else expected
            assert expected in "\n".join(texts(result))
            assert len("\n".join(texts(result))) < 2000
        ten = await batch(session, *([{"url": RDS, "max_length": 100}] * 10))
        assert not ten.is_error and len(texts(ten)) == 10
        await while_witnessed(witness, answers=2)
    assert witness.answered >= 2
    assert docs_server.alive()


def test_the_page_bound_is_a_setting_taken_within_1_to_50() -> None:
    with override_settings(DOCS_BATCH_MAX_PAGES=3):
        assert batch_schema("u")["properties"]["requests"]["maxItems"] == 3
    assert batch_schema("u")["properties"]["requests"]["maxItems"] == 10
    for setting, taken in ((0, 1), (-5, 1), (50, 50), (100_000, 50)):
        with override_settings(DOCS_BATCH_MAX_PAGES=setting):
            assert max_pages() == taken
            assert batch_schema("u")["properties"]["requests"]["maxItems"] == taken


async def test_the_answer_is_bounded_by_the_batch_character_budget(docs_server: DaphneServer) -> None:
    """Ten whole copies of a 23,000-character page would be 230,000 characters: the default budget, 200,000, is
    spent in request order, the page reaching it is clipped (saying so, with where to go on), the last not read."""
    async with open_session(docs_server, "streamable-http") as session:
        result = await batch(session, *([{"url": RDS, "max_length": 999_999}] * 10))
        listed = {t.name: t for t in (await session.list_tools()).tools}
    assert "share 200,000 characters" in (listed[BATCH].description or "")
    blocks = texts(result)
    pages = result.structured_content["pages"]
    whole = blocks[0]
    assert "Content truncated" not in whole
    full = [i for i, b in enumerate(blocks) if b == whole]
    clipped = len(full)
    assert full == list(range(clipped)) and 0 < clipped < 10
    assert blocks[clipped].startswith("<e>Clipped by this batch's budget: its pages share 200,000 characters")
    assert "Call the read_documentation tool with start_index=" in blocks[clipped]
    assert pages[clipped]["clipped"] is True and pages[clipped]["status"] == "ok"
    assert not any(p["clipped"] for p in pages[:clipped])
    assert all(
        b.startswith(f"Failed to read {RDS}: not read: this batch's earlier pages") for b in blocks[clipped + 1 :]
    )
    assert sum(len(b) for b in blocks[: clipped + 1]) <= 200_000 + 1000  # the clipped block's note and hint
    assert clipped + 1 < 10 and not result.is_error


@pytest.fixture
def fixture_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """read_documentation_batch in this process on the fixture pages, without an origin."""

    async def get_page(address: DocAddress) -> Page:
        url = address.url.split("#")[0]
        served = parse_doc_url(url, "aws")
        return Page(served, served, page(url), 0.0, 0.0)

    monkeypatch.setattr(batch_module, "get_page", get_page)


async def in_process(*requests: dict[str, Any]) -> dict[str, Any]:
    context = SimpleNamespace(partition="aws")
    return await batch_module.read_documentation_batch({"requests": list(requests)}, context)  # type: ignore[arg-type]


def blocks_of(result: dict[str, Any]) -> list[str]:
    return [c["text"] for c in result["content"]]


@pytest.mark.usefixtures("fixture_pages")
async def test_the_character_budget_is_a_setting() -> None:
    with override_settings(DOCS_BATCH_MAX_CHARS=3000):
        result = await in_process(
            {"url": AUTHZ, "max_length": 1500}, {"url": RDS, "max_length": 5000}, {"url": RDS, "start_index": 9000}
        )
    first, second, third = blocks_of(result)
    assert first.startswith(f"AWS Documentation from {AUTHZ}:") and "Clipped" not in first
    assert second.startswith("<e>Clipped by this batch's budget: its pages share 3,000 characters")
    assert len(first) + len(second) < 3000 + 2000  # the clipped block's note and its contents to come
    assert third.startswith(f"Failed to read {RDS}: not read")
    assert [p["clipped"] for p in result["structuredContent"]["pages"]] == [False, True, False]
    with override_settings(DOCS_BATCH_MAX_CHARS=100_000):  # room for all: exactly the single reads
        roomy = await in_process({"url": AUTHZ, "max_length": 1500}, {"url": RDS, "max_length": 5000})
    assert blocks_of(roomy)[0] == first and "Clipped" not in blocks_of(roomy)[1]


@pytest.mark.usefixtures("fixture_pages")
async def test_the_token_budget_is_a_setting() -> None:
    with override_settings(DOCS_BATCH_MAX_TOKENS=500):
        result = await in_process(
            {"url": RDS, "max_tokens": 300},
            {"url": AUTHZ, "max_length": 2000},  # no max_tokens: the character budget only
            {"url": RDS, "start_index": 5000, "max_tokens": 300},
            {"url": AUTHZ, "max_tokens": 100},
        )
    first, untokened, second, third = blocks_of(result)
    assert "Clipped" not in first and "Clipped" not in untokened
    assert second.startswith("<e>Clipped by this batch's budget") and "50,000" not in second
    body = second[second.index("AWS Documentation from") :]
    assert tokens.count(body) < 300
    assert third.startswith(f"Failed to read {AUTHZ}: not read")


@pytest.mark.usefixtures("fixture_pages")
async def test_an_error_cutting_one_page_fails_that_page_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cut = tools._read_answer

    def failing(url: str, *args: Any) -> str:
        if url == AUTHZ:
            raise RuntimeError("a bug in cutting this page")
        return cut(url, *args)

    monkeypatch.setattr(tools, "_read_answer", failing)
    result = await in_process({"url": RDS, "max_length": 300}, {"url": AUTHZ}, {"url": AUTHZ, "max_tokens": 50})
    ok, failed, failed_in_pool = blocks_of(result)
    assert ok.startswith(f"AWS Documentation from {RDS}:")
    assert failed == f"Failed to read {AUTHZ}: {batch_module.UNEXPECTED}" == failed_in_pool
    assert [p["status"] for p in result["structuredContent"]["pages"]] == ["ok", "error", "error"]
    assert "isError" not in result
