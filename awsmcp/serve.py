"""The server's entry point: `python -m awsmcp.serve [Daphne's options] awsmcp.asgi:application`.

Daphne's own command line (same flags: -b, -p, --proxy-headers, --verbosity, ...), with what the
serving process needs before it listens: the library adaptations of `awsmcp.compat` (the request-body
and unsent-output bounds; it refuses to start when a bound cannot hold), tracing set up when the OTEL_*
variables ask for it (`awsmcp.otel`), the startup heap frozen, and the background loops stopped (and the
queued spans sent) before the reactor stops, so a SIGTERM'd server ends cleanly.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import Any

from daphne.cli import CommandLineInterface

from awsmcp import compat, otel
from awsmcp.compat.daphne_server import Server

log = logging.getLogger("awsmcp.serve")  # also when run as __main__

# Allocations between young collections (CPython's default is 700). Every young collection promotes
# what is alive at that instant, in-flight requests included, and enough promotions trigger a full
# collection; with 10,000 open streams (~170 tracked objects each) a full one takes about a second.
YOUNG_GENERATION_THRESHOLD = 20_000


class Command(CommandLineInterface):
    """Daphne's command line, serving through `awsmcp.compat.daphne_server.Server`."""

    description = "awsmcp's server: Daphne with the request-body and unsent-output bounds (awsmcp.compat)"
    server_class = Server

    def __init__(self) -> None:
        super().__init__()
        self.parser.prog = "python -m awsmcp.serve"

    def load_asgi_app(self, asgi_app_path: str) -> Any:
        application = super().load_asgi_app(asgi_app_path)
        prepare()
        return application


def prepare() -> None:
    """Apply the library adaptations with the bounds from settings, stop background loops at shutdown, and
    freeze what startup left in memory (the application is imported by now)."""
    from django.conf import settings
    from twisted.internet import reactor as twisted_reactor

    reactor: Any = twisted_reactor  # typed as zope interfaces, which mypy misreads
    compat.apply(body_bytes=settings.MCP_MAX_BODY_BYTES, unsent_bytes=settings.MCP_STREAM_BUFFER_BYTES)
    reactor.addSystemEventTrigger("before", "shutdown", stop_background)
    if otel.setup() is not None:  # OTEL_EXPORTER_OTLP_ENDPOINT & co.: the queued spans leave before the process
        reactor.addSystemEventTrigger("before", "shutdown", flush_spans)
    freeze_startup_heap()


def stop_background() -> Any:
    """Cancel the background loops on the reactor's event loop; the reactor waits for the returned Deferred."""
    from twisted.internet.defer import Deferred

    from awsmcp import background

    log.info("stopping background loops: %s", ", ".join(background.running()) or "none")
    return Deferred.fromFuture(asyncio.ensure_future(background.stop()))


def flush_spans() -> Any:
    """Export the queued spans and stop the exporter, off the reactor's thread (bounded by the exporter's
    OTEL_EXPORTER_OTLP_TIMEOUT); the reactor waits for the returned Deferred."""
    from twisted.internet.threads import deferToThread

    return deferToThread(otel.shutdown)


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


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awsmcp.settings")
    try:
        Command().run(sys.argv[1:] if argv is None else argv)
    except (compat.IncompatibleLibrary, otel.TracingMisconfigured) as refusal:  # a traceback would bury the message
        sys.exit(f"awsmcp.serve: {refusal}")


if __name__ == "__main__":
    main()
