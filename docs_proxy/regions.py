"""Regions and which of them offer a service, from the endpoint data botocore ships (no call to AWS).

botocore's `endpoints.json` lists, per partition, the regions and, per service (keyed mostly by the service's
endpoint prefix), the regions where an endpoint for it exists; `partitions.json` lists the partitions' regions,
sometimes newer ones the endpoint file does not know yet. The services' own names (`serviceFullName`,
`serviceAbbreviation`, `serviceId`, `endpointPrefix`) come from each service's `service-2.json`, so a name a model
writes ("AWS Lambda", "Amazon S3", "Step Functions") finds its endpoint key without a hand-made list.

Everything is read once, on first use, in a pool thread (`load`); the tools (docs_proxy.region_tools) only look up.
Services that resolve endpoints through rule sets alone are absent from `endpoints.json`: for them the data says
nothing about regions, and `Availability.listed` says so.
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUGGESTIONS = 8  # close service names a miss offers at most
REGION_SUGGESTIONS = 4
REGION_CONTAINING = 8  # Regions whose name contains the query ("Europe") a miss lists at most
METADATA_HEAD = 16_384  # characters of a service-2.json read to find its metadata (it comes first)
_GLOBAL_PSEUDO_REGION = re.compile(r"-global$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VENDOR = re.compile(r"^(?:amazon web services|amazon|aws)\b\s*")
_PARENTHESES = re.compile(r"\(([^()]*)\)")
_WORD = re.compile(r"[a-z0-9]+")
# Words a Region's name abbreviates or a model writes otherwise: "N. Virginia", "EU (Frankfurt)".
_REGION_WORDS = {"n": "northern", "eu": "europe"}
# Names botocore's models do not carry but people write, reviewed one by one: normalised name -> botocore's name for
# the service (its endpoint key in the comment where it differs).
ALIASES = {
    "aurora": "rds",
    "amazonaurora": "rds",
    "datafirehose": "firehose",
    "kinesisdatafirehose": "firehose",
    "amazondatafirehose": "firehose",
    "kinesisdatastreams": "kinesis",
    "cloudwatchevents": "events",
    "msk": "kafka",
    "managedstreamingforapachekafka": "kafka",
    "systemsmanager": "ssm",
    "parameterstore": "ssm",
    "sessionmanager": "ssm",
    "iamidentitycenter": "sso-admin",  # key "sso"; the portal's "portal.sso" has the same Regions
    "identitycenter": "sso-admin",
    "vpc": "ec2",
    "transitgateway": "ec2",
    "fargate": "ecs",
    "elasticcontainerservice": "ecs",
    "cognitouserpools": "cognito-idp",
    "elasticsearch": "opensearch",  # key "es", shared with the Elasticsearch Service it replaced
    "iotcore": "iot",
    "documentdb": "docdb",
    "s3glacier": "glacier",
    "macie": "macie2",
    "managedserviceforapacheflink": "kinesisanalyticsv2",  # key "kinesisanalytics"
    "managedprometheus": "amp",  # key "aps"
    "managedserviceforprometheus": "amp",
    "privateca": "acm-pca",
    "firewallmanager": "fms",
}
# A service whose newer generation is a sibling of the same name with one of these endings ("inspector" and
# "inspector2", "waf" and "wafv2") is answered for the newer one; these endings to a name ask for the older one.
SUCCESSOR_ENDINGS = ("v2", "2", "-v2")
LEGACY_ENDINGS = ("classic", "v1")


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # botocore's name for it (its folder): "stepfunctions"
    full_name: str  # "AWS Step Functions"
    service_id: str  # "SFN"
    endpoint_prefix: str  # "states"
    endpoint_key: str  # its key in endpoints.json (the endpoint prefix for almost every service)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """A service's entry in one partition of endpoints.json, reduced to what the tools answer."""

    global_region: str | None  # a partition-wide endpoint (IAM, Route 53) and the region it signs in
    regions: tuple[str, ...]  # regions with an endpoint (no pseudo-regions, fips-* or deprecated ones), sorted


@dataclass(frozen=True, slots=True)
class Partition:
    code: str  # "aws", "aws-cn"
    name: str  # "AWS Standard", "AWS China"
    regions: dict[str, str]  # code -> name, every region of the partition (both files)
    endpoint_regions: frozenset[str]  # the regions the endpoint file knows (newer ones: availability unknown)
    services: dict[str, Endpoints]  # endpoint key -> where the service has endpoints here
    words: dict[str, frozenset[str]]  # code -> the words of its name, folded (region_words)


@dataclass(frozen=True, slots=True)
class Availability:
    """Where a service has an endpoint in one partition, as the endpoint file says."""

    service: Service
    partition: str
    listed: bool  # the endpoint file lists the service (in any partition): else it says nothing of regions
    global_region: str | None  # a partition-wide endpoint (IAM, Route 53) and the region it signs in
    regions: tuple[str, ...]  # regions with an endpoint, sorted
    unknown: tuple[str, ...]  # regions newer than the endpoint data: no answer either way

    def offered_in(self, region: str) -> bool | None:
        """True/False from the data; None when the data cannot tell (unlisted service, region it predates)."""
        if not self.listed or region in self.unknown:
            return None
        return self.global_region is not None or region in self.regions


@dataclass(slots=True)
class EndpointData:
    version: str
    partitions: dict[str, Partition]
    services: list[Service]
    # normalised name -> (rank, service): rank 0 for names (full name, abbreviation, id, botocore's name), 1 for
    # the endpoint prefix and signing name, which several services may share ("lambda" is also lambda-web's).
    names: dict[str, list[tuple[int, Service]]] = field(default_factory=dict)
    # (normalised full name, normalised service id, service): what a miss searches for names containing the query
    searchable: list[tuple[str, str, Service]] = field(default_factory=list)
    by_name: dict[str, Service] = field(default_factory=dict)  # botocore's name -> service
    successors: dict[str, Service] = field(default_factory=dict)  # an older generation's name -> the newer one
    predecessors: dict[str, Service] = field(default_factory=dict)  # a newer generation's name -> the older one


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a name resolves to: a service (and the older generation it stands for, if any), or, when the name is
    as much several unrelated services' name, those candidates and no service."""

    service: Service | None
    legacy: Service | None = None
    candidates: tuple[Service, ...] = ()


class Unknown(LookupError):
    """A name or region that matches nothing; `suggestions` are close ones to offer instead."""

    def __init__(self, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.suggestions = suggestions


def normalise(name: str) -> str:
    """ "Amazon Simple Storage Service" -> "simplestorageservice": case, vendor prefix, spacing and punctuation
    dropped, "&" read as "and"."""
    text = name.lower().replace("&", " and ").strip()
    text = _VENDOR.sub("", text)
    return _NON_ALNUM.sub("", text)


def region_words(name: str) -> frozenset[str]:
    """ "US East (N. Virginia)" -> {us, east, northern, virginia}: accents folded ("Zürich"), abbreviations read."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c))
    return frozenset(_REGION_WORDS.get(word, word) for word in _WORD.findall(folded))


def _name_variants(query: str) -> list[str]:
    """The query, then its part outside parentheses and inside them: "Amazon Simple Storage Service (S3)"."""
    variants = [query]
    inside = _PARENTHESES.findall(query)
    if inside:
        variants.append(_PARENTHESES.sub(" ", query))
        variants.extend(inside)
    return [v for v in dict.fromkeys(normalise(v) for v in variants) if v]


# --- loading (blocking: a pool thread, once) ------------------------------------------------------------
_loaded: EndpointData | None = None
_lock = threading.Lock()


def data_dir() -> Path:
    import botocore

    return Path(botocore.__file__).parent / "data"


def loaded() -> EndpointData | None:
    """The data when already read (no lock: a reference read), else None."""
    return _loaded


def load() -> EndpointData:
    """The data, read on first use (0.1 to 0.2 s: two JSON files and the heads of ~450 gzipped service models)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _read(data_dir())
        return _loaded


def _read(root: Path) -> EndpointData:
    import botocore

    endpoints = json.loads((root / "endpoints.json").read_text(encoding="utf-8"))
    partition_file = json.loads((root / "partitions.json").read_text(encoding="utf-8"))
    extra = {p["id"]: p.get("regions", {}) for p in partition_file["partitions"]}
    partitions: dict[str, Partition] = {}
    for entry in endpoints["partitions"]:
        known = {code: info.get("description", code) for code, info in entry["regions"].items()}
        newer = {code: info.get("description", code) for code, info in extra.get(entry["partition"], {}).items()}
        every = newer | known
        regions = {c: every[c] for c in sorted(every) if not _GLOBAL_PSEUDO_REGION.search(c)}
        reduced = {key: _endpoints(service, regions) for key, service in entry["services"].items()}
        words = {code: region_words(name) for code, name in regions.items()}
        partitions[entry["partition"]] = Partition(
            entry["partition"],
            entry.get("partitionName", entry["partition"]),
            regions,
            frozenset(known),
            reduced,
            words,
        )
    keys = set().union(*(p.services for p in partitions.values()))
    metadata = list(_service_metadata(root))
    prefixes = {m["endpointPrefix"] for _name, m in metadata}
    services = [_service(name, m, keys, prefixes) for name, m in metadata]
    loaded = EndpointData(botocore.__version__, partitions, services)
    for service, meta in zip(services, (m for _n, m in metadata), strict=True):
        _index(loaded.names, service, meta)
        loaded.searchable.append((normalise(service.full_name), normalise(service.service_id), service))
        loaded.by_name[service.name] = service
    _link_generations(loaded)
    return loaded


def _link_generations(data: EndpointData) -> None:
    """Pairs an older service with its newer sibling ("cloudhsm", "cloudhsmv2") when their endpoints differ."""
    for service in data.services:
        for ending in SUCCESSOR_ENDINGS:
            newer = data.by_name.get(service.name + ending)
            if newer is not None and newer.endpoint_key != service.endpoint_key:
                data.successors[service.name] = newer
                data.predecessors[newer.name] = service
                break


def _endpoints(entry: dict[str, Any], regions: dict[str, str]) -> Endpoints:
    endpoints: dict[str, Any] = entry.get("endpoints", {})
    listed = sorted(code for code, e in endpoints.items() if code in regions and not e.get("deprecated"))
    key = _global_key(entry, endpoints, bool(listed))
    global_region = None
    if key is not None:
        global_region = endpoints[key].get("credentialScope", {}).get("region") or next(iter(regions), "")
    return Endpoints(global_region, tuple(listed))


def _global_key(entry: dict[str, Any], endpoints: dict[str, Any], regional: bool) -> str | None:
    """The endpoint serving the whole partition: the partition endpoint of a service that is not regionalised
    (IAM), or, for a service with no Region's endpoint of its own, a live "*-global" or partition endpoint (AWS
    Support, Route 53 Recovery Control Config: one endpoint, signing in one Region)."""
    partition_endpoint = entry.get("partitionEndpoint")
    if entry.get("isRegionalized") is False and partition_endpoint in endpoints:
        return str(partition_endpoint)
    if regional:
        return None
    return next(
        (key for key, e in endpoints.items()
         if not e.get("deprecated") and (key == partition_endpoint or _GLOBAL_PSEUDO_REGION.search(key))),
        None,
    )  # fmt: skip


def _service_metadata(root: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """(botocore's name, the `metadata` of its newest API version's service-2.json) for every service."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = sorted(v for v in folder.iterdir() if v.is_dir())
        model = _model_file(versions[-1]) if versions else None
        if model is None:
            continue
        meta = _metadata_of(_read_model(model, METADATA_HEAD))
        if meta is None:  # not at the head of the file: parse it all (slow, but still correct)
            whole = json.loads(_read_model(model, -1))
            meta = whole.get("metadata") if isinstance(whole, dict) else None
        if isinstance(meta, dict) and meta.get("endpointPrefix"):
            yield folder.name, meta


def _model_file(version: Path) -> Path | None:
    for name in ("service-2.json.gz", "service-2.json"):
        if (version / name).exists():
            return version / name
    return None


def _read_model(model: Path, characters: int) -> str:
    """The first `characters` of a service model (all of it for -1), gzipped or not."""
    if model.suffix == ".gz":
        with gzip.open(model, "rt", encoding="utf-8") as stream:
            return stream.read(characters)
    with model.open(encoding="utf-8") as stream:
        return stream.read(characters)


def _metadata_of(head: str) -> dict[str, Any] | None:
    """The metadata object from the start of a service model (it comes before the operations); None when the head
    holds no complete metadata with an endpoint prefix."""
    at = head.find('"metadata"')
    if at < 0:
        return None
    try:
        meta, _end = json.JSONDecoder().raw_decode(head, head.index("{", at))
    except ValueError:
        return None
    return meta if isinstance(meta, dict) and meta.get("endpointPrefix") else None


def _service(name: str, meta: dict[str, Any], keys: set[str], prefixes: set[str]) -> Service:
    """Its key in endpoints.json: the endpoint prefix, or botocore's name where the file keys the service by it
    (DocumentDB and Neptune share RDS's prefix but have entries of their own). Not the signing name: Bedrock Runtime
    signs as "bedrock" but Bedrock's regions are not its own."""
    prefix = meta["endpointPrefix"]
    key = name if name in keys and name not in prefixes else prefix
    full = meta.get("serviceFullName") or meta.get("serviceId") or name
    return Service(name, full, meta.get("serviceId") or full, prefix, key)


def _index(names: dict[str, list[tuple[int, Service]]], service: Service, meta: dict[str, Any]) -> None:
    ranked = [
        (0, service.full_name), (0, meta.get("serviceAbbreviation") or ""), (0, service.service_id),
        (0, service.name), (1, service.endpoint_prefix), (1, meta.get("signingName") or ""),
    ]  # fmt: skip
    for rank, text in ranked:
        key = normalise(text)
        if key and (rank, service) not in names.setdefault(key, []):
            names[key].append((rank, service))


# --- lookups --------------------------------------------------------------------------------------------
def match_service(data: EndpointData, query: str) -> Service | None:
    """The service a name means, or None (resolve's service)."""
    return resolve(data, query).service


def resolve(data: EndpointData, query: str) -> Resolved:
    """What a name means: dict lookups, cheap enough for the event loop.

    The reviewed aliases first ("Aurora"), then the models' names; a name that is an older generation's answers for
    the newer one unless it says "Classic" or "v1". A name shared by unrelated services (different endpoints and
    Regions: "Marketplace") resolves to none of them but names them as candidates."""
    candidates: tuple[Service, ...] = ()
    for variant in _name_variants(query):
        alias = ALIASES.get(variant)
        if alias is not None and alias in data.by_name:
            return Resolved(data.by_name[alias])
        found = _by_name(data, variant)
        if isinstance(found, Service):
            newer = data.successors.get(found.name)
            return Resolved(newer, found) if newer is not None else Resolved(found)
        if found:
            candidates = candidates or found
            continue
        legacy = _legacy(data, variant)
        if legacy is not None:
            return Resolved(legacy)
    return Resolved(None, candidates=candidates)


def _by_name(data: EndpointData, variant: str) -> Service | tuple[Service, ...]:
    """The service a normalised name means, or the unrelated services it names alike (none: an empty tuple).

    Of several services a name matches, one matched by name beats one matched by endpoint prefix, then the one whose
    endpoint entry is its own (botocore's name is the key), then the shortest name."""
    matches = data.names.get(variant)
    if not matches:
        return ()
    best = min(rank for rank, _s in matches)
    candidates = sorted(
        (s for rank, s in matches if rank == best),
        key=lambda s: (s.endpoint_key != s.endpoint_prefix, s.name != s.endpoint_key, len(s.full_name), s.name),
    )
    footprints = {_footprint(data, s.endpoint_key) for s in candidates}
    return candidates[0] if len(footprints) == 1 else tuple(candidates)


def _footprint(data: EndpointData, key: str) -> tuple[Endpoints | None, ...]:
    """Where an endpoint key has endpoints, in every partition: two keys alike answer alike."""
    return tuple(p.services.get(key) for p in data.partitions.values())


def _legacy(data: EndpointData, variant: str) -> Service | None:
    """The older generation a name asks for by its ending: "WAF Classic", "MediaPackage v1"."""
    for ending in LEGACY_ENDINGS:
        if variant.endswith(ending) and len(variant) > len(ending):
            found = _by_name(data, variant[: -len(ending)])
            if isinstance(found, Service) and found.name in data.successors:
                return found
    return None


def find_service(data: EndpointData, query: str) -> Service:
    """The service a name means; Unknown with close names when none matches (a few ms: a pool thread's work)."""
    service = match_service(data, query)
    if service is None:
        raise Unknown(f"No AWS service is named {query!r}.", service_suggestions(data, query))
    return service


def service_suggestions(data: EndpointData, query: str) -> list[str]:
    """The unrelated services the name names alike ("Marketplace"), else names containing the query ("Cognito"),
    else names spelt like it, as "Full Name (endpoint key)"."""
    wanted = normalise(query)
    if not wanted:
        return []
    found = list(resolve(data, query).candidates)
    if not found:
        found = sorted(
            (s for full, short, s in data.searchable if wanted in full or wanted in short),
            key=lambda s: (len(s.full_name), s.name),
        )
    if not found:  # no name contains it: a misspelling ("Lambdaa"), so names spelt alike
        for close in difflib.get_close_matches(wanted, list(data.names), n=SUGGESTIONS, cutoff=0.6):
            found.extend(s for _rank, s in sorted(data.names[close], key=lambda m: m[0]))
    unique = list(dict.fromkeys(label(s) for s in found))
    return unique[:SUGGESTIONS]


def label(service: Service) -> str:
    """How answers name a service: "AWS Step Functions (states)"."""
    return f"{service.full_name} ({service.endpoint_key})"


def match_region(partition: Partition, query: str) -> str | None:
    """A region code from its code or its name ("eu-central-1", "Europe (Frankfurt)", "Frankfurt", "Virginia",
    "Zürich", "EU (Frankfurt)"), any case; None when nothing or more than one Region matches."""
    found = regions_matching(partition, query)
    return found[0] if len(found) == 1 else None


def regions_matching(partition: Partition, query: str) -> list[str]:
    """The Regions a query means: its code; else the Regions it names exactly; else those whose name has every
    word of it ("Virginia", "GovCloud West"; several: "Europe")."""
    wanted = query.strip().lower()
    if wanted in partition.regions:
        return [wanted]
    named = _named(partition, wanted)
    if named:
        return named
    words = region_words(query)
    return [code for code, have in partition.words.items() if words <= have] if words else []


def _named(partition: Partition, wanted: str) -> list[str]:
    """Regions whose name, name without its parenthesis, or parenthesis ("Frankfurt") is `wanted`."""
    found = []
    for code, name in partition.regions.items():
        lowered = name.lower()
        if wanted in (lowered, _PARENTHESES.sub("", lowered).strip(), *_PARENTHESES.findall(lowered)):
            found.append(code)
    return found


def find_region(partition: Partition, query: str, others: Iterable[Partition] = ()) -> str:
    """match_region, else Unknown saying which other partition has it, or with close Regions (a pool thread's work)."""
    found = regions_matching(partition, query)
    if len(found) == 1:
        return found[0]
    labels = {c: f"{c} ({n})" for c, n in partition.regions.items()}
    if found:  # a name several Regions have ("Europe", "US East")
        listed = [labels[c] for c in found[:REGION_CONTAINING]]
        raise Unknown(f"{len(found)} Regions of the {partition.code} partition match {query!r}.", listed)
    for other in others:
        elsewhere = regions_matching(other, query)
        if elsewhere:
            named = ", ".join(f"{c} ({other.regions[c]})" for c in elsewhere[:REGION_CONTAINING])
            raise Unknown(
                f"Region {query.strip()!r} is in the {other.code} partition ({other.name}: {named}), not in "
                f'{partition.code}: pass partition="{other.code}".',
                [],
            )
    wanted = query.strip().lower()
    pool = {c: c for c in partition.regions} | {n.lower(): c for c, n in partition.regions.items()}
    close = difflib.get_close_matches(wanted, list(pool), n=REGION_SUGGESTIONS, cutoff=0.6)
    suggested = list(dict.fromkeys(labels[pool[m]] for m in close))
    raise Unknown(f"No region {query!r} in the {partition.code} partition.", suggested[:REGION_SUGGESTIONS])


def availability(data: EndpointData, service: Service, partition: Partition) -> Availability:
    listed = any(service.endpoint_key in p.services for p in data.partitions.values())
    unknown = tuple(c for c in partition.regions if c not in partition.endpoint_regions)
    found = partition.services.get(service.endpoint_key, Endpoints(None, ()))
    return Availability(service, partition.code, listed, found.global_region, found.regions, unknown)
