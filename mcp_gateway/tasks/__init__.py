"""The tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`) on the protocol core.

`install(server, limits, store)` advertises the extension, adds `tasks/get`, `tasks/update` and
`tasks/cancel`, and wraps `tools/call`: a tool offered for tasks (`offer(name)`) runs as a task when the
request's client capabilities declare the extension (the server decides, the client only says it can
follow). Work that runs as a task asks the client through the task (`input_required` on `tasks/get`,
answers by `tasks/update`) instead of the request. A tool may also answer part of a call itself and
then go on as a task (`start`), e.g. after a synchronous input-required round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_gateway.context import RequestContext, drop_messages
from mcp_gateway.jsonrpc import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    JsonRpcError,
    invalid_params,
    notification_message,
)
from mcp_gateway.sessions import ServerSession
from mcp_gateway.tasks.manager import Asker, TaskLimits, TaskManager, TaskRefused
from mcp_gateway.tasks.store import TaskStore
from mcp_gateway.versions import STATEFUL_VERSIONS

if TYPE_CHECKING:
    from mcp_gateway.protocol import McpServer

EXTENSION = "io.modelcontextprotocol/tasks"
STATUS_NOTIFICATION = "notifications/tasks"

Support = Literal["optional", "required"]
ToolWork = Callable[[RequestContext], Awaitable[dict[str, Any]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Offer:
    """How a tool takes part in tasks: `required` tools refuse clients that cannot follow a task.

    `inline`: seconds to wait for the result before answering with a task (None: MCP_TASK_INLINE_SECONDS;
    0: always a task). `ttl`: the tool's own task lifetime in seconds (capped by MCP_TASK_MAX_TTL)."""

    support: Support = "optional"
    inline: float | None = None
    ttl: float | None = None


# Tool name -> its offer; filled by the apps' ready(), like the catalogue.
offers: dict[str, Offer] = {}
_manager: TaskManager | None = None


def offer(
    tool_name: str, support: Support = "optional", *, inline: float | None = None, ttl: float | None = None
) -> None:
    offers[tool_name] = Offer(support, inline, ttl)


def manager() -> TaskManager | None:
    """The process's task manager once installed; a listen stream adds its listener to `manager().listeners`."""
    return _manager


def status_notification(task: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """`notifications/tasks` for a task a listener heard of: the task as tasks/get shows it (SEP-2663), with the
    listen stream's `_meta` (its subscription id)."""
    params = {k: v for k, v in task.items() if k != "resultType"}
    if meta:
        params["_meta"] = meta
    return notification_message(STATUS_NOTIFICATION, params)


def declared(ctx: RequestContext) -> bool:
    """Whether this request's client can follow a task: a 2026-07-28 request that declares the extension (the
    extension is not offered to the stateful revisions)."""
    if ctx.session.protocol_version in STATEFUL_VERSIONS:
        return False
    extensions = ctx.session.client_capabilities.get("extensions")
    return isinstance(extensions, dict) and EXTENSION in extensions


def missing_capability() -> JsonRpcError:
    return JsonRpcError(
        MISSING_REQUIRED_CLIENT_CAPABILITY,
        f"Missing required client capability: the {EXTENSION} extension",
        {"requiredCapabilities": {"extensions": {EXTENSION: {}}}},
    )


def owner_of(session: ServerSession) -> str:
    """Whose tasks these are: the principal (an API key, or "oauth:<subject>": key names hold no ":", so neither
    can pose as the other), else the session (stateful revisions), else the client's address."""
    if session.key_name:
        return f"key:{session.key_name}"
    if session.protocol_version in STATEFUL_VERSIONS:
        return f"session:{session.id}"
    return f"ip:{session.remote_ip}"


async def start(
    ctx: RequestContext,
    work: ToolWork,
    *,
    required: bool = False,
    inline: float | None = None,
    ttl: float | None = None,
) -> dict[str, Any]:
    """Runs `work` as a task of this call when the client can follow one (else here, or -32021 when `required`).

    `work` gets a context whose questions to the client go through the task. Answers the CreateTaskResult,
    or the work's own result when it came within `inline` seconds or no task could be made."""
    if not declared(ctx):
        if required:
            raise missing_capability()
        return await work(ctx)
    if _manager is None:  # not installed (a core without tasks): the work runs as a plain call
        return await work(ctx)
    tasks = _manager

    def run(asker: Asker) -> Awaitable[dict[str, Any]]:
        # Nothing streams back from a task (progress and log messages have no request to ride on), and its
        # questions go through the task, not an input-required round of the request that made it.
        task_ctx = dataclasses.replace(
            ctx, emit=drop_messages, progress_token=None, log_level=None, hangup=None, asker=asker, round=None
        )
        return work(task_ctx)

    try:
        return await tasks.create(
            owner_of(ctx.session), run, ttl=ttl, inline=tasks.limits.inline_seconds if inline is None else inline
        )
    except TaskRefused as exc:
        if required:
            raise JsonRpcError(INVALID_REQUEST, f"No task could be made: {exc}") from None
        return await work(ctx)


def install(server: McpServer, limits: TaskLimits, store: TaskStore) -> TaskManager:
    """Adds the extension to `server`: its capability in server/discover (2026-07-28 only: `initialize` is left as
    it was), the tasks methods, tools/call that may answer a task."""
    global _manager
    tasks = _manager = TaskManager(store, limits)
    plain_call = server.methods["tools/call"]
    discover = server.methods["server/discover"]

    async def discover_with_tasks(params: dict[str, Any], ctx: RequestContext) -> Any:
        result = await discover(params, ctx)
        capabilities = result["capabilities"]  # a copy of the server's; its extensions are copied before adding
        capabilities["extensions"] = {**capabilities.get("extensions", {}), EXTENSION: {}}
        return result

    async def tools_call(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = params.get("name")
        found = offers.get(name) if isinstance(name, str) else None
        tool = server.catalogue.tool(name, ctx.partition) if found is not None and isinstance(name, str) else None
        if found is None or tool is None:
            return await plain_call(params, ctx)
        arguments = params.get("arguments")
        if not isinstance(arguments, dict | None) or tool.argument_errors(arguments or {}):
            # Answered at once, with the same message as without tasks, and before admission: a call that
            # cannot run is never counted by a tool rule.
            return await plain_call(params, ctx)
        refused = await server.tool_refusal(tool.name, ctx)  # before the task is made: a refused call makes none
        if refused is not None:
            return refused

        async def work(task_ctx: RequestContext) -> dict[str, Any]:
            return await server.call_admitted(params, task_ctx)

        return await start(ctx, work, required=found.support == "required", inline=found.inline, ttl=found.ttl)

    async def tasks_get(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await tasks.get(owner_of(ctx.session), _task_id(params, ctx))

    async def tasks_update(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        task_id = _task_id(params, ctx)
        responses = params.get("inputResponses")
        if not isinstance(responses, dict):
            raise invalid_params('tasks/update needs "inputResponses" (an object)')
        await tasks.update(owner_of(ctx.session), task_id, responses)
        return {"resultType": "complete"}

    async def tasks_cancel(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await tasks.cancel(owner_of(ctx.session), _task_id(params, ctx))
        return {"resultType": "complete"}

    server.methods["server/discover"] = discover_with_tasks
    server.methods["tools/call"] = tools_call
    server.methods["tasks/get"] = tasks_get
    server.methods["tasks/update"] = tasks_update
    server.methods["tasks/cancel"] = tasks_cancel
    return tasks


def _task_id(params: dict[str, Any], ctx: RequestContext) -> str:
    """The request's taskId, once the client has shown it can follow tasks (-32021 before anything else; the
    stateful revisions have no tasks methods: -32601, as before the extension)."""
    if ctx.session.protocol_version in STATEFUL_VERSIONS:
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {ctx.request_method}")
    if not declared(ctx):
        raise missing_capability()
    task_id = params.get("taskId")
    if not isinstance(task_id, str) or not task_id:
        raise invalid_params('"taskId" is required and must be a string')
    return task_id
