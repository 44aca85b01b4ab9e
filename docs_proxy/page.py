"""A documentation page as the cache holds it: the converted document, where it was served from,
its freshness and validators, its JSON form for L2, and its cache keys."""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha1
from typing import Any
from urllib.parse import quote

from docs_proxy.addresses import DocAddress
from docs_proxy.convert import CONVERTER_VERSION, Document, Section, Table


@dataclass(slots=True)
class Page:
    requested: DocAddress
    served: DocAddress  # where redirects led
    document: Document
    fetched_at: float  # when the origin last confirmed this content (fetch or 304)
    fresh_until: float
    etag: str | None = None
    last_modified: str | None = None
    stale_reason: str | None = None  # set when served stale because the origin failed

    @property
    def substituted(self) -> bool:
        return self.requested.path != self.served.path

    def size(self) -> int:
        doc = self.document
        tables = sum(2 * sum(len(c) for row in t.rows for c in row) for t in doc.tables)
        anchors = sum(2 * len(ident) + 100 for ident in doc.anchors)  # the id and its dict entry
        rows = sum(
            2 * (len(ident) + len(section) + len(first)) + 150 for ident, (section, first) in doc.hidden_rows.items()
        )
        return 2 * len(doc.markdown) + tables + anchors + rows + 512

    def to_json(self) -> dict[str, Any]:
        doc = self.document
        return {
            "served": self.served.path,
            "fetched_at": self.fetched_at,
            "fresh_until": self.fresh_until,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "title": doc.title,
            "markdown": doc.markdown,
            "sections": [[s.level, s.title, s.anchor, s.start, s.end] for s in doc.sections],
            "tables": [[t.headings, t.columns, t.rows] for t in doc.tables],
            "anchors": doc.anchors,
            "hidden_rows": doc.hidden_rows,
        }

    @classmethod
    def from_json(cls, requested: DocAddress, data: dict[str, Any]) -> Page:
        document = Document(
            data["title"],
            data["markdown"],
            [Section(*s) for s in data["sections"]],
            [Table(*t) for t in data["tables"]],
            dict(data.get("anchors") or {}),
            {ident: (row[0], row[1]) for ident, row in (data.get("hidden_rows") or {}).items()},
        )
        served = DocAddress(requested.partition, data["served"])
        return cls(
            requested, served, document, data["fetched_at"], data["fresh_until"], data["etag"], data["last_modified"]
        )


PATH_KEY_LIMIT = 180  # longest quoted path kept whole in a key; longer ones end in a digest
PATH_KEY_SAFE = "/._-~"


def path_key(path: str) -> str:
    """The path as it stands in keys: no spaces, bounded length (long ones end in a digest)."""
    quoted = quote(path, safe=PATH_KEY_SAFE)
    if len(quoted) > PATH_KEY_LIMIT:
        quoted = quoted[:160] + "~" + sha1(quoted.encode()).hexdigest()[:16]
    return quoted


def cache_key(address: DocAddress) -> str:
    return f"page:v{CONVERTER_VERSION}:{address.partition}:{path_key(address.path)}"


def page_pattern(partition: str, path_prefix: str, exact: bool) -> str:
    """The glob of a page's keys in every converter version (purges must not miss old versions)."""
    return f"page:v*:{partition}:{path_key(path_prefix)}{'' if exact else '*'}"
