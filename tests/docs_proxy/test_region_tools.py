"""list_regions and get_regional_availability end to end: a real Daphne, the SDK client, both partitions."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import jsonschema
import pytest
from mcp.client.session import ClientSession

from docs_proxy import region_tools, regions
from docs_proxy.regions import EndpointData
from tests.support.clients import open_session
from tests.support.processes import DaphneServer
from tests.support.witness import Witness, while_witnessed

CN = "partition=aws-cn"


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def structured(session: ClientSession, tool: str, **arguments: Any) -> tuple[dict[str, Any], str]:
    """The call's structuredContent, checked against the tool's listed outputSchema, and its text."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    listed = {t.name: t for t in (await session.list_tools()).tools}
    schema = listed[tool].output_schema
    assert schema is not None and result.structured_content is not None
    jsonschema.validate(result.structured_content, schema)
    return result.structured_content, text_of(result)


async def test_the_tools_are_listed_in_both_partitions_and_say_what_the_data_means(docs_server: DaphneServer) -> None:
    for query in ("", CN):
        async with open_session(docs_server, "streamable-http", query=query) as session:
            listed = {t.name: t for t in (await session.list_tools()).tools}
        availability = listed["get_regional_availability"]
        assert "an endpoint for the service exists there" in availability.description
        assert "does not say whether a feature" in availability.description
        assert availability.input_schema["properties"]["service"]["maxLength"] == 500
        for name in ("list_regions", "get_regional_availability"):
            hints = listed[name].annotations
            assert hints is not None and hints.read_only_hint is True and hints.open_world_hint is False


async def test_list_regions_in_each_partition(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        aws, text = await structured(session, "list_regions")
        china_from_aws, _text = await structured(session, "list_regions", partition="aws-cn")
    assert aws["partition"] == "aws" and aws["source"].startswith("botocore 1.")
    codes = {r["code"]: r for r in aws["regions"]}
    assert codes["us-east-1"] == {"code": "us-east-1", "name": "US East (N. Virginia)", "endpoint_data": True}
    assert "eu-central-1" in codes and "aws-global" not in codes and "cn-north-1" not in codes
    assert "- us-east-1: US East (N. Virginia)" in text
    async with open_session(docs_server, "sse", query=CN) as session:
        china, text = await structured(session, "list_regions")
    assert china == china_from_aws
    assert china["partition"] == "aws-cn" and china["partition_name"] == "AWS China"
    assert [r["code"] for r in china["regions"]] == ["cn-north-1", "cn-northwest-1"]
    assert "- cn-north-1: China (Beijing)" in text


async def test_availability_in_the_china_partition(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "websocket", query=CN) as session:
        lambda_, text = await structured(session, "get_regional_availability", service="AWS Lambda", region="Beijing")
        bedrock, bedrock_text = await structured(
            session, "get_regional_availability", service="Amazon Bedrock", region="cn-northwest-1"
        )
    assert lambda_["partition"] == "aws-cn" and lambda_["service"]["endpoint_prefix"] == "lambda"
    assert [r["code"] for r in lambda_["regions"]] == ["cn-north-1", "cn-northwest-1"]
    assert lambda_["region"] == {"code": "cn-north-1", "name": "China (Beijing)", "offered": True}
    assert "Region cn-north-1 (China (Beijing)): yes, an endpoint exists there." in text
    assert bedrock["endpoint_data"] is True and bedrock["regions"] == []
    assert bedrock["region"]["offered"] is False
    assert "no endpoint there" in bedrock_text


async def test_availability_in_the_aws_partition(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        states, text = await structured(
            session, "get_regional_availability", service="Step Functions", region="Europe (Frankfurt)"
        )
        iam, iam_text = await structured(session, "get_regional_availability", service="IAM", region="eu-west-1")
        runtime, runtime_text = await structured(session, "get_regional_availability", service="Bedrock Runtime")
        china, _text = await structured(session, "get_regional_availability", service="S3", partition="aws-cn")
        inspector, inspector_text = await structured(
            session, "get_regional_availability", service="Amazon Inspector", region="Zürich"
        )
        classic, _text = await structured(session, "get_regional_availability", service="Inspector Classic")
        support, support_text = await structured(
            session, "get_regional_availability", service="AWS Support", region="Virginia"
        )
    assert inspector["service"]["endpoint_prefix"] == "inspector2"
    assert inspector["region"] == {"code": "eu-central-2", "name": "Europe (Zurich)", "offered": True}
    assert inspector["older_generation"] == {
        "name": "Amazon Inspector", "endpoint_prefix": "inspector", "ask_as": "Inspector Classic"}  # fmt: skip
    assert 'the older one, Amazon Inspector (endpoint prefix inspector), also exists: ask for "Inspector Classic"' in (
        inspector_text
    )
    assert classic["service"]["endpoint_prefix"] == "inspector" and len(classic["regions"]) < len(inspector["regions"])
    assert support["global_endpoint_region"] == "us-east-1" and support["region"]["code"] == "us-east-1"
    assert support["region"]["offered"] is True and "a global service" in support_text
    assert states["service"] == {"name": "AWS Step Functions", "service_id": "SFN", "endpoint_prefix": "states"}
    assert states["region"] == {"code": "eu-central-1", "name": "Europe (Frankfurt)", "offered": True}
    assert "us-east-1" in {r["code"] for r in states["regions"]}
    assert "an endpoint exists in" in text and "does not say whether a feature" in text
    assert iam["global_endpoint_region"] == "us-east-1" and iam["region"]["offered"] is True
    assert "a global service" in iam_text
    assert "Region eu-west-1 (Europe (Ireland)): yes: the partition-wide (global) endpoint serves it." in iam_text
    assert states["older_generation"] is None
    assert runtime["endpoint_data"] is False and runtime["regions"] == []
    assert "cannot tell where the service runs" in runtime_text
    assert china["partition"] == "aws-cn" and [r["code"] for r in china["regions"]] == ["cn-north-1", "cn-northwest-1"]


async def test_misses_and_hostile_arguments_get_clear_errors(docs_server: DaphneServer) -> None:
    async with Witness(docs_server) as witness, open_session(docs_server, "streamable-http") as session:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"service": "Cognito"}, "Amazon Cognito Identity Provider (cognito-idp)"),
            ({"service": "Lambdaa"}, "Close names: AWS Lambda (lambda)"),
            ({"service": "   "}, "service cannot be empty"),
            ({"service": ""}, "service"),  # minLength
            ({"service": "x" * 501}, "is longer than 500 characters"),
            ({"service": "y" * 500}, "No AWS service is named 'yyyy"),
            ({"service": "Lambda", "region": "us-east-3"}, "us-east-2 (US East (Ohio))"),
            ({"service": "Lambda", "region": "cn-north-1"}, "is in the aws-cn partition"),
            ({"service": "Lambda", "region": "Beijing"}, "is in the aws-cn partition (AWS China: cn-north-1"),
            ({"service": "Lambda", "region": "GovCloud West"}, 'pass partition="aws-us-gov"'),
            ({"service": "Lambda", "region": "Europe"}, "8 Regions of the aws partition match 'Europe'"),
            ({"service": "Marketplace"}, "names several AWS services with different endpoints and Regions: "),
            ({"service": "Lex"}, "Amazon Lex Model Building V2 (models-v2-lex)"),
            ({"service": "Lambda", "region": "z" * 400}, "No region 'zzzz"),
            ({"service": "Lambda", "partition": "aws-mars"}, "partition"),
            ({"service": {"$ne": 1}}, "service"),
        ]
        for arguments, expected in cases:
            result = await session.call_tool("get_regional_availability", arguments)
            assert result.is_error, arguments
            message = text_of(result)
            assert expected in message, (arguments, message)
            assert len(message) < 2000, arguments  # a 500-character name is not echoed whole
        still = await session.call_tool("get_regional_availability", {"service": "lambda", "region": "us-east-1"})
        assert not still.is_error and still.structured_content["region"]["offered"] is True
        await while_witnessed(witness, answers=2)
    assert witness.answered >= 2
    assert docs_server.alive()


async def test_concurrent_first_calls_share_one_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first calls together read the data once, in one pool thread; a failed read is tried again later."""
    data = regions.load()
    threads: list[str] = []
    release = threading.Event()

    def load() -> EndpointData:
        threads.append(threading.current_thread().name)
        release.wait(30)  # until every first call waits for it
        if len(threads) == 1:
            raise OSError("botocore's data unreadable")
        return data

    monkeypatch.setattr(regions, "_loaded", None)
    monkeypatch.setattr(regions, "load", load)
    monkeypatch.setattr(region_tools, "_loading", None)
    first = asyncio.gather(*(region_tools.endpoint_data() for _ in range(6)), return_exceptions=True)
    await asyncio.sleep(0)  # each call has started and awaits the data
    release.set()
    failed = await first
    assert all(isinstance(f, OSError) for f in failed) and len(threads) == 1
    answers = await asyncio.gather(*(region_tools.endpoint_data() for _ in range(6)))
    assert all(a is data for a in answers)
    assert len(threads) == 2 and all(name.startswith("awsmcp-cpu") for name in threads)
