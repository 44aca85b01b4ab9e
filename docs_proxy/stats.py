"""Docs cache statistics: counted in-process for nothing on the hot path, published every few seconds.

Each process writes its own snapshot to the shared cache (`stats:<process>`, expiring), and
`fleet_stats()` adds up the snapshots of every live process. Counters are cumulative since the
process started; a dead process's snapshot expires with it.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from awsmcp.process import PROCESS_ID

LATENCY_SAMPLES = 2048
TOP_URLS = 20
COUNTERS = (
    "l1_hits",
    "l1_misses",
    "l2_hits",
    "l2_misses",
    "l2_errors",
    "origin_fetches",
    "origin_304",
    "origin_errors",
    "stale_served",
    "conversions",
    "single_flight_waits",
    "answer_hits",
    "answer_misses",
    "purges",
    "search_fallbacks",  # search_documentation answered from the local index: the AWS search API failed
    "index_dropped",  # pages not queued for the local index: its queue (DOCS_INDEX_QUEUE) was full
)
# Hits (served from L1 or L2) and misses (went to the origin), per minute, for the admin's chart.
MINUTE_SERIES = {"l1_hits": 0, "l2_hits": 0, "l2_misses": 1}


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class CacheStats:
    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.reads: Counter[str] = Counter()
        self.minutes: dict[int, list[int]] = {}  # epoch minute -> [hits, misses], the last hour
        self.started = time.time()

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount
        if name in MINUTE_SERIES:
            minute = int(time.time() // 60)
            bucket = self.minutes.get(minute)
            if bucket is None:
                bucket = self.minutes[minute] = [0, 0]
                for old in [m for m in self.minutes if m < minute - 60]:
                    del self.minutes[old]
            bucket[MINUTE_SERIES[name]] += amount

    def origin_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def read(self, url: str) -> None:
        self.reads[url] += 1

    def snapshot(self, l1: dict[str, int] | None = None) -> dict[str, Any]:
        latencies = list(self.latencies)
        return {
            "process": PROCESS_ID,
            "written_at": time.time(),
            "started": self.started,
            "counters": {name: self.counters[name] for name in COUNTERS},
            "latency": {
                "samples": len(latencies),
                "p50": percentile(latencies, 0.50),
                "p95": percentile(latencies, 0.95),
                "p99": percentile(latencies, 0.99),
            },
            "latencies": [round(v, 5) for v in latencies[-256:]],
            "top_urls": self.reads.most_common(TOP_URLS),
            "minutes": {str(minute): counts for minute, counts in self.minutes.items()},
            "l1": l1 or {},
        }


stats = CacheStats()


def ratio(hits: int, misses: int) -> float | None:
    total = hits + misses
    return round(hits / total, 4) if total else None


def combine(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up per-process snapshots into fleet-wide figures."""
    counters: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    latencies: list[float] = []
    l1 = {"entries": 0, "bytes": 0}
    minutes: dict[int, list[int]] = {}
    for snap in snapshots:
        for minute, (hits, misses) in snap.get("minutes", {}).items():
            bucket = minutes.setdefault(int(minute), [0, 0])
            bucket[0] += hits
            bucket[1] += misses
        counters.update(snap.get("counters", {}))
        reads.update(dict(snap.get("top_urls", [])))
        latencies.extend(snap.get("latencies", []))
        for key in l1:
            l1[key] += snap.get("l1", {}).get(key, 0)
    return {
        "processes": len(snapshots),
        "counters": {name: counters[name] for name in COUNTERS},
        "l1_hit_ratio": ratio(counters["l1_hits"], counters["l1_misses"]),
        "l2_hit_ratio": ratio(counters["l2_hits"], counters["l2_misses"]),
        "l1": l1,
        "origin_latency": {
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
        },
        "top_urls": reads.most_common(TOP_URLS),
        "minutes": sorted(minutes.items()),
    }
