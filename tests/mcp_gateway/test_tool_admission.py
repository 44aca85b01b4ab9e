"""The core's tool_admission seam (per-tool rate rules live in ops): a refused call is a tool result the model can
read, with the refusal in `_meta`; the tool never runs, and a task-augmented call is refused before a task is made."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_gateway import tasks
from mcp_gateway.catalogue import Catalogue
from mcp_gateway.context import RequestContext
from mcp_gateway.protocol import REFUSED_META, RETRY_AFTER_META, McpServer, ToolRefusal
from mcp_gateway.sessions import ServerSession
from mcp_gateway.tasks.manager import TaskLimits
from mcp_gateway.tasks.store import MemoryStore
from tests.mcp_gateway.conftest import call, initialize
from tests.mcp_gateway.test_tasks_protocol import modern


class Admission:
    """Refuses `echo` once it has run `allowed` times; records every call it was asked about."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, name: str, ctx: RequestContext) -> ToolRefusal | None:
        self.asked.append((name, ctx.session.remote_ip))
        if name == "echo" and sum(1 for asked, _ in self.asked if asked == "echo") > self.allowed:
            return ToolRefusal("Rate limit echo-rule (2/m per IP) on tool echo exceeded; retry after 60 s", 60)
        return None


@pytest.fixture
def admission() -> Admission:
    return Admission(allowed=2)


@pytest.fixture
def admitting(catalogue: Catalogue, admission: Admission) -> McpServer:
    return McpServer(catalogue, version="test", tool_admission=admission)


def echo(text: str = "hi") -> dict[str, Any]:
    return {"name": "echo", "arguments": {"text": text}}


async def test_a_refused_call_is_a_tool_result_saying_why_and_when(
    admitting: McpServer, admission: Admission, session: ServerSession
) -> None:
    await initialize(admitting, session)
    answers = [(await call(admitting, session, "tools/call", echo(str(n))))["result"] for n in range(3)]
    assert [a["content"][0]["text"] for a in answers[:2]] == ["0", "1"]
    refused = answers[2]
    assert refused["isError"] is True
    assert refused["_meta"] == {REFUSED_META: "rate", RETRY_AFTER_META: 60}
    assert "echo-rule" in refused["content"][0]["text"] and "retry after 60 s" in refused["content"][0]["text"]


async def test_calls_the_rule_does_not_name_still_run(
    admitting: McpServer, admission: Admission, session: ServerSession
) -> None:
    await initialize(admitting, session)
    for n in range(4):
        await call(admitting, session, "tools/call", echo(str(n)))
    other = (await call(admitting, session, "tools/call", {"name": "chatty", "arguments": {}}))["result"]
    assert "_meta" not in other and not other.get("isError") and admission.asked[-1] == ("chatty", "")


async def test_bad_calls_are_answered_before_admission_counts_them(
    admitting: McpServer, admission: Admission, session: ServerSession
) -> None:
    await initialize(admitting, session)
    unknown = await call(admitting, session, "tools/call", {"name": "no-such-tool"})
    invalid = (await call(admitting, session, "tools/call", {"name": "echo", "arguments": {"text": 5}}))["result"]
    assert unknown["error"]["code"] == -32602 and invalid["isError"] and "Invalid arguments" in str(invalid)
    assert admission.asked == []


async def test_a_task_augmented_call_is_refused_before_its_task_is_made(
    admitting: McpServer, admission: Admission, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "_manager", None)
    monkeypatch.setattr(tasks, "offers", {})
    tasks.offer("echo", inline=0)
    manager = tasks.install(admitting, TaskLimits(max_tasks=10), MemoryStore())
    made: list[str] = []
    create = manager.create

    async def counted_create(owner: str, work: Any, **options: Any) -> dict[str, Any]:
        made.append(owner)
        return await create(owner, work, **options)

    monkeypatch.setattr(manager, "create", counted_create)
    for _ in range(2):
        assert (await modern(admitting, "tools/call", echo()))["result"]["resultType"] == "task"
    refused = (await modern(admitting, "tools/call", echo()))["result"]
    assert refused["isError"] is True and refused["_meta"][REFUSED_META] == "rate" and "taskId" not in refused
    assert len(made) == 2  # no task for the refused call
    # Counted once per call: a task's own run is not asked about again.
    assert [name for name, _ in admission.asked] == ["echo", "echo", "echo"]
