"""`subscriptions/listen` (2026-07-28, SEP-2575): long-lived streams of the change notifications a client asked for.

It replaces the GET stream and `resources/subscribe` of earlier revisions. The handler acknowledges first, then
sends every catalogue change the client's filter lets through, each tagged with the subscription id (the listen
request's id), until the client leaves. The registry hears of changes from the catalogue of this process only:
the catalogue is code, so in a fleet every process changes (or not) on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_gateway.catalogue import Catalogue
from mcp_gateway.context import RequestContext
from mcp_gateway.jsonrpc import METHOD_NOT_FOUND, JsonRpcError, invalid_params, notification_message
from mcp_gateway.versions import STATELESS_VERSIONS

if TYPE_CHECKING:
    from mcp_gateway.protocol import McpServer

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"
# Filter flag -> the catalogue's change kind and the notification that announces it.
LIST_FLAGS = {
    "toolsListChanged": ("tools", "notifications/tools/list_changed"),
    "promptsListChanged": ("prompts", "notifications/prompts/list_changed"),
    "resourcesListChanged": ("resources", "notifications/resources/list_changed"),
}
RESOURCE_UPDATED = "notifications/resources/updated"

# A change: (kind, uri); uri is "" for the list changes, the resource's URI for kind "resource".
Event = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Filter:
    """What one listen stream asked for (and is acknowledged with: every kind asked for is honoured)."""

    kinds: frozenset[str]
    uris: frozenset[str]

    @classmethod
    def parse(cls, notifications: Any, max_uris: int) -> Filter:
        if not isinstance(notifications, dict):
            raise invalid_params('subscriptions/listen needs "notifications" (an object)')
        kinds = frozenset(kind for flag, (kind, _) in LIST_FLAGS.items() if notifications.get(flag) is True)
        uris = notifications.get("resourceSubscriptions") or []
        if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
            raise invalid_params('"resourceSubscriptions" must be a list of URIs')
        if len(uris) > max_uris:
            raise invalid_params(f'"resourceSubscriptions" holds at most {max_uris} URIs; listen on more streams')
        return cls(kinds, frozenset(uris))

    def wants(self, event: Event) -> bool:
        kind, uri = event
        return uri in self.uris if kind == "resource" else kind in self.kinds

    def wire(self) -> dict[str, Any]:
        honoured: dict[str, Any] = {flag: True for flag, (kind, _) in LIST_FLAGS.items() if kind in self.kinds}
        if self.uris:
            honoured["resourceSubscriptions"] = sorted(self.uris)
        return honoured


class Listener:
    """One open stream's queue of changes not yet sent: the same change is queued once (clients refetch),
    and a stream that falls `max_queued` changes behind is ended rather than let grow."""

    def __init__(self, wanted: Filter, max_queued: int) -> None:
        self.filter = wanted
        self.max_queued = max_queued
        self.pending: dict[Event, None] = {}  # ordered, without repeats
        self.overflowed = False
        self._wakeup = asyncio.Event()

    def deliver(self, event: Event) -> None:
        if not self.filter.wants(event) or event in self.pending:
            return
        if len(self.pending) >= self.max_queued:
            self.overflowed = True
        else:
            self.pending[event] = None
        self._wakeup.set()

    async def next(self) -> Event | None:
        """The next change to send; None once the stream fell too far behind (it then ends)."""
        while not self.pending and not self.overflowed:
            self._wakeup.clear()
            await self._wakeup.wait()
        if self.overflowed:
            return None
        event = next(iter(self.pending))
        del self.pending[event]
        return event


class Registry:
    """The open listen streams of this process; the catalogue tells it of changes."""

    def __init__(self) -> None:
        self.listeners: set[Listener] = set()

    def publish(self, kind: str, uri: str = "") -> None:
        for listener in list(self.listeners):
            listener.deliver((kind, uri))

    @contextlib.contextmanager
    def listen(self, wanted: Filter, max_queued: int) -> Iterator[Listener]:
        listener = Listener(wanted, max_queued)
        self.listeners.add(listener)
        try:
            yield listener
        finally:
            self.listeners.discard(listener)


def notification_for(event: Event, meta: dict[str, Any]) -> dict[str, Any]:
    kind, uri = event
    if kind == "resource":
        return notification_message(RESOURCE_UPDATED, {"uri": uri, "_meta": meta})
    method = next(method for flag_kind, method in LIST_FLAGS.values() if flag_kind == kind)
    return notification_message(method, {"_meta": meta})


class ListenHandler:
    """The `subscriptions/listen` method: runs as long as its stream is open (the client leaving cancels it)."""

    def __init__(self, registry: Registry, max_queued: int, max_uris: int) -> None:
        self.registry = registry
        self.max_queued = max_queued
        self.max_uris = max_uris

    async def __call__(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if ctx.session.protocol_version not in STATELESS_VERSIONS:
            # Sessions of earlier revisions have their GET stream and resources/subscribe instead.
            raise JsonRpcError(METHOD_NOT_FOUND, "Method not found: subscriptions/listen")
        wanted = Filter.parse(params.get("notifications"), self.max_uris)
        meta = {SUBSCRIPTION_ID: ctx.request_id}
        # Listening before the acknowledgement is sent, so a change meanwhile is queued, not lost.
        with self.registry.listen(wanted, self.max_queued) as listener:
            await ctx.emit(notification_message(ACKNOWLEDGED, {"notifications": wanted.wire(), "_meta": meta}))
            while (event := await listener.next()) is not None:
                await ctx.emit(notification_for(event, meta))
        # Reached only when the stream fell behind: the result tells the client it ended on purpose.
        return {"_meta": meta}


def install(server: McpServer, catalogue: Catalogue, max_queued: int, max_uris: int) -> Registry:
    """Serve subscriptions/listen on `server` and advertise, in server/discover, the list changes it delivers."""
    registry = Registry()
    catalogue.listeners.append(registry.publish)
    server.methods["subscriptions/listen"] = ListenHandler(registry, max_queued, max_uris)
    discover = server.methods["server/discover"]

    async def discover_with_listen(params: dict[str, Any], ctx: RequestContext) -> Any:
        result = await discover(params, ctx)
        capabilities = result["capabilities"]
        for kind in ("tools", "prompts", "resources"):
            capabilities[kind] = {**capabilities.get(kind, {}), "listChanged": True}
        return result

    server.methods["server/discover"] = discover_with_listen
    return registry
