"""The admin's docs cache page: fleet-wide figures, an hour of hits and misses, the search index's size per
partition and guide, and the purge form."""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from docs_proxy.housekeeping import fleet_stats
from docs_proxy.purge import PurgeError, PurgeScope, l2_footprint, patterns_for, purge
from docs_proxy.search_index import store as index_store

CHART_WIDTH, CHART_HEIGHT = 720, 120


class PurgeForm(forms.Form):
    what = forms.ChoiceField(
        choices=[
            ("url", "one page"),
            ("prefix", "every page under a URL prefix"),
            ("search", "search and recommendation answers"),
            ("all", "everything"),
        ],
        initial="url",
    )
    target = forms.CharField(required=False, help_text="The page URL or URL prefix (for one page or a prefix).")
    dry_run = forms.BooleanField(required=False, help_text="Only count what would go.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("what") in ("url", "prefix") and not data.get("target"):
            raise forms.ValidationError("Give the page URL or the URL prefix.")
        return data


def chart(minutes: list[tuple[int, list[int]]]) -> dict[str, Any]:
    now = int(time.time() // 60)
    series = dict(minutes)
    peak = max((sum(series.get(m, [0, 0])) for m in range(now - 59, now + 1)), default=0) or 1
    width = CHART_WIDTH / 60
    bars = []
    for index, minute in enumerate(range(now - 59, now + 1)):
        hits, misses = series.get(minute, [0, 0])
        hit_h = CHART_HEIGHT * hits / peak
        miss_h = CHART_HEIGHT * misses / peak
        bars.append(
            {
                "x": round(index * width, 1),
                "w": round(width - 1, 1),
                "hit_h": round(hit_h, 1),
                "hit_y": round(CHART_HEIGHT - hit_h, 1),
                "miss_h": round(miss_h, 1),
                "miss_y": round(CHART_HEIGHT - hit_h - miss_h, 1),
                "hits": hits,
                "misses": misses,
                "label": time.strftime("%H:%M", time.gmtime(minute * 60)),
            }
        )
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "peak": peak}


def index_figures(shown: int) -> dict[str, Any]:
    """The index's pages per partition, and its `shown` largest guides with what the rest add up to."""
    found = index_store.figures(shown)
    return {
        "total": found.total,
        "capacity": settings.DOCS_INDEX_MAX_PAGES,
        "enabled": settings.DOCS_INDEX_ENABLED,
        "partitions": found.partitions,
        "guides": found.guides,
        "more_guides": found.guide_count - len(found.guides),
        "more_pages": found.total - sum(pages for _p, _g, pages in found.guides),
    }


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


@admin.site.admin_view
def cache_page(request: HttpRequest) -> HttpResponse:
    report = None
    form = PurgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        what, target = form.cleaned_data["what"], form.cleaned_data["target"].strip()
        try:
            result = purge(PurgeScope(what), target, dry_run=form.cleaned_data["dry_run"])
            report = result.summary()
        except PurgeError as exc:
            form.add_error(None, str(exc))
    stats = fleet_stats()
    # Counted by the purge dry run's own function, over the patterns "everything" purges: the two agree.
    l2_entries, l2_bytes, l2_capped = l2_footprint(patterns_for(PurgeScope.EVERYTHING)[1])
    counters = stats["counters"]
    latency = stats["origin_latency"]
    context = {
        **admin.site.each_context(request),
        "title": "Docs cache",
        "stats": stats,
        "c": counters,
        "l1_ratio": "n/a" if stats["l1_hit_ratio"] is None else f"{stats['l1_hit_ratio']:.1%}",
        "l2_ratio": "n/a" if stats["l2_hit_ratio"] is None else f"{stats['l2_hit_ratio']:.1%}",
        "l2_entries": l2_entries,
        "l2_bytes": l2_bytes,
        "l2_capped": l2_capped,  # counted up to OPS_CACHE_COUNT_MAX: the figures are lower bounds
        "latency": f"{_ms(latency['p50'])} / {_ms(latency['p95'])} / {_ms(latency['p99'])}",
        "chart": chart(stats["minutes"]),
        "index": index_figures(settings.DOCS_INDEX_ADMIN_GUIDES),
        "form": form,
        "report": report,
    }
    return render(request, "admin/ops/cache.html", context)
