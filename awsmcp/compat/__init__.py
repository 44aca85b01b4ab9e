"""Every place awsmcp adapts, copies or reaches into a library's internals, each with the versions it was
written against (requirements.txt pins them).

Adaptations applied by the server's entry point (`python -m awsmcp.serve` calls `apply()`; importing
`awsmcp.asgi` applies nothing):
- `twisted_http`: the request-body bound on Daphne's request (Twisted 26.10.0, daphne 4.2.3). Guards a
  bound: on other versions the server refuses to start.
- `twisted_buffer`: the unsent-output bound, read from Twisted's write buffer (Twisted 26.10.0). Guards a
  bound: refuses to start.
- `daphne_server`: Daphne's factories pointed at the bounded classes (daphne 4.2.3, autobahn 26.10.2;
  refuses to start), and finished requests reaped from Daphne's connection dict `Server.connections`
  (daphne 4.2.3; skipped with a warning on another version).

Copies and private reaches elsewhere, checked by `check_all()` at startup (a warning when the installed
version differs or an attribute is gone; those modules keep working or fail on their own terms):
- `mcp_gateway/transports/websocket.py`: `McpWebsocketConsumer.dispatch` copies Channels'
  `AsyncConsumer.dispatch` (channels 4.3.2).
- `docs_proxy/convert.py`: copies markdownify's `MarkdownConverter.process_tag` (markdownify 1.2.3).
- `docs_proxy/cache/backends.py`: lists keys through Django's cache backends' privates,
  `DatabaseCache._table` and `LocMemCache._cache` (Django 5.2.19).
- `ops/metrics.py`: walks `prometheus_client`'s `REGISTRY._collector_to_names` (prometheus-client 0.26.0).
- `awsmcp/compat/ratelimit.py`: django-ratelimit's private `_split_rate` (django-ratelimit 4.1.0), read by the rule
  form (`ops/models.py`) and the counters (`ops/rulebook.py` and the modules that use it).
"""

from __future__ import annotations

from collections.abc import Mapping

from awsmcp.compat.bounds import bounds
from awsmcp.compat.pins import IncompatibleLibrary, Pin

__all__ = ["OTHER_PINS", "IncompatibleLibrary", "Pin", "apply", "check_all"]


def _channels() -> Mapping[str, tuple[object, list[str]]]:
    from channels import consumer

    return {
        "channels.consumer": (consumer, ["get_handler_name"]),
        "AsyncConsumer": (consumer.AsyncConsumer, ["dispatch"]),
    }


def _markdownify() -> Mapping[str, tuple[object, list[str]]]:
    from markdownify import MarkdownConverter

    return {"markdownify.MarkdownConverter": (MarkdownConverter, ["process_tag"])}


def _django_caches() -> Mapping[str, tuple[object, list[str]]]:
    from django.core.cache.backends.db import DatabaseCache
    from django.core.cache.backends.locmem import LocMemCache

    return {
        "DatabaseCache": (DatabaseCache("awsmcp_compat_check", {}), ["_table"]),
        "LocMemCache": (LocMemCache("awsmcp-compat-check", {}), ["_cache"]),
    }


def _prometheus() -> Mapping[str, tuple[object, list[str]]]:
    from prometheus_client import REGISTRY

    return {"prometheus_client.REGISTRY": (REGISTRY, ["_collector_to_names"])}


def _ratelimit() -> Mapping[str, tuple[object, list[str]]]:
    from django_ratelimit import core

    return {"django_ratelimit.core": (core, ["_split_rate"])}


OTHER_PINS = (
    Pin("mcp_gateway.transports.websocket (copied dispatch)", {"channels": "4.3.2"}, _channels),
    Pin("docs_proxy.convert (copied process_tag)", {"markdownify": "1.2.3"}, _markdownify),
    Pin("docs_proxy.cache.backends (cache backend privates)", {"django": "5.2.19"}, _django_caches),
    Pin("ops.metrics (registry privates)", {"prometheus-client": "0.26.0"}, _prometheus),
    Pin("awsmcp.compat.ratelimit (_split_rate)", {"django-ratelimit": "4.1.0"}, _ratelimit),
)


def check_all() -> list[str]:
    """Warn about every pin that no longer fits; returns the names of those that fit."""
    return [pin.name for pin in OTHER_PINS if pin.fits()]


def apply(*, body_bytes: int, unsent_bytes: int) -> None:
    """Install the serving adaptations with these bounds; raise `IncompatibleLibrary` if a bound cannot hold.

    Imports Daphne's server, which installs Twisted's asyncio reactor: call it in the serving process only."""
    from awsmcp.compat import daphne_server, twisted_buffer, twisted_http

    bounds.body_bytes = body_bytes
    bounds.unsent_bytes = unsent_bytes
    twisted_http.PIN.fits()
    twisted_buffer.PIN.fits()
    daphne_server.install()
    check_all()
