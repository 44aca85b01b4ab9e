"""Startup tuning of the serving process (Daphne 4.2, Twisted 26), each change measured in bench/.

- Twisted parses each POST's Content-Type with the `email` package to look for form data (14% of
  the CPU of cached calls, per py-spy), and formats an access-log line that Daphne's log observer
  throws away. Daphne passes the raw body to ASGI and writes its own access log: neither is read.
- Daphne reaps finished requests once a second, so a second's worth of them (~50 objects each)
  outlives the young GC generations and makes every full collection slower; reap each at once.
- Objects from startup never die: freeze them out of the collector's sight.
Every change is idempotent and keeps behaviour.
"""

from __future__ import annotations

import functools
import gc
from typing import Any


def tune_daphne() -> None:
    try:
        from daphne import http_protocol
        from daphne.server import Server
        from twisted.web import http
    except ImportError:  # not running under Daphne (tests of plain modules, management commands)
        return
    parse = http._parseContentType
    if not hasattr(parse, "cache_info"):
        # Clients send a handful of distinct Content-Type lines; memoizing the parse keeps its result.
        http._parseContentType = functools.lru_cache(maxsize=64)(parse)

    def log(self: Any, request: Any) -> None:
        """Daphne logs each request itself (`--access-log`); Twisted's line went nowhere."""

    http_protocol.HTTPFactory.log = log  # type: ignore[method-assign]

    create = Server.create_application
    if getattr(create, "reaps", False):
        return

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        queue = create(self, protocol, scope)
        instance = self.connections.get(protocol, {}).get("application_instance")
        if instance is not None:
            instance.add_done_callback(functools.partial(_reap, self, protocol))
        return queue

    create_application.reaps = True  # type: ignore[attr-defined]
    Server.create_application = create_application  # type: ignore[method-assign]


def _reap(server: Any, protocol: Any, instance: Any) -> None:
    """Forget a finished request whose connection is done, as Daphne's checker would a second later.

    Failed or cancelled instances are left to the checker, which logs them."""
    details = server.connections.get(protocol)
    if details is None or details.get("application_instance") is not instance or not details.get("disconnected"):
        return
    if instance.cancelled() or instance.exception() is not None:
        return
    del server.connections[protocol]


# Allocations between young collections (CPython's default is 700). Every young collection promotes
# what is alive at that instant, in-flight requests included, and enough promotions trigger a full
# collection; with 10,000 open streams (~170 tracked objects each) a full one takes about a second.
YOUNG_GENERATION_THRESHOLD = 20_000


def freeze_startup_heap() -> None:
    """Move everything imported at startup out of the garbage collector's sight, and collect the
    young generation less often.

    Django, Twisted, lxml and the schemas leave ~120,000 long-lived objects, and every full
    collection walked them all: 60-100 ms pauses a few times a second under load, which were the
    whole p95 of cached calls (bench/). They are never freed, so freezing them changes nothing else.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
