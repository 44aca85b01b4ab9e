"""How a request ended, in one word shared by the metrics, the audit trail and the request's span.

"ok", "tool_error", "refused" (an admission check turned a tool call away: REFUSED_META), "task" (accepted as a
task: its own end is tasks/get's), "input_required" (a 2026-07-28 round asking the client for more),
"error <code>" (a JSON-RPC error) and "cancelled" (no reply: the client cancelled or left).
"""

from __future__ import annotations

from typing import Any

# A tool result an admission check (a per-tool rate rule) refused carries this in its `_meta`, so that an observer
# tells "refused" from the tool's own errors.
REFUSED_META = "io.awsmcp/refused"
CANCELLED = "cancelled"
# Results that are not the request's end: the call goes on as a task, or after the client's answers.
_INTERIM = frozenset({"task", "input_required"})


def of_reply(reply: dict[str, Any] | None) -> str:
    """The outcome of a request answered with `reply` (None: no reply, the request was cancelled)."""
    if reply is None:
        return CANCELLED
    error = reply.get("error")
    if isinstance(error, dict):
        return f"error {error.get('code')}"
    result = reply.get("result")
    if not isinstance(result, dict):
        return "ok"
    if result.get("isError"):
        meta = result.get("_meta")
        return "refused" if isinstance(meta, dict) and meta.get(REFUSED_META) else "tool_error"
    kind = result.get("resultType")
    if kind in _INTERIM:
        return str(kind)
    if isinstance(result.get("task"), dict):  # a CreateTaskResult of 2025-11-25: {"task": {...}}
        return "task"
    return "ok"
