"""The task manager (SEP-2663), driven directly: states, results and errors, cancel, questions, TTL, bounds."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.conf import settings

from mcp_gateway.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, JsonRpcError
from mcp_gateway.tasks.manager import MEMORY_FULL, Asker, TaskLimits, TaskManager, TaskRefused
from mcp_gateway.tasks.store import CacheStore, MemoryStore

OWNER = "key:alice"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}]}


def manager(store: MemoryStore | None = None, **limits: Any) -> TaskManager:
    return TaskManager(MemoryStore() if store is None else store, TaskLimits(**limits))


async def polled(tasks: TaskManager, task_id: str, done: Callable[[dict[str, Any]], bool], owner: str = OWNER) -> Any:
    """tasks/get, as a client polls, until `done` holds for the task."""
    for _ in range(2000):
        task = await tasks.get(owner, task_id)
        if done(task):
            return task
        await asyncio.sleep(0.005)
    raise AssertionError(f"the task never got there: {task}")


async def settled(tasks: TaskManager, task_id: str, owner: str = OWNER) -> dict[str, Any]:
    return await polled(tasks, task_id, lambda t: t["status"] in ("completed", "failed", "cancelled"), owner)


async def until_status(tasks: TaskManager, task_id: str, status: str, owner: str = OWNER) -> dict[str, Any]:
    return await polled(tasks, task_id, lambda t: t["status"] == status, owner)


def returning(result: dict[str, Any]) -> Callable[[Asker], Awaitable[dict[str, Any]]]:
    async def work(ask: Asker) -> dict[str, Any]:
        return result

    return work


def blocked(gate: asyncio.Event) -> Callable[[Asker], Awaitable[dict[str, Any]]]:
    async def work(ask: Asker) -> dict[str, Any]:
        await gate.wait()
        return text("released")

    return work


async def test_a_task_is_announced_flat_and_found_at_once() -> None:
    tasks, gate = manager(ttl=60, poll_interval=0.5), asyncio.Event()
    created = await tasks.create(OWNER, blocked(gate))
    assert created["resultType"] == "task"
    assert created["status"] == "working"
    assert ISO.match(created["createdAt"]) and ISO.match(created["lastUpdatedAt"])
    assert created["ttlMs"] == 60_000 and created["pollIntervalMs"] == 500
    assert not {"task", "result", "error", "inputRequests", "requestState", "ttl", "pollInterval"} & set(created)
    got = await tasks.get(OWNER, created["taskId"])  # no wait: the record exists before the answer
    assert got["resultType"] == "complete"
    assert got["taskId"] == created["taskId"] and got["status"] == "working"
    assert "result" not in got and "error" not in got
    gate.set()
    done = await settled(tasks, created["taskId"])
    assert done["status"] == "completed"
    assert done["result"] == {"resultType": "complete", **text("released")}


async def test_a_tool_error_completes_and_a_json_rpc_error_fails() -> None:
    tasks = manager()
    tool_error = await tasks.create(OWNER, returning({**text("no such page"), "isError": True}))
    completed = await settled(tasks, tool_error["taskId"])
    assert completed["status"] == "completed" and completed["result"]["isError"] is True

    async def protocol_error(ask: Asker) -> dict[str, Any]:
        raise JsonRpcError(INVALID_PARAMS, "bad page", {"url": "x"})

    failed = await settled(tasks, (await tasks.create(OWNER, protocol_error))["taskId"])
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": INVALID_PARAMS, "message": "bad page", "data": {"url": "x"}}
    assert "result" not in failed


async def test_a_crash_fails_the_task_without_its_details() -> None:
    tasks = manager()

    async def crash(ask: Asker) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    failed = await settled(tasks, (await tasks.create(OWNER, crash))["taskId"])
    assert failed["error"] == {"code": INTERNAL_ERROR, "message": "Internal error"}
    assert "secret" not in str(failed)


async def test_cancel_stops_the_work_and_is_idempotent() -> None:
    tasks, started, stopped = manager(), asyncio.Event(), asyncio.Event()

    async def endless(ask: Asker) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        raise AssertionError("not reached")

    task_id = (await tasks.create(OWNER, endless))["taskId"]
    await started.wait()
    await tasks.cancel(OWNER, task_id)
    assert stopped.is_set()
    cancelled = await settled(tasks, task_id)
    assert cancelled["status"] == "cancelled"
    assert "result" not in cancelled and "error" not in cancelled
    await tasks.cancel(OWNER, task_id)  # terminal: the same quiet acknowledgement
    assert (await tasks.get(OWNER, task_id))["status"] == "cancelled"


async def test_a_finished_task_is_not_cancelled() -> None:
    tasks = manager()
    task_id = (await tasks.create(OWNER, returning(text("done"))))["taskId"]
    await settled(tasks, task_id)
    await tasks.cancel(OWNER, task_id)
    assert (await tasks.get(OWNER, task_id))["status"] == "completed"


@pytest.mark.parametrize("operation", ["get", "cancel", "update"])
async def test_unknown_and_foreign_tasks_are_invalid_params(operation: str) -> None:
    tasks = manager()
    mine = (await tasks.create(OWNER, returning(text("x"))))["taskId"]
    await settled(tasks, mine)
    for owner, task_id in ((OWNER, "no-such-task"), ("key:mallory", mine), (OWNER, "x" * 500)):
        with pytest.raises(JsonRpcError) as caught:
            if operation == "update":
                await tasks.update(owner, task_id, {})
            else:
                await getattr(tasks, operation)(owner, task_id)
        assert caught.value.code == INVALID_PARAMS
        assert "not found" in caught.value.message


async def test_a_question_shows_on_get_and_an_update_resumes_the_work() -> None:
    tasks = manager()

    async def confirm(ask: Asker) -> dict[str, Any]:
        answer = await ask("elicitation/create", {"message": "Delete?", "requestedSchema": {}}, 30)
        return text(f"answer: {answer['action']}")

    task_id = (await tasks.create(OWNER, confirm))["taskId"]
    waiting = await until_status(tasks, task_id, "input_required")
    ((key, request),) = waiting["inputRequests"].items()
    assert request == {"method": "elicitation/create", "params": {"message": "Delete?", "requestedSchema": {}}}
    await tasks.update(OWNER, task_id, {"never-asked": {"action": "accept"}})  # ignored
    assert (await tasks.get(OWNER, task_id))["status"] == "input_required"
    await tasks.update(OWNER, task_id, {key: {"action": "accept", "content": {}}})
    done = await settled(tasks, task_id)
    assert done["result"]["content"][0]["text"] == "answer: accept"
    assert "inputRequests" not in done
    await tasks.update(OWNER, task_id, {key: {"action": "decline"}})  # answered already: ignored


async def test_answering_one_of_two_questions_leaves_the_other_open() -> None:
    tasks = manager()

    async def two(ask: Asker) -> dict[str, Any]:
        first, second = await asyncio.gather(ask("elicitation/create", {}, 30), ask("elicitation/create", {}, 30))
        return text(f"{first['n']} {second['n']}")

    task_id = (await tasks.create(OWNER, two))["taskId"]
    waiting = await polled(tasks, task_id, lambda t: len(t.get("inputRequests", {})) == 2)
    first, second = waiting["inputRequests"]
    assert first != second
    await tasks.update(OWNER, task_id, {first: {"n": 1}})
    assert list(waiting["inputRequests"]) == [first, second]  # an answer already given is a snapshot
    after = await tasks.get(OWNER, task_id)  # no wait: the ack comes after the record changed
    assert after["status"] == "input_required" and list(after["inputRequests"]) == [second]
    await tasks.update(OWNER, task_id, {second: {"n": 2}})
    assert (await settled(tasks, task_id))["result"]["content"][0]["text"] == "1 2"


async def test_a_task_keeps_at_most_max_input_requests_questions_open() -> None:
    tasks = manager(max_input_requests=2)
    refused: list[JsonRpcError] = []

    async def greedy(ask: Asker) -> dict[str, Any]:
        asks = [asyncio.ensure_future(ask("elicitation/create", {}, 30)) for _ in range(2)]
        await asyncio.sleep(0)
        try:
            await ask("elicitation/create", {}, 30)
        except JsonRpcError as exc:
            refused.append(exc)
        for pending in asks:
            pending.cancel()
        return text("done")

    await settled(tasks, (await tasks.create(OWNER, greedy))["taskId"])
    assert refused and refused[0].code == INVALID_REQUEST
    assert "at most 2 answers" in refused[0].message


async def test_an_owner_has_at_most_max_tasks_unfinished() -> None:
    tasks, gate = manager(max_tasks=2), asyncio.Event()
    first = (await tasks.create(OWNER, blocked(gate)))["taskId"]
    await tasks.create(OWNER, blocked(gate))
    with pytest.raises(TaskRefused, match="already has 2 unfinished tasks"):
        await tasks.create(OWNER, blocked(gate))
    await tasks.create("key:bob", blocked(gate))  # others are not counted against alice
    await tasks.cancel(OWNER, first)
    await settled(tasks, first)
    await tasks.create(OWNER, blocked(gate))  # a finished task frees its place
    gate.set()


async def test_a_process_runs_at_most_max_running_tasks() -> None:
    tasks, gate = manager(max_running=1), asyncio.Event()
    await tasks.create(OWNER, blocked(gate))
    with pytest.raises(TaskRefused, match="already runs 1 tasks"):
        await tasks.create("key:bob", blocked(gate))
    gate.set()


async def test_a_result_over_max_result_bytes_fails_the_task() -> None:
    tasks = manager(max_result_bytes=1000)
    small = await settled(tasks, (await tasks.create(OWNER, returning(text("x" * 500))))["taskId"])
    assert small["status"] == "completed"
    big = await settled(tasks, (await tasks.create(OWNER, returning(text("x" * 2000))))["taskId"])
    assert big["status"] == "failed" and big["error"]["code"] == INTERNAL_ERROR
    assert "over the 1000 bytes a task keeps" in big["error"]["message"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_task_lives_until_its_ttl_and_not_after() -> None:
    clock = Clock()
    tasks = TaskManager(MemoryStore(clock=clock), TaskLimits(ttl=100), clock=clock)
    task_id = (await tasks.create(OWNER, returning(text("kept"))))["taskId"]
    await settled(tasks, task_id)
    clock.now += 99.5
    assert (await tasks.get(OWNER, task_id))["result"]["content"][0]["text"] == "kept"
    clock.now += 1.0
    with pytest.raises(JsonRpcError) as caught:
        await tasks.get(OWNER, task_id)
    assert caught.value.code == INVALID_PARAMS


async def test_a_tool_ttl_is_capped_by_max_ttl() -> None:
    tasks = manager(ttl=60, max_ttl=120)
    assert (await tasks.create(OWNER, returning(text("x")), ttl=30))["ttlMs"] == 30_000
    assert (await tasks.create(OWNER, returning(text("x")), ttl=10_000))["ttlMs"] == 120_000


async def test_work_still_running_at_its_ttl_is_stopped() -> None:
    tasks = manager(ttl=0.05)
    failed = await settled(tasks, (await tasks.create(OWNER, blocked(asyncio.Event())))["taskId"])
    assert failed["status"] == "failed"
    assert "ran past its time to live" in failed["error"]["message"]


async def test_quick_work_is_answered_directly_and_leaves_no_task() -> None:
    store = MemoryStore()
    tasks = manager(store)
    answer = await tasks.create(OWNER, returning(text("quick")), inline=5.0)
    assert answer == text("quick")
    assert len(store) == 0 and tasks.running() == 0

    async def refused(ask: Asker) -> dict[str, Any]:
        raise JsonRpcError(INVALID_PARAMS, "no such page")

    with pytest.raises(JsonRpcError, match="no such page"):
        await tasks.create(OWNER, refused, inline=5.0)


async def test_slow_work_past_the_inline_wait_becomes_a_task() -> None:
    tasks, gate = manager(), asyncio.Event()
    created = await tasks.create(OWNER, blocked(gate), inline=0.01)
    assert created["resultType"] == "task" and created["status"] == "working"
    gate.set()
    assert (await settled(tasks, created["taskId"]))["status"] == "completed"


async def test_listeners_hear_every_state() -> None:
    tasks, heard = manager(), []

    async def listener(owner: str, task: dict[str, Any]) -> None:
        heard.append((owner, task["status"]))

    async def broken(owner: str, task: dict[str, Any]) -> None:
        raise RuntimeError("a listener's bug")

    tasks.listeners += [broken, listener]

    async def confirm(ask: Asker) -> dict[str, Any]:
        await ask("elicitation/create", {}, 30)
        return text("ok")

    task_id = (await tasks.create(OWNER, confirm))["taskId"]
    key = next(iter((await until_status(tasks, task_id, "input_required"))["inputRequests"]))
    await tasks.update(OWNER, task_id, {key: {"action": "accept"}})
    await settled(tasks, task_id)
    assert heard == [(OWNER, "input_required"), (OWNER, "working"), (OWNER, "completed")]


class SharedMemory(MemoryStore):
    """One store two managers share, as two processes share Redis."""

    shared = True


async def test_another_process_answers_get_update_and_cancel() -> None:
    store = SharedMemory()
    here, there = manager(store, poll_interval=0.01), manager(store, poll_interval=0.01)

    async def confirm(ask: Asker) -> dict[str, Any]:
        answer = await ask("elicitation/create", {"message": "Go?"}, 30)
        return text(f"answer: {answer['action']}")

    task_id = (await here.create(OWNER, confirm))["taskId"]
    waiting = await until_status(there, task_id, "input_required")
    key = next(iter(waiting["inputRequests"]))
    await there.update(OWNER, task_id, {key: {"action": "accept"}, "never-asked": {}})
    assert (await there.get(OWNER, task_id))["status"] != "input_required"  # the answer is not asked again
    done = await settled(there, task_id)
    assert done["result"]["content"][0]["text"] == "answer: accept"

    endless = (await here.create(OWNER, blocked(asyncio.Event())))["taskId"]
    await there.cancel(OWNER, endless)
    assert (await settled(there, endless))["status"] == "cancelled"
    with pytest.raises(JsonRpcError):
        await there.get("key:mallory", endless)


async def test_a_task_whose_process_died_shows_as_failed_elsewhere() -> None:
    clock = Clock()
    store = SharedMemory(clock=clock)
    here, there = manager(store), manager(store)
    task_id = (await here.create(OWNER, blocked(asyncio.Event())))["taskId"]
    assert (await there.get(OWNER, task_id))["status"] == "working"
    runner = here._running[task_id].runner
    assert runner is not None
    runner.cancel()  # the process stops: no final record, no more renewals of the task's mark
    await asyncio.wait({runner})
    assert (await there.get(OWNER, task_id))["status"] == "working"
    clock.now += here.liveness + 1
    gone = await there.get(OWNER, task_id)
    assert gone["status"] == "failed" and "stopped before it finished" in gone["error"]["message"]


def test_the_limits_come_from_the_settings() -> None:
    limits = TaskLimits.from_settings(settings)
    assert limits.max_tasks == settings.MCP_MAX_TASKS and limits.max_kept == settings.MCP_MAX_KEPT_TASKS
    assert limits.max_running == settings.MCP_MAX_RUNNING_TASKS
    assert limits.ttl == settings.MCP_TASK_TTL and limits.max_ttl == settings.MCP_TASK_MAX_TTL
    assert limits.max_result_bytes == settings.MCP_TASK_MAX_RESULT_BYTES
    assert limits.poll_interval == settings.MCP_TASK_POLL_INTERVAL
    assert limits.inline_seconds == settings.MCP_TASK_INLINE_SECONDS
    assert limits.max_input_requests == settings.MCP_MAX_INPUT_REQUESTS


class Watched(MemoryStore):
    """A memory store that remembers the most bytes it ever held."""

    peak = 0

    async def set(self, key: str, value: Any, ttl: float, confirm: bool = False) -> bool:
        written = await super().set(key, value, ttl, confirm)
        self.peak = max(self.peak, self.bytes)
        return written


async def test_without_redis_task_records_are_bounded_by_their_bytes() -> None:
    store = Watched(max_bytes=1200, reserve=400)  # new tasks leave 400 bytes for the states of those made
    tasks = manager(store)
    big = (await tasks.create(OWNER, returning(text("x" * 1500))))["taskId"]
    failed = await settled(tasks, big)  # a result that does not fit is not kept: the task fails, and says why
    assert failed["status"] == "failed" and "result" not in failed
    assert failed["error"] == {"code": INTERNAL_ERROR, "message": MEMORY_FULL}
    made = []
    with pytest.raises(TaskRefused, match="task memory is full"):
        for _ in range(100):
            made.append((await tasks.create(OWNER, returning(text("y"))))["taskId"])
            assert (await settled(tasks, made[-1]))["status"] == "completed"
    assert made and store.peak <= 1200  # never past the bound, not even by one write
    assert store.bytes > 800  # the reserve is used by the tasks made, not by new ones
    await store.delete(TaskManager.record_key(big))
    await tasks.create(OWNER, returning(text("z")))  # room again


async def test_a_finished_task_with_no_room_even_for_its_failure_is_dropped() -> None:
    store, gate = Watched(), asyncio.Event()
    tasks = manager(store)
    task_id = (await tasks.create(OWNER, blocked(gate)))["taskId"]
    store.max_bytes = store.bytes  # full: the working record fits, nothing bigger does
    gate.set()
    await polled_until(lambda: tasks.running() == 0)
    with pytest.raises(JsonRpcError) as caught:
        await tasks.get(OWNER, task_id)
    assert caught.value.code == INVALID_PARAMS
    assert store.bytes <= store.max_bytes


async def polled_until(done: Callable[[], bool]) -> None:
    for _ in range(2000):
        if done():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


async def test_an_owner_keeps_at_most_max_kept_finished_tasks() -> None:
    clock = Clock()
    tasks = TaskManager(MemoryStore(clock=clock), TaskLimits(max_kept=2, ttl=100), clock=clock)
    for _ in range(2):
        await settled(tasks, (await tasks.create(OWNER, returning(text("kept"))))["taskId"])
    with pytest.raises(TaskRefused, match="already has 2 finished tasks whose results are kept"):
        await tasks.create(OWNER, returning(text("one more")))
    await tasks.create("key:bob", returning(text("x")))  # others are not counted against alice
    clock.now += 101  # their TTL passed: their results are gone, and so are their places
    await tasks.create(OWNER, returning(text("room again")))


async def test_answers_that_are_not_objects_are_invalid_params() -> None:
    store = SharedMemory()
    here, there = manager(store), manager(store)

    async def confirm(ask: Asker) -> dict[str, Any]:
        answer = await ask("elicitation/create", {"message": "Go?"}, 30)
        return text(answer["action"])

    task_id = (await here.create(OWNER, confirm))["taskId"]
    key = next(iter((await until_status(here, task_id, "input_required"))["inputRequests"]))
    for tasks in (here, there):  # answered on the process running it, or on another one
        for answer in ("accept", None, ["accept"], 12345):
            with pytest.raises(JsonRpcError) as caught:
                await tasks.update(OWNER, task_id, {key: answer})
            assert caught.value.code == INVALID_PARAMS
    assert (await here.get(OWNER, task_id))["status"] == "input_required"  # nothing was taken as an answer
    await here.update(OWNER, task_id, {key: {"action": "accept"}})
    assert (await settled(here, task_id))["result"]["content"][0]["text"] == "accept"


class Broken(MemoryStore):
    """A store that raises on the write that makes a task known (not the polite False of a store that is down)."""

    async def set(self, key: str, value: Any, ttl: float, confirm: bool = False) -> bool:
        if confirm:
            raise ConnectionError("the store broke")
        return await super().set(key, value, ttl, confirm)


async def test_a_store_that_breaks_while_a_task_is_made_leaves_no_work_unrecorded() -> None:
    store, gate = Broken(), asyncio.Event()
    tasks = manager(store)
    with pytest.raises(TaskRefused, match="the task store failed"):  # the caller answers directly or refuses
        await tasks.create(OWNER, blocked(gate))
    assert tasks.running() == 0 and len(store) == 0  # nothing started, its place given back

    async def slow(ask: Asker) -> dict[str, Any]:
        await gate.wait()
        return text("direct")

    answer = asyncio.ensure_future(tasks.create(OWNER, slow, inline=0.01))  # past the inline wait: no task made
    await polled_until(lambda: len(store) == 0 and tasks.running() == 1)
    gate.set()
    assert await answer == text("direct")  # the work's own answer, as when a bound refuses the task
    assert tasks.running() == 0 and len(store) == 0


class Flaky(SharedMemory):
    """A shared store whose first inbox read fails."""

    failed = False

    async def get_many(self, keys: Any) -> dict[str, Any]:
        if not self.failed:
            self.failed = True
            raise ConnectionError("the store went away for a moment")
        return await super().get_many(keys)


async def test_a_failed_inbox_read_does_not_leave_the_task_deaf() -> None:
    store = Flaky()
    here, there = manager(store, poll_interval=0.01), manager(store, poll_interval=0.01)
    task_id = (await here.create(OWNER, blocked(asyncio.Event())))["taskId"]
    await there.cancel(OWNER, task_id)
    assert (await settled(there, task_id))["status"] == "cancelled"
    assert store.failed


async def test_the_cache_store_confirms_a_new_task_by_reading_it_back() -> None:
    """CacheStore over a cache reached through `call` (None when the store is down): whole seconds, rounded up,
    and a confirmed write is True only once the value can be read."""
    kept: dict[str, Any] = {}
    calls: list[tuple[Any, ...]] = []
    down = False

    async def call(operation: str, *args: Any) -> Any:
        calls.append((operation, *args))
        if down:
            return None
        if operation == "set":
            kept[args[0]] = args[1]
            return None
        if operation == "get_many":
            return {k: kept[k] for k in args[0] if k in kept}
        return kept.get(args[0]) if operation == "get" else kept.pop(args[0], None)

    store = CacheStore(call)
    assert await store.set("a", {"x": 1}, 2.2, confirm=True)
    assert calls[0] == ("set", "a", {"x": 1}, 3)
    assert await store.get_many(["a", "b"]) == {"a": {"x": 1}}
    down = True
    assert not await store.set("b", 1, 10, confirm=True)
    assert await store.get_many(["a"]) == {}
    down = False
    await store.delete("a")
    assert await store.get("a") is None


async def test_a_question_asked_during_the_inline_wait_shows_once_the_task_is_made() -> None:
    store = MemoryStore()
    tasks = manager(store)

    async def confirm(ask: Asker) -> dict[str, Any]:
        answer = await ask("elicitation/create", {"message": "Go?"}, 30)
        return text(answer["action"])

    created = await tasks.create(OWNER, confirm, inline=0.01)
    assert created["resultType"] == "task" and "inputRequests" not in created
    waiting = await tasks.get(OWNER, created["taskId"])
    assert waiting["status"] == "input_required"
    stored = await store.get(TaskManager.record_key(created["taskId"]))
    assert stored["task"]["inputRequests"] == waiting["inputRequests"]  # the record was written with the question
    await tasks.update(OWNER, created["taskId"], {next(iter(waiting["inputRequests"])): {"action": "accept"}})
    assert (await settled(tasks, created["taskId"]))["result"]["content"][0]["text"] == "accept"


class Refusals(TaskManager):
    """Tells when a task could not be made known (past its inline wait)."""

    def __init__(self, store: MemoryStore, limits: TaskLimits) -> None:
        super().__init__(store, limits)
        self.refused = asyncio.Event()

    async def _persist(self, run: Any) -> None:
        try:
            await super()._persist(run)
        except TaskRefused:
            self.refused.set()
            raise


async def test_past_the_inline_wait_an_owner_at_max_tasks_gets_the_answer_directly() -> None:
    store, gate, release = MemoryStore(), asyncio.Event(), asyncio.Event()
    tasks = Refusals(store, TaskLimits(max_tasks=1))
    await tasks.create(OWNER, blocked(gate))  # alice's one task

    async def slow(ask: Asker) -> dict[str, Any]:
        await release.wait()
        return text("late but direct")

    answer = asyncio.ensure_future(tasks.create(OWNER, slow, inline=0.01))
    await tasks.refused.wait()  # past the inline wait, the task was refused (alice is at her bound)
    assert not answer.done()  # so the call waits for the work itself ...
    assert tasks.running() == 2 and len(store) == 2  # ... which runs unrecorded: alice's record and index
    release.set()
    assert await answer == text("late but direct")
    assert tasks.running() == 1 and len(store) == 2
    gate.set()
