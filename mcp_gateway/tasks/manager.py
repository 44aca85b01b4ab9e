"""The task manager (SEP-2663): task records, the coroutine that runs each task, its questions to the client.

A task is a record in the store (what `tasks/get` shows, on any process) plus, on the process that made
it, the coroutine doing the work. The record is written only by that process; others leave their
`tasks/update` answers and `tasks/cancel` requests in small inbox keys beside it, which the running
process reads every `poll_interval` seconds. So a fleet needs no routing: any process answers
`tasks/get` from the record, and updates and cancels reach the work wherever it runs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcp_gateway import jsonrpc
from mcp_gateway.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, JsonRpcError
from mcp_gateway.tasks.store import TaskStore

log = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "failed", "cancelled"})
MAX_TASK_ID = 128  # longer ids were never issued: not looked up

Asker = Callable[[str, dict[str, Any] | None, float], Awaitable[Any]]
Work = Callable[[Asker], Awaitable[dict[str, Any]]]
# Told each new state of a task (owner, the task as tasks/get shows it); for notifications/tasks.
StatusListener = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """Bounds and pacing of tasks; `from_settings` reads them from the MCP_* settings."""

    max_tasks: int = 100  # unfinished tasks per owner (API key, session or address)
    max_kept: int = 1000  # finished tasks per owner whose results are kept (until their TTL)
    max_running: int = 1000  # tasks running in this process
    ttl: float = 3600.0  # seconds a task lives from its creation (its work is stopped then)
    max_ttl: float = 86400.0  # no tool may ask for a longer TTL
    max_result_bytes: int = 2 * 1024 * 1024  # a result kept for tasks/get
    poll_interval: float = 1.0  # the pollIntervalMs hint; also how often a task reads its inbox on a shared store
    inline_seconds: float = 1.0  # a call that finishes this soon is answered directly, no task
    max_input_requests: int = 16  # questions one task may have open at once

    @classmethod
    def from_settings(cls, settings: Any) -> TaskLimits:
        names = {
            "max_tasks": "MCP_MAX_TASKS",
            "max_kept": "MCP_MAX_KEPT_TASKS",
            "max_running": "MCP_MAX_RUNNING_TASKS",
            "ttl": "MCP_TASK_TTL",
            "max_ttl": "MCP_TASK_MAX_TTL",
            "max_result_bytes": "MCP_TASK_MAX_RESULT_BYTES",
            "poll_interval": "MCP_TASK_POLL_INTERVAL",
            "inline_seconds": "MCP_TASK_INLINE_SECONDS",
            "max_input_requests": "MCP_MAX_INPUT_REQUESTS",  # the same bound as an input-required round
        }
        defaults = cls()
        return cls(**{field_: getattr(settings, name, getattr(defaults, field_)) for field_, name in names.items()})


class TaskRefused(Exception):
    """No task was made (a bound was reached, or the store is away); the message says which."""


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


MEMORY_FULL = "The result was not kept: the server's task memory is full."


def not_found() -> JsonRpcError:
    return JsonRpcError(INVALID_PARAMS, "Failed to retrieve task: Task not found (unknown, expired or not yours)")


@dataclass(eq=False)
class _Run:
    """A task running in this process: its record (the authoritative copy) and its open questions."""

    owner: str
    record: dict[str, Any]
    expires: float  # wall-clock seconds
    work: asyncio.Future[dict[str, Any]] | None = None
    runner: asyncio.Task[None] | None = None
    waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    cancel_requested: bool = False
    asked: int = 0
    persisted: bool = False  # its record is in the store (an inline wait writes nothing until it gives up)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one write of the record at a time
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)  # making it known vs. its end

    @property
    def task_id(self) -> str:
        return str(self.record["taskId"])


class TaskManager:
    def __init__(
        self, store: TaskStore, limits: TaskLimits | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.limits = limits or TaskLimits()
        self.clock = clock
        self.listeners: list[StatusListener] = []
        self._running: dict[str, _Run] = {}
        self._index_lock = asyncio.Lock()

    # --- keys -----------------------------------------------------------------------------------
    @staticmethod
    def record_key(task_id: str) -> str:
        return f"mcp:task:{task_id}"

    @staticmethod
    def owner_key(owner: str) -> str:
        return f"mcp:tasks-of:{owner}"

    @staticmethod
    def kept_key(owner: str) -> str:
        return f"mcp:tasks-kept-of:{owner}"

    @staticmethod
    def cancel_key(task_id: str) -> str:
        return f"mcp:task:{task_id}:cancel"

    @staticmethod
    def answer_key(task_id: str, key: str) -> str:
        return f"mcp:task:{task_id}:answer:{key}"

    @staticmethod
    def alive_key(task_id: str) -> str:
        return f"mcp:task:{task_id}:alive"

    @property
    def liveness(self) -> float:
        """How long the mark of a running task outlives its last renewal (renewed every poll_interval)."""
        return max(5.0, 3 * self.limits.poll_interval)

    def running(self) -> int:
        return len(self._running)

    # --- creating and running -------------------------------------------------------------------
    async def create(self, owner: str, work: Work, *, ttl: float | None = None, inline: float = 0.0) -> dict[str, Any]:
        """Start `work` as a task of `owner`: the CreateTaskResult once the record can be read back, or the
        plain result when the work finished within `inline` seconds (then nothing was written). Raises
        TaskRefused (no work was started)."""
        if len(self._running) >= self.limits.max_running:
            raise TaskRefused(f"this server already runs {len(self._running)} tasks; try again later")
        lifetime = min(ttl or self.limits.ttl, self.limits.max_ttl)
        now = self.clock()
        record = {
            "taskId": secrets.token_urlsafe(24),
            "status": "working",
            "createdAt": iso(now),
            "lastUpdatedAt": iso(now),
            "ttlMs": int(lifetime * 1000),
            "pollIntervalMs": max(1, int(self.limits.poll_interval * 1000)),
        }
        run = _Run(owner, record, now + lifetime)
        if inline <= 0:
            await self._persist(run)  # TaskRefused: nothing was started
        self._running[run.task_id] = run
        run.work = asyncio.ensure_future(work(self._asker(run)))
        run.runner = asyncio.create_task(self._execute(run), name=f"mcp-task-{run.task_id[:8]}")
        if inline > 0:
            return await self._inline(run, inline)
        return created(record)

    async def _persist(self, run: _Run) -> None:
        """Makes the task known: counted against its owner, its record readable (from any process on a shared
        store) before anyone is told its id. Raises TaskRefused, also when the store fails in a way of its own (the
        caller then stops the work or answers it directly: no work runs unrecorded)."""
        async with run.gate:
            await self._claim(run)
            try:
                if self.store.shared:
                    await self.store.set(self.alive_key(run.task_id), True, self.liveness)
                run.persisted = True
                saved = await self._save(run, confirm=True)
            except Exception as exc:
                log.exception("task %s could not be recorded", run.task_id)
                run.persisted = False
                await self._unclaim(run)
                raise TaskRefused("the task store failed") from exc
            if not saved:
                run.persisted = False
                await self._unclaim(run)
                raise TaskRefused("the task store is not available (or the server's task memory is full)")

    async def _inline(self, run: _Run, seconds: float) -> dict[str, Any]:
        """The immediate-result shortcut: the work's own answer when it came within `seconds`, else a task (or,
        when no task may be made, the answer whenever it comes: inline waits suit tools that ask nothing)."""
        assert run.runner is not None
        try:
            await asyncio.wait({run.runner}, timeout=seconds)
            if not run.runner.done():
                try:
                    await self._persist(run)
                    return created(run.record)
                except TaskRefused:
                    await asyncio.shield(run.runner)
        except asyncio.CancelledError:  # the client left before it knew of a task: nobody will ask for it
            self._stop(run)
            raise
        record = run.record
        if record["status"] == "failed":
            error = record["error"]
            raise JsonRpcError(error["code"], error["message"], error.get("data"))
        return {k: v for k, v in record["result"].items() if k != "resultType"}  # the core adds its own

    async def _execute(self, run: _Run) -> None:
        watcher = asyncio.create_task(self._watch(run)) if self.store.shared else None
        try:
            outcome = await self._outcome(run)
            if watcher is not None:
                watcher.cancel()
            async with run.gate:  # not while the task is being made known: it is either known or not
                async with run.lock:
                    run.record.pop("inputRequests", None)
                    run.record.update(outcome)
                    run.record["lastUpdatedAt"] = iso(self.clock())
                if run.persisted:
                    await self._keep(run)
                    await self._release(run)
                    await self._publish(run)
        finally:
            if watcher is not None:
                watcher.cancel()
            self._running.pop(run.task_id, None)
            for future in run.waiting.values():
                future.cancel()

    async def _outcome(self, run: _Run) -> dict[str, Any]:
        """The fields that end the task: completed with the result, failed with the error, or cancelled."""
        assert run.work is not None
        try:
            result = await asyncio.wait_for(run.work, timeout=max(0.0, run.expires - self.clock()))
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not run.cancel_requested or (current is not None and current.cancelling()):
                raise  # the process is stopping: the record stays as it was until its TTL
            return {"status": "cancelled", "statusMessage": "Cancelled at the client's request."}
        except TimeoutError:
            return _failed(
                INTERNAL_ERROR, f"The task ran past its time to live ({run.record['ttlMs']} ms) and was stopped."
            )
        except JsonRpcError as exc:
            return {"status": "failed", "statusMessage": exc.message, "error": exc.to_dict()}
        except Exception:
            log.exception("task %s failed", run.task_id)
            return _failed(INTERNAL_ERROR, "Internal error")
        if not isinstance(result, dict):
            return _failed(INTERNAL_ERROR, "Internal error: the task's work gave no result object")
        size = len(jsonrpc.dumps_bytes(result))
        if size > self.limits.max_result_bytes:
            return _failed(
                INTERNAL_ERROR,
                f"The result is {size} bytes, over the {self.limits.max_result_bytes} bytes a task keeps; ask for less.",
            )
        return {"status": "completed", "result": {"resultType": "complete", **result}}

    async def _keep(self, run: _Run) -> None:
        """Writes the finished record; when the store refuses it (memory full), the task is kept as failed without
        its result, and when even that is refused its record is dropped (tasks/get then finds no such task)."""
        if await self._save(run):
            return
        async with run.lock:
            run.record.pop("result", None)
            run.record.update(_failed(INTERNAL_ERROR, MEMORY_FULL))
        if not await self._save(run):
            log.warning("task %s: no room even for its failure; its record is dropped", run.task_id)
            await self.store.delete(self.record_key(run.task_id))

    # --- questions to the client ----------------------------------------------------------------
    def _asker(self, run: _Run) -> Asker:
        async def ask(method: str, params: dict[str, Any] | None, timeout: float) -> Any:
            if len(run.waiting) >= self.limits.max_input_requests:
                raise JsonRpcError(
                    INVALID_REQUEST,
                    f"A task may wait for at most {self.limits.max_input_requests} answers from the client at once.",
                )
            run.asked += 1
            key = f"input-{run.asked}"  # unique over the task's life, as the spec asks
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            run.waiting[key] = future
            request: dict[str, Any] = {"method": method}
            if params is not None:
                request["params"] = params
            async with run.lock:
                run.record.setdefault("inputRequests", {})[key] = request
                self._touch(run, "input_required")
            await self._changed(run)
            try:
                return await asyncio.wait_for(future, timeout)
            finally:
                if self._forget(run, key):
                    await self._changed(run)

        return ask

    def _forget(self, run: _Run, key: str) -> bool:
        """Drop an answered (or abandoned) question; the task is working again once none is open."""
        run.waiting.pop(key, None)
        open_requests = run.record.get("inputRequests", {})
        if key not in open_requests:
            return False
        del open_requests[key]
        if not open_requests:
            run.record.pop("inputRequests", None)
            if run.record["status"] == "input_required":
                self._touch(run, "working")
        return True

    def _answer(self, run: _Run, key: str, value: Any) -> bool:
        future = run.waiting.get(key)
        if future is None or future.done():
            return False  # never asked, already answered, or given up: ignored, as the spec allows
        future.set_result(value)
        return self._forget(run, key)

    def _touch(self, run: _Run, status: str) -> None:
        run.record["status"] = status
        run.record["lastUpdatedAt"] = iso(self.clock())

    # --- tasks/get, tasks/update, tasks/cancel --------------------------------------------------
    async def get(self, owner: str, task_id: str) -> dict[str, Any]:
        """tasks/get: the task as it is now, from the running task here (freshest) or the store (any process);
        a task whose process stopped shows as failed, not working for ever. -32602 when not `owner`'s."""
        run = self._local(owner, task_id)
        if run is not None:
            return self._envelope(run.record)
        record = await self._load(owner, task_id)
        if record["status"] not in TERMINAL and self.store.shared:
            if not await self.store.get(self.alive_key(task_id)):
                record.pop("inputRequests", None)
                record.update(
                    _failed(INTERNAL_ERROR, "The server process running this task stopped before it finished.")
                )
            elif record["status"] == "input_required":
                record = await self._with_answers_left_out(record)
        return self._envelope(record)

    async def update(self, owner: str, task_id: str, responses: dict[str, Any]) -> None:
        """tasks/update: answers to the task's open questions, given to the work here or left in its inbox for the
        process running it. Answers to questions not open are ignored, as the spec allows; an answer that is not
        an object is -32602 (as in an input-required round), before any answer is used."""
        bad = sorted(key for key, value in responses.items() if not isinstance(value, dict))
        if bad:
            raise JsonRpcError(INVALID_PARAMS, f"Each input response must be an object; not so for: {', '.join(bad)}")
        run = self._local(owner, task_id)
        if run is not None:
            changed = [self._answer(run, key, value) for key, value in responses.items()]
            if any(changed):
                await self._changed(run)
            return
        record = await self._load(owner, task_id)
        open_requests = record.get("inputRequests") or {}
        remaining = self._remaining(record)
        for key, value in responses.items():
            if key in open_requests and record["status"] not in TERMINAL:
                await self.store.set(self.answer_key(task_id, key), {"answer": value}, remaining)

    async def cancel(self, owner: str, task_id: str) -> None:
        """tasks/cancel: stops the work here, or asks the process running it through its inbox; a finished task
        is left as it is (the ack is the same, as the spec asks)."""
        run = self._local(owner, task_id)
        if run is not None:
            self._stop(run)
            assert run.runner is not None
            # Cooperative work stops at its next await: wait a moment, so the next tasks/get shows it.
            await asyncio.wait({run.runner}, timeout=1.0)
            return
        record = await self._load(owner, task_id)
        if record["status"] not in TERMINAL:
            await self.store.set(self.cancel_key(task_id), True, self._remaining(record))

    def _stop(self, run: _Run) -> None:
        if not run.cancel_requested and run.work is not None and not run.work.done():
            run.cancel_requested = True
            run.work.cancel()

    def runs_here(self, task_id: str) -> bool:
        """Whether this process runs the task (its changes then reach `listeners`)."""
        return task_id in self._running

    async def peek(self, owner: str, task_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The states of `owner`'s tasks as tasks/get on this process would show them (without `resultType`), read
        in one store round trip (two for a task waiting for input): how a listen stream follows the tasks of other
        processes. Tasks unknown, expired or not `owner`'s are left out."""
        wanted = [task_id for task_id in task_ids if len(task_id) <= MAX_TASK_ID]
        keys = [self.record_key(task_id) for task_id in wanted] + [self.alive_key(task_id) for task_id in wanted]
        found = await self.store.get_many(keys)
        states: dict[str, dict[str, Any]] = {}
        for task_id in wanted:
            stored = found.get(self.record_key(task_id))
            if not isinstance(stored, dict) or stored.get("owner") != owner:
                continue
            record = dict(stored["task"])
            if record["status"] not in TERMINAL and self.store.shared and not found.get(self.alive_key(task_id)):
                record.pop("inputRequests", None)
                record.update(
                    _failed(INTERNAL_ERROR, "The server process running this task stopped before it finished.")
                )
            elif record["status"] == "input_required" and self.store.shared:
                record = await self._with_answers_left_out(record)
            states[task_id] = snapshot(record)
        return states

    def _local(self, owner: str, task_id: str) -> _Run | None:
        run = self._running.get(task_id)
        return run if run is not None and run.owner == owner else None

    async def _load(self, owner: str, task_id: str) -> dict[str, Any]:
        if len(task_id) > MAX_TASK_ID:
            raise not_found()
        stored = await self.store.get(self.record_key(task_id))
        if not isinstance(stored, dict) or stored.get("owner") != owner:
            raise not_found()
        record = dict(stored["task"])
        record["_expires"] = stored["expires"]
        return record

    def _remaining(self, record: dict[str, Any]) -> float:
        return max(1.0, float(record.get("_expires", 0)) - self.clock())

    async def _with_answers_left_out(self, record: dict[str, Any]) -> dict[str, Any]:
        """Another process runs this task: questions answered through this one are not shown open again."""
        task_id = record["taskId"]
        open_requests = dict(record.get("inputRequests") or {})
        answered = await self.store.get_many([self.answer_key(task_id, key) for key in open_requests])
        for key in list(open_requests):
            if self.answer_key(task_id, key) in answered:
                del open_requests[key]
        if open_requests:
            record["inputRequests"] = open_requests
        else:
            record.pop("inputRequests", None)
            record["status"] = "working"
        return record

    @staticmethod
    def _envelope(record: dict[str, Any]) -> dict[str, Any]:
        return {"resultType": "complete", **snapshot(record)}

    # --- a task running here, told of what other processes wrote --------------------------------
    async def _watch(self, run: _Run) -> None:
        """On a shared store: marks the task alive (a process that dies leaves its tasks failed, not working for
        ever) and picks up the answers and cancel requests other processes left in the inbox."""
        while True:
            await asyncio.sleep(self.limits.poll_interval)
            try:
                if await self._read_inbox(run):
                    return
            except Exception:  # keeps watching: a bad round must not leave the task deaf to cancels
                log.exception("task %s: reading its inbox failed", run.task_id)

    async def _read_inbox(self, run: _Run) -> bool:
        """One look at the inbox; True once the task was asked to stop."""
        if not run.persisted:
            return False  # nobody knows the task yet
        task_id = run.task_id
        await self.store.set(self.alive_key(task_id), True, self.liveness)
        keys = {self.answer_key(task_id, key): key for key in run.waiting}
        found = await self.store.get_many([self.cancel_key(task_id), *keys])
        if found.get(self.cancel_key(task_id)):
            self._stop(run)
            return True
        changed = [self._answer(run, keys[k], v["answer"]) for k, v in found.items() if k in keys]
        if any(changed):
            await self._changed(run)
        return False

    # --- the store ------------------------------------------------------------------------------
    async def _save(self, run: _Run, confirm: bool = False) -> bool:
        """Writes the record as it is now; one write at a time per task, so a late write never undoes a newer one."""
        async with run.lock:
            stored = {"task": snapshot(run.record), "owner": run.owner, "expires": run.expires}
            return await self.store.set(
                self.record_key(run.task_id), stored, max(1.0, run.expires - self.clock()), confirm=confirm
            )

    async def _changed(self, run: _Run) -> None:
        if run.persisted:
            await self._save(run)
            await self._publish(run)

    async def _claim(self, run: _Run) -> None:
        """Counts the task against its owner's MCP_MAX_TASKS (unfinished) and MCP_MAX_KEPT_TASKS (finished, result
        kept until the TTL). Read-modify-write: across processes, two creations at the same moment may both pass
        the last free place."""
        async with self._index_lock:
            now = self.clock()
            kept = await self._index(self.kept_key(run.owner), now)
            if len(kept) >= self.limits.max_kept:
                raise TaskRefused(
                    f"this client already has {len(kept)} finished tasks whose results are kept (the most allowed); "
                    "wait for their time to live to pass"
                )
            index = await self._index(self.owner_key(run.owner), now)
            if len(index) >= self.limits.max_tasks:
                raise TaskRefused(
                    f"this client already has {len(index)} unfinished tasks (the most allowed); "
                    "wait for one to finish or cancel one"
                )
            index[run.task_id] = run.expires
            await self._write_index(self.owner_key(run.owner), index, now)

    async def _release(self, run: _Run) -> None:
        """A finished task: no longer unfinished, but kept (counted against MCP_MAX_KEPT_TASKS) until its TTL."""
        async with self._index_lock:
            now = self.clock()
            index = await self._index(self.owner_key(run.owner), now)
            index.pop(run.task_id, None)
            await self._write_index(self.owner_key(run.owner), index, now)
            kept = await self._index(self.kept_key(run.owner), now)
            kept[run.task_id] = run.expires
            await self._write_index(self.kept_key(run.owner), kept, now)

    async def _unclaim(self, run: _Run) -> None:
        """A task that was never made known: its place is given back (best effort: the store may be failing)."""
        try:
            async with self._index_lock:
                now = self.clock()
                index = await self._index(self.owner_key(run.owner), now)
                index.pop(run.task_id, None)
                await self._write_index(self.owner_key(run.owner), index, now)
        except Exception:
            log.exception("task %s: its place could not be given back", run.task_id)

    async def _index(self, key: str, now: float) -> dict[str, float]:
        found = await self.store.get(key)
        index = found if isinstance(found, dict) else {}
        return {task_id: expires for task_id, expires in index.items() if expires > now}

    async def _write_index(self, key: str, index: dict[str, float], now: float) -> None:
        if index:
            await self.store.set(key, index, max(index.values()) - now)
        else:
            await self.store.delete(key)

    async def _publish(self, run: _Run) -> None:
        for listener in self.listeners:
            try:
                await listener(run.owner, snapshot(run.record))
            except Exception:
                log.exception("task status listener failed")


# What a CreateTaskResult carries: the task's own fields, never its result, error or questions (tasks/get shows those).
TASK_FIELDS = ("taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs")


def snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """The task as it is now, apart from the live record (whose open questions change as they are answered)."""
    copy = {k: v for k, v in record.items() if not k.startswith("_")}
    if "inputRequests" in copy:
        copy["inputRequests"] = dict(copy["inputRequests"])
    return copy


def created(record: dict[str, Any]) -> dict[str, Any]:
    return {"resultType": "task", **{k: record[k] for k in TASK_FIELDS if k in record}}


def _failed(code: int, message: str) -> dict[str, Any]:
    return {"status": "failed", "statusMessage": message, "error": {"code": code, "message": message}}
