"""`list_regions` and `get_regional_availability`: AWS Regions and where a service has an endpoint, offline.

The data is botocore's endpoint files (docs_proxy.regions), loaded on the first call in a pool thread; the tools
are offered in both partitions and default to the session's, with a `partition` argument to ask about another
("is Bedrock in China?" from an aws session).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from django.conf import settings

from awsmcp.pools import pool, run_in
from docs_proxy import regions
from docs_proxy.regions import Availability, EndpointData, Partition, Unknown
from mcp_gateway.catalogue import Catalogue, Tool, ToolError
from mcp_gateway.context import RequestContext

# The partitions an argument may name: the two this server's documentation covers, and GovCloud, whose docs are
# public too. The isolated partitions are left out.
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
QUOTED_CHARS = 80  # of a rejected name, echoed in an error
OFFLINE_READ_ONLY = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}
READ_SCOPES = ("docs:read",)

SOURCE_NOTE = "From the endpoint data botocore (the AWS SDK for Python) ships, read on this server without calling AWS."
MEANING = (
    "A Region offers a service when an endpoint for the service exists there. This does not say whether a "
    "feature, instance type, model or quota of the service is available in a Region: the service's documentation "
    "says that."
)

LIST_REGIONS_DESCRIPTION = (
    "List the AWS Regions of a partition: each Region's code (us-east-1) and name (US East (N. Virginia)). "
    "Without `partition`, the partition of this connection (aws, or aws-cn for the China Regions). "
    + SOURCE_NOTE
    + " Regions newer than that data are listed with `endpoint_data: false`: get_regional_availability cannot "
    "answer for them."
)

AVAILABILITY_DESCRIPTION = (
    "Which AWS Regions offer a service, and, given `region`, whether that Region does. "
    + SOURCE_NOTE
    + " "
    + MEANING
    + ' Services accepted as written: "Lambda", "AWS Lambda", "Amazon S3", "Simple Storage Service", '
    '"Step Functions", or an endpoint prefix ("states"); `region` as a code or a name ("eu-central-1", '
    '"Frankfurt"). A name an older and a newer generation share ("Amazon Inspector", "CloudHSM", "WAF") answers '
    'for the newer one; add "Classic" for the older. A global service (IAM, Route 53, CloudFront) has one endpoint for the whole partition. For '
    "services whose endpoints botocore resolves by rules alone (many newer ones), the data lists no Regions and "
    "the answer says so (`endpoint_data: false`) instead of guessing. Without `partition`, the partition of this "
    "connection."
)

REGION_PROPERTIES: dict[str, Any] = {"code": {"type": "string"}, "name": {"type": "string"}}
REGION_ITEM = {"type": "object", "properties": REGION_PROPERTIES, "required": ["code", "name"]}
REGIONS = {"type": "array", "items": REGION_ITEM}


def partition_param() -> dict[str, Any]:
    return {
        "type": "string",
        "enum": list(PARTITIONS),
        "description": "aws (commercial), aws-cn (China) or aws-us-gov (GovCloud); default: this connection's",
    }


def list_regions_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {"partition": partition_param()}}


def availability_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "service": {
                "type": "string",
                "minLength": 1,
                "maxLength": settings.DOCS_MAX_TITLE_CHARS,
                "description": 'The service as you would write it: "AWS Lambda", "Lambda", "Amazon S3", "EC2"',
            },
            "region": {
                "type": "string",
                "maxLength": settings.DOCS_MAX_TITLE_CHARS,
                "description": 'A Region code or name ("eu-central-1", "Europe (Frankfurt)"): answer for it too',
            },
            "partition": partition_param(),
        },
        "required": ["service"],
    }


LIST_REGIONS_OUTPUT = {
    "type": "object",
    "properties": {
        "partition": {"type": "string"},
        "partition_name": {"type": "string"},
        "regions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {**REGION_PROPERTIES, "endpoint_data": {"type": "boolean"}},
                "required": ["code", "name", "endpoint_data"],
            },
        },
        "source": {"type": "string"},
    },
    "required": ["partition", "partition_name", "regions", "source"],
}
AVAILABILITY_OUTPUT = {
    "type": "object",
    "properties": {
        "partition": {"type": "string"},
        "service": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "service_id": {"type": "string"},
                "endpoint_prefix": {"type": "string"},
            },
            "required": ["name", "service_id", "endpoint_prefix"],
        },
        "endpoint_data": {"type": "boolean"},
        "global_endpoint_region": {"type": ["string", "null"]},
        "regions": REGIONS,
        "regions_without": REGIONS,
        "regions_unknown": REGIONS,
        "region": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {**REGION_PROPERTIES, "offered": {"type": ["boolean", "null"]}},
                    "required": ["code", "name", "offered"],
                },
                {"type": "null"},
            ]
        },
        "older_generation": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "endpoint_prefix": {"type": "string"},
                        "ask_as": {"type": "string"},
                    },
                    "required": ["name", "endpoint_prefix", "ask_as"],
                },
                {"type": "null"},
            ]
        },
        "source": {"type": "string"},
    },
    "required": ["partition", "service", "endpoint_data", "regions", "regions_without", "regions_unknown", "source"],
}


_loading: Future[EndpointData] | None = None
_loading_lock = threading.RLock()  # re-entered when the load is done before its callback is added


def _load_once() -> Future[EndpointData]:
    """The one load of the data in the "cpu" pool, however many first calls come together: each awaits it, none
    holds a pool thread waiting on another's load. A failed load is forgotten, so a later call tries again."""
    global _loading
    with _loading_lock:
        if _loading is None:
            _loading = pool("cpu").submit(regions.load)
            _loading.add_done_callback(_forget_failure)
        return _loading


def _forget_failure(done: Future[EndpointData]) -> None:
    global _loading
    if done.cancelled() or done.exception() is not None:
        with _loading_lock:
            if _loading is done:
                _loading = None


async def endpoint_data() -> EndpointData:
    """The data; the first calls await its one read in a pool thread (some 0.3 s), later ones take it as loaded."""
    loaded = regions.loaded()
    if loaded is not None:
        return loaded
    # shielded: one caller cancelled (a client gone) must not cancel the load the others await
    return await asyncio.shield(asyncio.wrap_future(_load_once()))


def _partition(data: EndpointData, args: dict[str, Any], ctx: RequestContext) -> Partition:
    code = args.get("partition") or ctx.partition
    partition = data.partitions.get(code)
    if partition is None:  # a partition this botocore does not know: cannot happen with the enum, but say so
        raise ToolError(f"No partition {code!r} in the endpoint data; choose one of {', '.join(PARTITIONS)}.")
    return partition


def source(data: EndpointData) -> str:
    return f"botocore {data.version} endpoints.json"


def _quoted(text: str) -> str:
    return repr(text if len(text) <= QUOTED_CHARS else text[:QUOTED_CHARS] + "...")


def _region_list(partition: Partition, codes: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    return [{"code": c, "name": partition.regions[c]} for c in codes]


def _names(items: list[dict[str, str]]) -> str:
    return ", ".join(f"{r['code']} ({r['name']})" for r in items) or "none"


async def list_regions(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    data = await endpoint_data()
    partition = _partition(data, args, ctx)
    listed = [
        {"code": code, "name": name, "endpoint_data": code in partition.endpoint_regions}
        for code, name in partition.regions.items()
    ]
    lines = [f"- {r['code']}: {r['name']}" + ("" if r["endpoint_data"] else " (newer than the endpoint data)")
             for r in listed]  # fmt: skip
    text = (
        f"{len(listed)} Regions in the {partition.code} partition ({partition.name}), from {source(data)}:\n"
        + "\n".join(lines)
    )
    answer = {"partition": partition.code, "partition_name": partition.name, "regions": listed, "source": source(data)}
    return {"content": [{"type": "text", "text": text}], "structuredContent": answer}


async def _service_or_error(data: EndpointData, query: str) -> regions.Resolved:
    """The service; on a miss, a tool error with close names (computed in a pool thread: a few ms of difflib)."""
    if not query.strip():
        raise ToolError('service cannot be empty: name an AWS service, for example "AWS Lambda" or "S3".')
    resolved = regions.resolve(data, query)
    if resolved.service is not None:
        return resolved
    close = "; ".join(await run_in("cpu", regions.service_suggestions, data, query))
    if resolved.candidates:
        raise ToolError(
            f"{_quoted(query)} names several AWS services with different endpoints and Regions: {close}. "
            "Ask again with the one you mean."
        )
    raise ToolError(
        f"No AWS service is named {_quoted(query)}."
        + (f" Close names: {close}." if close else "")
        + ' Write the service as AWS names it ("AWS Lambda", "Amazon Simple Storage Service"), its short name '
        '("Lambda", "S3") or its endpoint prefix ("lambda", "states").'
    )


async def _region_or_error(data: EndpointData, partition: Partition, query: str) -> str:
    code = regions.match_region(partition, query)
    if code is not None:
        return code
    others = [p for c, p in data.partitions.items() if c != partition.code and c in PARTITIONS]
    try:
        return await run_in("cpu", regions.find_region, partition, query, others)
    except Unknown as exc:
        close = "; ".join(exc.suggestions)
        message = str(exc) if len(query) <= QUOTED_CHARS else f"No region {_quoted(query)} in {partition.code}."
        raise ToolError(message + (f" Close: {close}." if close else "") + " list_regions lists them.") from None


def _older(data: EndpointData, resolved: regions.Resolved) -> dict[str, str] | None:
    """The older generation of the service answered for, named so a model can ask for it: the answer is for the
    current one ("Amazon Inspector" is Inspector2), which a model asking by the common name means."""
    assert resolved.service is not None
    older = resolved.legacy or data.predecessors.get(resolved.service.name)
    if older is None:
        return None
    return {"name": older.full_name, "endpoint_prefix": older.endpoint_key, "ask_as": f"{older.service_id} Classic"}


def _availability_text(answer: dict[str, Any], found: Availability, partition: Partition) -> str:
    service = answer["service"]
    head = f"{service['name']} (endpoint prefix {service['endpoint_prefix']}) in the {partition.code} partition"
    lines: list[str] = []
    if not found.listed:
        lines.append(
            f"{head}: the endpoint data lists no Regions for this service (its endpoints are resolved by rules "
            "that accept any Region), so it cannot tell where the service runs. See the service's documentation "
            "(its endpoints and quotas page)."
        )
    elif found.global_region is not None:
        lines.append(
            f"{head}: a global service, one endpoint for the whole partition (signing Region {found.global_region})."
        )
    else:
        known = len(answer["regions"]) + len(answer["regions_without"])
        lines.append(f"{head}: an endpoint exists in {len(answer['regions'])} of the {known} Regions the data knows.")
    region = answer.get("region")
    if region is not None:
        verdict = {True: "yes, an endpoint exists there", False: "no endpoint there", None: "unknown"}[
            region["offered"]
        ]
        if region["offered"] and found.global_region is not None:
            verdict = "yes: the partition-wide (global) endpoint serves it"
        lines.append(f"Region {region['code']} ({region['name']}): {verdict}.")
    if found.listed and found.global_region is None:
        everywhere = not answer["regions_without"]
        lines.append(f"Regions with an endpoint: {'all of them' if everywhere else _names(answer['regions'])}.")
        if not everywhere:
            lines.append(f"Regions without one: {_names(answer['regions_without'])}.")
    older = answer.get("older_generation")
    if older is not None:
        lines.append(
            f"This is the current generation of the service; the older one, {older['name']} (endpoint prefix "
            f'{older["endpoint_prefix"]}), also exists: ask for "{older["ask_as"]}" for its Regions.'
        )
    if answer["regions_unknown"]:
        lines.append(f"Newer than the endpoint data (unknown): {_names(answer['regions_unknown'])}.")
    lines.append(f"Source: {answer['source']}. {MEANING}")
    return "\n".join(lines)


async def get_regional_availability(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    data = await endpoint_data()
    partition = _partition(data, args, ctx)
    resolved = await _service_or_error(data, args["service"])
    service = resolved.service
    assert service is not None  # _service_or_error raised otherwise
    region_code = await _region_or_error(data, partition, args["region"]) if args.get("region") else None
    found = regions.availability(data, service, partition)
    offering = set(found.regions) if found.global_region is None else set(partition.endpoint_regions)
    without = [c for c in partition.regions if c in partition.endpoint_regions and c not in offering]
    answer: dict[str, Any] = {
        "partition": partition.code,
        "service": {
            "name": service.full_name,
            "service_id": service.service_id,
            "endpoint_prefix": service.endpoint_key,
        },
        "endpoint_data": found.listed,
        "global_endpoint_region": found.global_region,
        "regions": _region_list(partition, [c for c in partition.regions if c in offering]) if found.listed else [],
        "regions_without": _region_list(partition, without) if found.listed else [],
        "regions_unknown": _region_list(partition, found.unknown),
        "region": None,
        "older_generation": _older(data, resolved),
        "source": source(data),
    }
    if region_code is not None:
        name = partition.regions[region_code]
        answer["region"] = {"code": region_code, "name": name, "offered": found.offered_in(region_code)}
    text = _availability_text(answer, found, partition)
    return {"content": [{"type": "text", "text": text}], "structuredContent": answer}


TOOL_NAMES = ("list_regions", "get_regional_availability")


def register(catalogue: Catalogue) -> None:
    both = ("aws", "aws-cn")
    catalogue.add_tool(
        Tool(
            "list_regions",
            LIST_REGIONS_DESCRIPTION,
            list_regions_schema(),
            list_regions,
            title="List AWS Regions",
            output_schema=LIST_REGIONS_OUTPUT,
            annotations=OFFLINE_READ_ONLY,
            partitions=both,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
    catalogue.add_tool(
        Tool(
            "get_regional_availability",
            AVAILABILITY_DESCRIPTION,
            availability_schema(),
            get_regional_availability,
            title="Where an AWS service is offered",
            output_schema=AVAILABILITY_OUTPUT,
            annotations=OFFLINE_READ_ONLY,
            partitions=both,
            quiet=True,
            scopes=READ_SCOPES,
        )
    )
