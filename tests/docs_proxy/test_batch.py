"""read_documentation_batch end to end: a real Daphne, the SDK client, the fixture origin, both partitions."""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
from django.test import override_settings
from mcp.client.session import ClientSession

from docs_proxy.batch import batch_schema
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


def test_the_page_bound_is_a_setting() -> None:
    with override_settings(DOCS_BATCH_MAX_PAGES=3):
        assert batch_schema("u")["properties"]["requests"]["maxItems"] == 3
    assert batch_schema("u")["properties"]["requests"]["maxItems"] == 10
