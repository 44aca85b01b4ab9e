"""`subscriptions/listen` (2026-07-28, SEP-2575): long-lived streams of the change notifications a client asked for.

It replaces the GET stream and `resources/subscribe` of earlier revisions. The handler acknowledges first, then
sends every catalogue change the client's filter lets through, each tagged with the subscription id (the listen
request's id), until the client leaves. The registry hears of changes from the catalogue of this process only:
the catalogue is code, so in a fleet every process changes (or not) on its own.

Task status (the tasks extension, SEP-2663): a client that declares the extension may list `taskIds`; the
acknowledgement names those that are its own (same owner as tasks/get: API key, else session, else address),
their current state follows at once, then each change as `notifications/tasks`. The changes come from the task
manager of this process. In a fleet (tasks on the shared store) a stream hears the changes of the tasks running on
its own process as they happen; those running on other processes it reads back from the store every
MCP_TASK_POLL_INTERVAL, one round trip for all of them (the store has no change feed), so it hears their changes
that late, and a state that lasted less than the interval may be missed (never the last one: each notification is
the whole task).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_gateway import tasks
from mcp_gateway.catalogue import Catalogue
from mcp_gateway.context import RequestContext
from mcp_gateway.jsonrpc import METHOD_NOT_FOUND, JsonRpcError, invalid_params, notification_message
from mcp_gateway.tasks.manager import TERMINAL, TaskManager
from mcp_gateway.versions import STATELESS_VERSIONS

if TYPE_CHECKING:
    from mcp_gateway.protocol import McpServer

log = logging.getLogger(__name__)

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"
# Filter flag -> the catalogue's change kind and the notification that announces it.
LIST_FLAGS = {
    "toolsListChanged": ("tools", "notifications/tools/list_changed"),
    "promptsListChanged": ("prompts", "notifications/prompts/list_changed"),
    "resourcesListChanged": ("resources", "notifications/resources/list_changed"),
}
RESOURCE_UPDATED = "notifications/resources/updated"
TASK = "task"  # the kind of a task's status change; its event names the task id

# A change: (kind, uri); uri is "" for the list changes, the resource's URI for kind "resource", the task id for
# kind "task" (whose latest state rides along with it in the queue).
Event = tuple[str, str]
Task = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Filter:
    """What one listen stream asked for (and is acknowledged with: every kind asked for is honoured)."""

    kinds: frozenset[str]
    uris: frozenset[str]
    task_ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, notifications: Any, max_uris: int, max_task_ids: int | None = None) -> Filter:
        if not isinstance(notifications, dict):
            raise invalid_params('subscriptions/listen needs "notifications" (an object)')
        kinds = frozenset(kind for flag, (kind, _) in LIST_FLAGS.items() if notifications.get(flag) is True)
        uris = _strings(notifications, "resourceSubscriptions", max_uris, "URIs")
        task_ids = _strings(notifications, "taskIds", max_uris if max_task_ids is None else max_task_ids, "task ids")
        return cls(kinds, uris, task_ids)

    def wants(self, event: Event) -> bool:
        kind, name = event
        if kind == "resource":
            return name in self.uris
        if kind == TASK:
            return name in self.task_ids
        return kind in self.kinds

    def wire(self) -> dict[str, Any]:
        honoured: dict[str, Any] = {flag: True for flag, (kind, _) in LIST_FLAGS.items() if kind in self.kinds}
        if self.uris:
            honoured["resourceSubscriptions"] = sorted(self.uris)
        if self.task_ids:
            honoured["taskIds"] = sorted(self.task_ids)
        return honoured


def _strings(notifications: dict[str, Any], field: str, most: int, what: str) -> frozenset[str]:
    values = notifications.get(field) or []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise invalid_params(f'"{field}" must be a list of {what}')
    if len(values) > most:
        raise invalid_params(f'"{field}" holds at most {most} {what}; listen on more streams')
    return frozenset(values)


class Listener:
    """One open stream's queue of changes not yet sent, ended rather than let grow past `max_queued` (the client
    listens again and refetches). A catalogue change is queued once (clients refetch); each state of a task is
    queued in order (each carries the whole task), a state the same as the last one queued of it only once.
    `owner` is whose tasks the stream may hear of.

    Over HTTP the queue is drained at every wakeup, because a send never waits (it only adds to the transport's
    output): `max_queued` then bounds only a burst that arrives within one turn of the event loop, and what bounds
    a client that stops reading is the transport's unsent output, MCP_STREAM_BUFFER_BYTES (the connection is cut
    past it)."""

    def __init__(self, wanted: Filter, max_queued: int, owner: str | None = None) -> None:
        self.filter = wanted
        self.max_queued = max_queued
        self.owner = owner
        # Ordered; keyed by the event (catalogue changes) or by (TASK, task id, n) (task states).
        self.pending: dict[tuple[Any, ...], tuple[Event, Task | None]] = {}
        self.overflowed = False
        self._states = 0
        self._wakeup = asyncio.Event()

    def deliver(self, event: Event, task: Task | None = None) -> None:
        if not self.filter.wants(event):
            return
        if event[0] == TASK:
            if task is None or self.last_queued(event[1]) == task:
                return
            self._states += 1
            key: tuple[Any, ...] = (*event, self._states)
        elif event in self.pending:
            return
        else:
            key = event
        if len(self.pending) >= self.max_queued:
            self.overflowed = True
        else:
            self.pending[key] = (event, task)
        self._wakeup.set()

    def deliver_task(self, owner: str, task: Task) -> None:
        """A task's new state, heard only by a stream of the task's owner that listed it."""
        if owner == self.owner:
            self.deliver((TASK, str(task.get("taskId"))), task)

    def last_queued(self, task_id: str) -> Task | None:
        """The newest state of this task waiting to be sent, if any."""
        states = [task for (kind, name), task in self.pending.values() if kind == TASK and name == task_id]
        return states[-1] if states else None

    def drop_unwanted(self) -> None:
        """Forget what was queued that the (narrowed) filter no longer lets through."""
        for key in [key for key, (event, _) in self.pending.items() if not self.filter.wants(event)]:
            del self.pending[key]

    async def next(self) -> tuple[Event, Task | None] | None:
        """The next change to send (with the task's state for a task); None once the stream fell too far behind
        (it then ends)."""
        while not self.pending and not self.overflowed:
            self._wakeup.clear()
            await self._wakeup.wait()
        if self.overflowed:
            return None
        return self.pending.pop(next(iter(self.pending)))


class Registry:
    """The open listen streams of this process; the catalogue and the task manager tell it of changes."""

    def __init__(self) -> None:
        self.listeners: set[Listener] = set()
        self._heard: TaskManager | None = None

    def publish(self, kind: str, uri: str = "") -> None:
        for listener in list(self.listeners):
            listener.deliver((kind, uri))

    async def publish_task(self, owner: str, task: Task) -> None:
        """The task manager's status listener: queues the new state on its owner's streams that asked for it."""
        for listener in list(self.listeners):
            listener.deliver_task(owner, task)

    def hear(self, manager: TaskManager) -> None:
        """Listen to the task manager's status changes (once; the manager is installed after this registry)."""
        if self._heard is not manager:
            manager.listeners.append(self.publish_task)
            self._heard = manager

    @contextlib.contextmanager
    def listen(self, wanted: Filter, max_queued: int, owner: str | None = None) -> Iterator[Listener]:
        listener = Listener(wanted, max_queued, owner)
        self.listeners.add(listener)
        try:
            yield listener
        finally:
            self.listeners.discard(listener)


def notification_for(event: Event, meta: dict[str, Any], task: Task | None = None) -> dict[str, Any]:
    kind, uri = event
    if kind == TASK and task is not None:
        return tasks.status_notification(task, meta)
    if kind == "resource":
        return notification_message(RESOURCE_UPDATED, {"uri": uri, "_meta": meta})
    method = next(method for flag_kind, method in LIST_FLAGS.values() if flag_kind == kind)
    return notification_message(method, {"_meta": meta})


class ListenHandler:
    """The `subscriptions/listen` method: runs as long as its stream is open (the client leaving cancels it)."""

    def __init__(self, registry: Registry, max_queued: int, max_uris: int, max_task_ids: int | None = None) -> None:
        self.registry = registry
        self.max_queued = max_queued
        self.max_uris = max_uris
        # Each listed task's current state is queued at once: more ids than the queue holds would end the stream.
        self.max_task_ids = min(max_queued, max_uris if max_task_ids is None else max_task_ids)

    async def __call__(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        if ctx.session.protocol_version not in STATELESS_VERSIONS:
            # Sessions of earlier revisions have their GET stream and resources/subscribe instead.
            raise JsonRpcError(METHOD_NOT_FOUND, "Method not found: subscriptions/listen")
        wanted = Filter.parse(params.get("notifications"), self.max_uris, self.max_task_ids)
        if wanted.task_ids and not tasks.declared(ctx):
            raise tasks.missing_capability()  # SEP-2663: task notifications only for clients that follow tasks
        meta = {SUBSCRIPTION_ID: ctx.request_id}
        owner = tasks.owner_of(ctx.session)
        # Listening before the acknowledgement is sent, so a change meanwhile is queued, not lost.
        with self.registry.listen(wanted, self.max_queued, owner) as listener:
            current = await self._own_tasks(listener, owner)
            await ctx.emit(notification_message(ACKNOWLEDGED, {"notifications": listener.filter.wire(), "_meta": meta}))
            for now in current:  # the state each listed task is in now, unless a newer one is already queued
                if listener.last_queued(now["taskId"]) is None:
                    listener.deliver((TASK, now["taskId"]), now)
            follower = follow_elsewhere(listener, owner, current)
            try:
                while (change := await listener.next()) is not None:
                    event, state = change
                    await ctx.emit(notification_for(event, meta, state))
            finally:
                if follower is not None:
                    follower.cancel()
        # Reached only when the stream fell behind: the result tells the client it ended on purpose.
        return {"_meta": meta}

    async def _own_tasks(self, listener: Listener, owner: str) -> list[Task]:
        """Narrows the stream's task ids to the owner's known tasks (what it is acknowledged with) and answers their
        current states, as tasks/get shows them; unknown ids, other owners' and those of a server without the tasks
        extension are left out."""
        wanted = listener.filter
        manager = tasks.manager()
        if not wanted.task_ids or manager is None:
            listener.filter = dataclasses.replace(wanted, task_ids=frozenset())
            return []
        self.registry.hear(manager)
        current: list[Task] = []
        for task_id in sorted(wanted.task_ids):
            try:
                task = await manager.get(owner, task_id)
            except JsonRpcError:
                continue  # not found, expired or not this owner's: the same answer tasks/get gives
            current.append({k: v for k, v in task.items() if k != "resultType"})
        listener.filter = dataclasses.replace(wanted, task_ids=frozenset(task["taskId"] for task in current))
        listener.drop_unwanted()
        return current


def follow_elsewhere(listener: Listener, owner: str, current: list[Task]) -> asyncio.Task[None] | None:
    """On a shared store, the listed tasks that run on other processes (whose changes this process is never told
    of) are read back every poll interval, one store round trip for all of them, and each new state queued, until
    they end or the stream does. None when there are none (or no shared store)."""
    manager = tasks.manager()
    if manager is None or not manager.store.shared:
        return None
    elsewhere = {
        task["taskId"]: task
        for task in current
        if task["status"] not in TERMINAL and not manager.runs_here(task["taskId"])
    }
    if not elsewhere:
        return None
    return asyncio.create_task(_follow(listener, manager, owner, elsewhere), name="mcp-listen-follow")


async def _follow(listener: Listener, manager: TaskManager, owner: str, last: dict[str, Task]) -> None:
    while last:
        await asyncio.sleep(manager.limits.poll_interval)
        try:
            found = await manager.peek(owner, sorted(last))
        except Exception:  # a bad round (the store away) is no news: the next one tries again
            log.exception("following tasks for a listen stream failed")
            continue
        for task_id, state in found.items():
            if state != last[task_id]:
                listener.deliver((TASK, task_id), state)
                last[task_id] = state
            if state["status"] in TERMINAL:
                del last[task_id]


def install(
    server: McpServer, catalogue: Catalogue, max_queued: int, max_uris: int, max_task_ids: int | None = None
) -> Registry:
    """Serve subscriptions/listen on `server` and advertise, in server/discover, the list changes it delivers.

    `max_task_ids`: task ids one stream may list (default `max_uris`; never more than `max_queued`)."""
    registry = Registry()
    catalogue.listeners.append(registry.publish)
    server.methods["subscriptions/listen"] = ListenHandler(registry, max_queued, max_uris, max_task_ids)
    discover = server.methods["server/discover"]

    async def discover_with_listen(params: dict[str, Any], ctx: RequestContext) -> Any:
        result = await discover(params, ctx)
        capabilities = result["capabilities"]
        for kind in ("tools", "prompts", "resources"):
            capabilities[kind] = {**capabilities.get(kind, {}), "listChanged": True}
        return result

    server.methods["server/discover"] = discover_with_listen
    return registry
