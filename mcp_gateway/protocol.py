"""The MCP protocol core: lifecycle, version negotiation and method dispatch, in plain asyncio.

Transports hand it classified JSON-RPC messages together with an `emit` callable for in-call
messages (progress, logging, server-to-client requests); it returns the replies to send. It knows
nothing of HTTP, WebSockets or Django.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_gateway import jsonrpc, outcomes, stateless, tracing
from mcp_gateway.catalogue import MAX_URI_CHARS, Catalogue, Resource, ResourceTemplate, ToolError
from mcp_gateway.context import Hangup, RequestContext, drop_messages
from mcp_gateway.input_required import (
    INPUT_REQUIRED_METHODS,
    HmacCodec,
    InputRequired,
    Rounds,
    StateCodec,
    StateRejected,
)
from mcp_gateway.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    Invalid,
    JsonRpcError,
    Message,
    Notification,
    Payload,
    Request,
    Response,
    invalid_params,
)
from mcp_gateway.sessions import LOG_LEVELS, Emit, ServerSession
from mcp_gateway.versions import (
    BATCH_VERSIONS,
    LATEST_STATEFUL,
    STATEFUL_VERSIONS,
    STATELESS_VERSIONS,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], RequestContext], Awaitable[Any]]


class Observer:
    """Told about every request handled (metrics live outside the core and register here)."""

    def request_done(self, method: str, tool: str | None, seconds: float, outcome: str) -> None: ...

    def tool_called(self, session: ServerSession, request: Request, seconds: float, outcome: str) -> None:
        """Told about each tools/call with who sent it (an audit trail lives outside the core and registers here).

        `outcome` is request_done's (mcp_gateway.outcomes): "cancelled" too when the client left mid-call."""


REFUSED_META = outcomes.REFUSED_META  # where admission checks and observers have always found it


observers: list[Observer] = []

# Methods whose handlers may run long: they get their own task so that a cancel stops them.
_CANCELLABLE = frozenset({"tools/call", "resources/read", "prompts/get", "completion/complete"})
_BEFORE_INIT = frozenset({"initialize", "ping"})
MAX_COMPLETIONS = 100
# resources/list pages: what MCP_RESOURCES_PAGE_SIZE may be, and the longest cursor worth opening (ours are
# well under it: a partition, a directory name and its position, signed).
MAX_RESOURCES_PAGE_SIZE = 1000
MAX_CURSOR_CHARS = 2000
# Result fields a resource reader may add besides `contents`: the 2026-07-28 revision's cache hints.
_READ_RESULT_FIELDS = frozenset({"contents", "_meta", "ttlMs", "cacheScope"})


def _no_tracer() -> Tracer | None:
    return None


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_error_result(message: str) -> dict[str, Any]:
    return {"content": [_text(message)], "isError": True}


# `_meta` key of a refused tool call's retry time, beside REFUSED_META (why: "rate"), by which observers tell
# "refused" from the tool's own errors.
RETRY_AFTER_META = "io.awsmcp/retryAfter"


@dataclass(frozen=True, slots=True)
class ToolRefusal:
    """Why a tool call may not run now (a rate rule): told to the model as a tool result, so it can wait and retry."""

    message: str
    retry_after: int | None = None
    reason: str = "rate"

    def result(self) -> dict[str, Any]:
        meta: dict[str, Any] = {REFUSED_META: self.reason}
        if self.retry_after is not None:
            meta[RETRY_AFTER_META] = self.retry_after
        return {**tool_error_result(self.message), "_meta": meta}


# Asked before a tool runs (after its arguments were checked): a refusal, or None to let it run.
ToolAdmission = Callable[[str, RequestContext], Awaitable[ToolRefusal | None]]


class McpServer:
    """Dispatches MCP requests for sessions against a catalogue of tools, resources and prompts."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        name: str = "awsmcp",
        title: str | None = None,
        version: str = "0",
        instructions: Callable[[str], str] | None = None,
        max_batch: int = 32,
        max_batch_answer_bytes: int = 16 * 1024 * 1024,
        rounds: Rounds | None = None,
        resources_page_size: int = 100,
        cursors: StateCodec | None = None,
        partition_scopes: Callable[[str], frozenset[str]] | None = None,
        tool_admission: ToolAdmission | None = None,
        tracer: Callable[[], Tracer | None] | None = None,
        trace_link: bool = False,
    ) -> None:
        self.catalogue = catalogue
        # Per-tool rate rules live outside the core (ops); None lets every call run.
        self.tool_admission = tool_admission
        # The process's tracer, asked per request (tracing is turned on at start-up, maybe after this is built);
        # None: tracing off. The core holds no global of its own.
        self.tracer = tracer or _no_tracer
        # MCP_TRACE_CLIENT_CONTEXT=link: a client's trace context is a span link of a new trace, not its parent.
        self.trace_link = trace_link
        # The scopes reading a partition's data needs (MCP_PARTITION_SCOPES): a result read under them is private.
        self.partition_scopes = partition_scopes or (lambda partition: frozenset())
        self.resources_page_size = checked_page_size(resources_page_size)
        # Seals resources/list cursors: a fleet's processes share the key, so any of them continues a listing.
        # Keyset positions do not go stale with time: no expiry.
        self.cursors = cursors or HmacCodec(ttl=math.inf)
        # Input-required rounds of 2026-07-28 requests (the state codec and its bounds).
        self.rounds = rounds or Rounds()
        # One small batch could otherwise ask for hundreds of page-sized answers at once.
        self.max_batch = max_batch
        self.max_batch_answer_bytes = max_batch_answer_bytes
        self.server_info = {"name": name, "title": title or name, "version": version}
        self.instructions = instructions or (lambda partition: "")
        self.capabilities: dict[str, Any] = {
            "tools": {"listChanged": False},
            "resources": {"subscribe": True, "listChanged": False},
            "prompts": {"listChanged": False},
            "logging": {},
            "completions": {},
        }
        self.methods: dict[str, Handler] = {
            "initialize": self.initialize,
            "server/discover": self.discover,
            "ping": self.ping,
            "tools/list": self.tools_list,
            "tools/call": self.tools_call,
            "resources/list": self.resources_list,
            "resources/templates/list": self.resource_templates_list,
            "resources/read": self.resources_read,
            "resources/subscribe": self.resources_subscribe,
            "resources/unsubscribe": self.resources_unsubscribe,
            "prompts/list": self.prompts_list,
            "prompts/get": self.prompts_get,
            "completion/complete": self.completion_complete,
            "logging/setLevel": self.logging_set_level,
        }

    # --- entry points for transports ---------------------------------------------------------
    async def handle_payload(
        self, session: ServerSession, payload: Payload, emit: Emit = drop_messages, hangup: Hangup | None = None
    ) -> list[dict[str, Any]]:
        """Handle one frame or body; returns the replies (empty when nothing needs one)."""
        if payload.is_batch:
            refusal = self.batch_refusal(session, payload)
            if refusal is not None:
                return [refusal]
            replies = await asyncio.gather(*(self.handle_message(session, m, emit, hangup) for m in payload.messages))
            return self.bound_batch_answer([reply for reply in replies if reply is not None])
        reply = await self.handle_message(session, payload.messages[0], emit, hangup)
        return [] if reply is None else [reply]

    def batch_refusal(self, session: ServerSession, payload: Payload) -> dict[str, Any] | None:
        """The single error that answers a batch the session may not send, else None."""
        if not payload.is_batch:
            return None
        if session.protocol_version not in BATCH_VERSIONS:
            message = "Invalid Request: JSON-RPC batches are only allowed with protocol version 2025-03-26"
        elif any(isinstance(m, Request) and m.method == "initialize" for m in payload.messages):
            message = "Invalid Request: initialize must not be part of a batch"
        elif len(payload.messages) > self.max_batch:
            message = (
                f"Invalid Request: a batch holds at most {self.max_batch} messages, this one has "
                f"{len(payload.messages)}; send them in smaller batches"
            )
        else:
            return None
        return jsonrpc.error_message(None, JsonRpcError(INVALID_REQUEST, message))

    def bound_batch_answer(self, replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replies past `max_batch_answer_bytes` of the batch's answer become errors naming the bound."""
        total = 0
        bounded = []
        for reply in replies:
            size = len(jsonrpc.dumps_bytes(reply))
            if total + size > self.max_batch_answer_bytes and "result" in reply:
                error = JsonRpcError(
                    INVALID_REQUEST,
                    f"Invalid Request: the batch's answer would pass {self.max_batch_answer_bytes} bytes; "
                    "send this request on its own or ask for less (max_length)",
                )
                reply = jsonrpc.error_message(reply.get("id"), error)
                size = len(jsonrpc.dumps_bytes(reply))
            total += size
            bounded.append(reply)
        return bounded

    async def handle_message(
        self, session: ServerSession, message: Message, emit: Emit = drop_messages, hangup: Hangup | None = None
    ) -> dict[str, Any] | None:
        session.messages_in += 1
        session.touch()
        if isinstance(message, Request):
            return await self.handle_request(session, message, emit, hangup)
        if isinstance(message, Notification):
            self.handle_notification(session, message)
            return None
        if isinstance(message, Response):
            session.resolve(message.id, message.result, message.error)
            return None
        assert isinstance(message, Invalid)
        return jsonrpc.error_message(message.id, message.error)

    async def handle_request(
        self, session: ServerSession, request: Request, emit: Emit, hangup: Hangup | None = None
    ) -> dict[str, Any] | None:
        if not observers:
            return await self._handle_request(session, request, emit, hangup)
        started = time.perf_counter()
        try:
            reply = await self._handle_request(session, request, emit, hangup)
        except asyncio.CancelledError:
            # The client left (a closed WebSocket, an ended stream, a dropped POST) or the server is stopping:
            # the call still happened, and the trail must say so.
            self._tell_observers(session, request, time.perf_counter() - started, outcomes.CANCELLED)
            raise
        self._tell_observers(session, request, time.perf_counter() - started, outcomes.of_reply(reply))
        return reply

    def _tell_observers(self, session: ServerSession, request: Request, elapsed: float, outcome: str) -> None:
        # Names the client made up are not passed on: metrics labels must stay a bounded set.
        method = request.method if request.method in self.methods else "unknown"
        tool = None
        if method == "tools/call":
            name = request.params.get("name")
            known = isinstance(name, str) and self.catalogue.tool(name, session.partition) is not None
            tool = name if known else "unknown"
        for observer in observers:
            observer.request_done(method, tool, elapsed, outcome)
        if method == "tools/call":
            for observer in observers:
                observer.tool_called(session, request, elapsed, outcome)

    async def _handle_request(
        self, session: ServerSession, request: Request, emit: Emit, hangup: Hangup | None = None
    ) -> dict[str, Any] | None:
        tracer = self.tracer()
        if tracer is not None:  # tracing on: a SERVER span continuing the client's trace (the logs follow it)
            target = self._span_target(session, request)
            answer = functools.partial(self._answer, session, request, emit, hangup)
            return await tracing.handled(tracer, session, request, target, answer, link=self.trace_link)
        trace = tracing.current.set(tracing.of_request(request.params.get("_meta")))
        try:
            return await self._answer(session, request, emit, hangup)
        finally:
            tracing.current.reset(trace)

    def _span_target(self, session: ServerSession, request: Request) -> str | None:
        """The tool or prompt a span's name adds to the method: only names the catalogue knows (a bounded set)."""
        name = request.params.get("name")
        if not isinstance(name, str):
            return None
        if request.method == "tools/call" and self.catalogue.tool(name, session.partition) is not None:
            return name
        if request.method == "prompts/get" and name in self.catalogue.prompts:
            return name
        return None

    async def _answer(
        self, session: ServerSession, request: Request, emit: Emit, hangup: Hangup | None
    ) -> dict[str, Any] | None:
        method = request.method
        modern = stateless.is_modern(request)
        try:
            ctx = self._context(session, request, emit, hangup, modern)
            handler = self.methods[method]
            if method in _CANCELLABLE:
                result = await self._run_cancellable(session, request, self._rounds(handler, ctx))
                if result is _CANCELLED:
                    return None
            else:
                result = await self._rounds(handler, ctx)
        except JsonRpcError as exc:
            return jsonrpc.error_message(request.id, stateless.revise_error(exc) if modern else exc)
        except Exception:
            log.exception("internal error handling %s", method)
            return jsonrpc.error_message(request.id, JsonRpcError(INTERNAL_ERROR, "Internal error"))
        if modern:
            result = stateless.finish_result(method, result)
        return jsonrpc.result_message(request.id, result)

    def _context(
        self, session: ServerSession, request: Request, emit: Emit, hangup: Hangup | None, modern: bool
    ) -> RequestContext:
        """Check the request may be handled (envelope, method, lifecycle) and make its context."""
        method = request.method
        handler = self.methods.get(method)
        if modern:
            log_level = stateless.adopt_envelope(session, request)
            if method in stateless.REMOVED:
                handler = None
        else:
            log_level = session.log_level
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
        if not session.initialized and method not in _BEFORE_INIT:
            raise JsonRpcError(INVALID_REQUEST, "Invalid Request: the session is not initialized yet")
        meta = request.params.get("_meta")
        meta = meta if isinstance(meta, dict) else {}
        ctx = RequestContext(
            session, request.id, emit, meta.get("progressToken"), log_level, hangup,
            request_method=method, request_params=request.params, request_meta=meta,
        )  # fmt: skip
        if modern and method in INPUT_REQUIRED_METHODS:
            ctx.round = self.rounds.open(method, request.params, f"{session.partition}/{session.key_name}")
        return ctx

    async def _rounds(self, handler: Handler, ctx: RequestContext) -> Any:
        """Run the handler; on a 2026-07-28 request whose asks are not all answered, answer input_required."""
        try:
            return await handler(ctx.request_params, ctx)
        except InputRequired:
            if ctx.round is None:  # raised by hand outside a round: nothing to ask the client for
                raise JsonRpcError(INTERNAL_ERROR, "Internal error") from None
            return self.rounds.result(ctx.round)

    async def _run_cancellable(self, session: ServerSession, request: Request, work: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(work)
        session.running[request.id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if request.id in session.cancel_requested and (current is None or not current.cancelling()):
                return _CANCELLED  # the client cancelled it: the spec says send no reply
            raise
        finally:
            session.running.pop(request.id, None)
            session.cancel_requested.discard(request.id)

    def handle_notification(self, session: ServerSession, note: Notification) -> None:
        if note.method == "notifications/cancelled":
            request_id = note.params.get("requestId")
            if request_id is not None:
                session.cancel(request_id)
        # notifications/initialized, roots/list_changed, progress: nothing to do.

    # --- lifecycle ---------------------------------------------------------------------------
    async def initialize(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise invalid_params('initialize needs "protocolVersion" (a string)')
        capabilities = params.get("capabilities", {})
        client_info = params.get("clientInfo", {})
        if not isinstance(capabilities, dict) or not isinstance(client_info, dict):
            raise invalid_params('"capabilities" and "clientInfo" must be objects')
        session = ctx.session
        version = requested if requested in STATEFUL_VERSIONS else LATEST_STATEFUL
        session.protocol_version = version
        session.client_capabilities = capabilities
        session.client_info = {k: v for k, v in client_info.items() if k in ("name", "title", "version")}
        session.initialized = True
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": self.capabilities,
            "serverInfo": self.server_info,
        }
        instructions = self.instructions(session.partition)
        if instructions:
            result["instructions"] = instructions
        return result

    async def discover(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return stateless.discover_result(self.capabilities, self.server_info, self.instructions(ctx.partition))

    async def ping(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {}

    async def logging_set_level(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        level = params.get("level")
        if level not in LOG_LEVELS:
            raise invalid_params(f"level must be one of {', '.join(LOG_LEVELS)}")
        ctx.session.log_level = level
        return {}

    # --- tools -------------------------------------------------------------------------------
    async def tools_list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        _check_cursor(params)
        return {"tools": self.catalogue.tool_listings(ctx.partition)}

    async def tools_call(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return await self._call_tool(params, ctx, admit=True)

    async def call_admitted(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """tools/call for a call `tool_refusal` let through already (a task's work): not counted twice."""
        return await self._call_tool(params, ctx, admit=False)

    async def tool_refusal(self, name: str, ctx: RequestContext) -> dict[str, Any] | None:
        """The tool result refusing this call (a rate rule), or None when it may run."""
        if self.tool_admission is None:
            return None
        refusal = await self.tool_admission(name, ctx)
        return None if refusal is None else refusal.result()

    async def _call_tool(self, params: dict[str, Any], ctx: RequestContext, admit: bool) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            raise invalid_params('tools/call needs "name" (a string)')
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise invalid_params('"arguments" must be an object')
        tool = self.catalogue.tool(name, ctx.partition)
        if tool is None:
            raise invalid_params(f"Unknown tool: {name}")
        errors = tool.argument_errors(arguments)
        if errors:
            # Reported as a tool result so that the model can correct its call (spec 2025-11-25).
            return tool_error_result(f"Invalid arguments for tool {name}: " + "; ".join(errors))
        refused = await self.tool_refusal(name, ctx) if admit else None
        if refused is not None:
            return refused
        try:
            return await tool.handler(arguments, ctx)
        except ToolError as exc:
            return tool_error_result(str(exc))
        except (JsonRpcError, InputRequired):
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("tool %s failed", name)
            return tool_error_result(f"Tool {name} failed with an internal error; try again later.")

    # --- resources ---------------------------------------------------------------------------
    async def resources_list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """The catalogue's resources, then each directory's, `resources_page_size` at a time."""
        stage, after = self._resources_position(params.get("cursor"), ctx.partition)
        stages = len(self.catalogue.directories) + 1
        listed: list[dict[str, Any]] = []
        while stage < stages and len(listed) < self.resources_page_size:
            room = self.resources_page_size - len(listed)
            try:
                taken, after = await self._resources_stage(stage, after, room, ctx)
            except ValueError:
                if after is None:
                    raise  # not a position of a cursor: the directory failed
                raise invalid_params("Invalid cursor: the listing has changed; list again without a cursor") from None
            listed += taken
            if after is None:
                stage += 1
            elif not taken:
                break  # a directory that gives nothing yet says more remain: the client asks again
        result: dict[str, Any] = {"resources": listed}
        if stage < stages:
            result["nextCursor"] = self._resources_cursor(stage, after, ctx.partition)
        return result

    async def _resources_stage(
        self, stage: int, after: str | None, room: int, ctx: RequestContext
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `room` entries of one stage (0: the catalogue's resources, then the directories) from `after`,
        and where its next entries start (None: it has no more)."""
        if stage == 0:
            resources = list(self.catalogue.resources.values())
            start = int(after or 0)
            end = start + room
            return [r.listing() for r in resources[start:end]], (str(end) if end < len(resources) else None)
        directory = self.catalogue.directories[stage - 1]
        page = await directory.page(after, room, ctx)
        if len(page.resources) > room:
            # Its position is past entries a page has no room for: cutting them would lose them for good.
            raise RuntimeError(f"resource directory {directory.name!r} gave {len(page.resources)} entries, not {room}")
        return page.resources, page.after

    def _resources_cursor(self, stage: int, after: str | None, partition: str) -> str:
        name = "" if stage == 0 else self.catalogue.directories[stage - 1].name
        return self.cursors.seal({"list": "resources", "partition": partition, "stage": name, "after": after})

    def _resources_position(self, cursor: Any, partition: str) -> tuple[int, str | None]:
        """Where a resources/list cursor resumes (stage, position); invalid params for a cursor this server did
        not issue for this partition, or one naming a directory that is no longer there."""
        if cursor is None:
            return 0, None
        if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_CHARS:
            raise invalid_params("Invalid cursor: send back a nextCursor unchanged, or none for the first page")
        try:
            payload = self.cursors.unseal(cursor)
        except (StateRejected, ValueError, KeyError, TypeError):
            raise invalid_params(
                "Invalid cursor: send back a nextCursor unchanged, or none for the first page"
            ) from None
        if payload.get("list") != "resources" or payload.get("partition") != partition:
            raise invalid_params("Invalid cursor: it was issued for another list or partition")
        names = ["", *(directory.name for directory in self.catalogue.directories)]
        after = payload.get("after")
        if payload.get("stage") not in names or not (after is None or isinstance(after, str)):
            raise invalid_params("Invalid cursor: the listing has changed; list again without a cursor")
        return names.index(payload["stage"]), after

    async def resource_templates_list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        _check_cursor(params)
        return {"resourceTemplates": [t.listing() for t in self.catalogue.templates]}

    async def resources_read(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        uri = _required_str(params, "uri")
        if len(uri) > MAX_URI_CHARS:  # not echoed: it could be megabytes
            raise invalid_params(f"The URI is longer than {MAX_URI_CHARS} characters: no resource has one that long")
        found = self.catalogue.resource_for(uri)
        if found is None:
            raise JsonRpcError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})
        entry, variables = found
        answer = await entry.reader(uri, variables, ctx)
        if isinstance(answer, list):
            return {"contents": answer}
        if not isinstance(answer, dict) or not isinstance(answer.get("contents"), list):
            raise RuntimeError(f"the reader of {uri[:200]} answered no contents list")  # a bug: an internal error
        result = {key: value for key, value in answer.items() if key in _READ_RESULT_FIELDS}
        if self._guarded(entry, ctx.partition):
            # "public" lets a cache serve it across authorization contexts: not for what needed a scope to read.
            result["cacheScope"] = "private"
        if ctx.session.protocol_version not in STATELESS_VERSIONS:
            # Cache hints are the 2026-07-28 revision's: earlier ones do not define them.
            result.pop("ttlMs", None)
            result.pop("cacheScope", None)
        return result

    def _guarded(self, entry: Resource | ResourceTemplate, partition: str) -> bool:
        """Whether reading `entry` on a connection to `partition` needed any scope (the entry's, its data's
        partition's or the connection's)."""
        if entry.scopes or self.partition_scopes(partition):
            return True
        return entry.partition is not None and bool(self.partition_scopes(entry.partition))

    async def resources_subscribe(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        ctx.session.subscriptions.add(_required_str(params, "uri"))
        return {}

    async def resources_unsubscribe(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        ctx.session.subscriptions.discard(_required_str(params, "uri"))
        return {}

    # --- prompts and completion --------------------------------------------------------------
    async def prompts_list(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        _check_cursor(params)
        return {"prompts": [p.listing() for p in self.catalogue.prompts.values()]}

    async def prompts_get(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = _required_str(params, "name")
        prompt = self.catalogue.prompts.get(name)
        if prompt is None:
            raise invalid_params(f"Unknown prompt: {name}")
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
            raise invalid_params('"arguments" must be an object of strings')
        missing = [a["name"] for a in prompt.arguments if a.get("required") and a["name"] not in arguments]
        if missing:
            raise invalid_params(f"Missing required arguments for prompt {name}: {', '.join(missing)}")
        return await prompt.renderer(arguments, ctx)

    async def completion_complete(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        ref = params.get("ref")
        argument = params.get("argument")
        if not isinstance(ref, dict) or not isinstance(argument, dict):
            raise invalid_params('completion/complete needs "ref" and "argument" objects')
        ref_type = ref.get("type")
        ref_name = ref.get("name") if ref_type == "ref/prompt" else ref.get("uri")
        arg_name, arg_value = argument.get("name"), argument.get("value", "")
        if ref_type not in ("ref/prompt", "ref/resource") or not isinstance(ref_name, str):
            raise invalid_params('"ref" must be a ref/prompt with "name" or a ref/resource with "uri"')
        if not isinstance(arg_name, str) or not isinstance(arg_value, str):
            raise invalid_params('"argument" needs "name" and "value" strings')
        context = params.get("context") or {}
        known = context.get("arguments") if isinstance(context, dict) else None
        completer = self.catalogue.completers.get((ref_type, ref_name))
        values = await completer(arg_name, arg_value, known or {}) if completer else []
        return {
            "completion": {
                "values": values[:MAX_COMPLETIONS],
                "total": len(values),
                "hasMore": len(values) > MAX_COMPLETIONS,
            }
        }


_CANCELLED = object()


def _required_str(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise invalid_params(f'"{key}" is required and must be a string')
    return value


def checked_page_size(size: int) -> int:
    """The resources/list page size, if within its bounds (ValueError naming them otherwise)."""
    if not 1 <= size <= MAX_RESOURCES_PAGE_SIZE:
        raise ValueError(f"MCP_RESOURCES_PAGE_SIZE must be between 1 and {MAX_RESOURCES_PAGE_SIZE}, not {size}")
    return size


def _check_cursor(params: dict[str, Any]) -> None:
    """Every list but resources/list fits one page; any cursor is therefore one we never issued."""
    cursor = params.get("cursor")
    if cursor is not None:
        raise JsonRpcError(INVALID_PARAMS, "Invalid cursor")
