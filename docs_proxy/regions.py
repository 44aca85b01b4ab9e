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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUGGESTIONS = 8  # close service names a miss offers at most
REGION_SUGGESTIONS = 4
METADATA_HEAD = 16_384  # characters of a service-2.json read to find its metadata (it comes first)
_GLOBAL_PSEUDO_REGION = re.compile(r"-global$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VENDOR = re.compile(r"^(?:amazon web services|amazon|aws)\b\s*")
_PARENTHESES = re.compile(r"\(([^()]*)\)")


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
        partitions[entry["partition"]] = Partition(
            entry["partition"], entry.get("partitionName", entry["partition"]), regions, frozenset(known), reduced
        )
    keys = set().union(*(p.services for p in partitions.values()))
    metadata = list(_service_metadata(root))
    prefixes = {m["endpointPrefix"] for _name, m in metadata}
    services = [_service(name, m, keys, prefixes) for name, m in metadata]
    loaded = EndpointData(botocore.__version__, partitions, services)
    for service, meta in zip(services, (m for _n, m in metadata), strict=True):
        _index(loaded.names, service, meta)
        loaded.searchable.append((normalise(service.full_name), normalise(service.service_id), service))
    return loaded


def _endpoints(entry: dict[str, Any], regions: dict[str, str]) -> Endpoints:
    endpoints: dict[str, Any] = entry.get("endpoints", {})
    global_region = None
    if entry.get("isRegionalized") is False and entry.get("partitionEndpoint") in endpoints:
        scope = endpoints[entry["partitionEndpoint"]].get("credentialScope", {})
        global_region = scope.get("region") or next(iter(regions), "")
    listed = sorted(code for code, e in endpoints.items() if code in regions and not e.get("deprecated"))
    return Endpoints(global_region, tuple(listed))


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
    """The service a name means, or None: dict lookups, cheap enough for the event loop.

    Of several services a name matches, one matched by name beats one matched by endpoint prefix, then the one whose
    endpoint entry is its own (botocore's name is the key), then the shortest name."""
    for variant in _name_variants(query):
        matches = data.names.get(variant)
        if matches:
            best = min(rank for rank, _s in matches)
            candidates = [s for rank, s in matches if rank == best]
            return min(candidates, key=lambda s: (s.endpoint_key != s.endpoint_prefix, s.name != s.endpoint_key,
                                                  len(s.full_name), s.name))  # fmt: skip
    return None


def find_service(data: EndpointData, query: str) -> Service:
    """The service a name means; Unknown with close names when none matches (a few ms: a pool thread's work)."""
    service = match_service(data, query)
    if service is None:
        raise Unknown(f"No AWS service is named {query!r}.", service_suggestions(data, query))
    return service


def service_suggestions(data: EndpointData, query: str) -> list[str]:
    """Names containing the query ("Cognito"), else names spelt like it, as "Full Name (endpoint key)"."""
    wanted = normalise(query)
    if not wanted:
        return []
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
    """A region code from its code or its name ("eu-central-1", "Europe (Frankfurt)", "Frankfurt"), any case; None
    when nothing or more than one Region matches."""
    wanted = query.strip().lower()
    if wanted in partition.regions:
        return wanted
    named = _named(partition, wanted)
    return named[0] if len(named) == 1 else None


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
    code = match_region(partition, query)
    if code is not None:
        return code
    wanted = query.strip().lower()
    for other in others:
        if wanted in other.regions:
            raise Unknown(
                f"Region {wanted!r} is in the {other.code} partition ({other.name}), not in {partition.code}: "
                f'pass partition="{other.code}".',
                [],
            )
    labels = {c: f"{c} ({n})" for c, n in partition.regions.items()}
    pool = {c: c for c in partition.regions} | {n.lower(): c for c, n in partition.regions.items()}
    close = difflib.get_close_matches(wanted, list(pool), n=REGION_SUGGESTIONS, cutoff=0.6)
    named = _named(partition, wanted)
    suggested = list(dict.fromkeys([*(labels[c] for c in named), *(labels[pool[m]] for m in close)]))
    raise Unknown(f"No region {query!r} in the {partition.code} partition.", suggested[:REGION_SUGGESTIONS])


def availability(data: EndpointData, service: Service, partition: Partition) -> Availability:
    listed = any(service.endpoint_key in p.services for p in data.partitions.values())
    unknown = tuple(c for c in partition.regions if c not in partition.endpoint_regions)
    found = partition.services.get(service.endpoint_key, Endpoints(None, ()))
    return Availability(service, partition.code, listed, found.global_region, found.regions, unknown)
