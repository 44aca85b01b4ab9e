"""What the server offers: tools, resources, resource templates, prompts and completions.

Apps register into the process-wide `catalogue` from their AppConfig.ready(); the protocol core
reads it. Descriptions are built once, so tools/list costs a dict lookup. Changes after start-up are told
to `listeners` (subscriptions/listen streams): the catalogue is code, so a change is per process, never
fleet-wide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import fastjsonschema
from jsonschema import Draft202012Validator, ValidationError

if TYPE_CHECKING:
    from mcp_gateway.context import RequestContext

log = logging.getLogger(__name__)

ToolHandler = Callable[[dict[str, Any], "RequestContext"], Awaitable[dict[str, Any]]]
# A reader answers the contents, or a result object with `contents` and result-level fields (ttlMs, cacheScope).
ResourceReader = Callable[[str, dict[str, str], "RequestContext"], Awaitable[list[dict[str, Any]] | dict[str, Any]]]
PromptRenderer = Callable[[dict[str, str], "RequestContext"], Awaitable[dict[str, Any]]]
Completer = Callable[[str, str, dict[str, str]], Awaitable[list[str]]]
# Told (kind, uri) when the catalogue changes: kind is "tools", "prompts", "resources" (the lists) or
# "resource" (the resource at uri was replaced).
ChangeListener = Callable[[str, str], None]
# A parameter a client mirrors into a header (SEP-2243): its path of property names, the header's
# suffix (Mcp-Param-<suffix>) and its JSON type.
HeaderParam = tuple[tuple[str, ...], str, str]


class ToolError(Exception):
    """Raised by a tool for a failure the model should read: becomes `isError: true`."""


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: ToolHandler
    title: str | None = None
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    # The partitions (tool sets a client chooses with ?partition=) that offer this tool; empty: all of them.
    partitions: tuple[str, ...] = ()
    # Sends nothing to the client during a call (no progress, logs or requests), so a plain JSON
    # answer loses nothing and Streamable HTTP may skip the SSE stream (cheaper, see bench/).
    quiet: bool = False
    # The OAuth scopes a principal must hold to call it (all of them); empty: any caller may.
    scopes: tuple[str, ...] = ()
    validator: Draft202012Validator = field(init=False)
    accepts: Callable[[Any], Any] | None = field(init=False)
    listing: dict[str, Any] = field(init=False)
    header_params: tuple[HeaderParam, ...] = field(init=False)

    def __post_init__(self) -> None:
        # A malformed x-mcp-header makes clients drop the tool: refuse it here, at start-up, instead.
        self.header_params = header_params(self.input_schema)
        self.validator = Draft202012Validator(self.input_schema)
        # Compiled to plain Python: ~30x cheaper than jsonschema on the hot path of valid calls;
        # jsonschema still writes the messages when a call is invalid.
        self.accepts = _fast_validator(self.input_schema)
        listing: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.title:
            listing["title"] = self.title
        if self.output_schema:
            listing["outputSchema"] = self.output_schema
        if self.annotations:
            listing["annotations"] = self.annotations
        self.listing = listing

    def argument_errors(self, arguments: dict[str, Any]) -> list[str]:
        """Human-readable schema violations of the given arguments (empty when valid)."""
        if self.accepts is not None:
            try:
                self.accepts(arguments)
                return []
            except fastjsonschema.JsonSchemaValueException as exc:
                if exc.rule in _SIZE_MESSAGES:  # at once: jsonschema would still check all 60,000 items
                    where = ".".join(exc.path[1:])
                    return [f"{where}: {_SIZE_MESSAGES[exc.rule].format(exc.rule_definition)}"]
            except fastjsonschema.JsonSchemaException:
                pass
        errors = []
        for error in sorted(self.validator.iter_errors(arguments), key=lambda e: list(e.path)):
            error = _size_error(error) or error
            where = ".".join(str(p) for p in error.absolute_path)
            message = _short(error)
            errors.append(f"{where}: {message}" if where else message)
        return errors


_SIZE_MESSAGES = {"maxLength": "is longer than {} characters", "maxItems": "has more than {} items"}
MAX_ERROR_CHARS = 300


def _size_error(error: ValidationError) -> ValidationError | None:
    """The size bound an argument broke, also inside an anyOf branch (else the message names no bound)."""
    for candidate in (error, *error.context):
        if candidate.validator in _SIZE_MESSAGES:
            return candidate
    return None


def _short(error: ValidationError) -> str:
    """jsonschema quotes the whole value ("'...' is too long"): a 1 MB argument must not come back whole."""
    if error.validator in _SIZE_MESSAGES:
        return _SIZE_MESSAGES[str(error.validator)].format(error.validator_value)
    message = error.message
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "..."


# x-mcp-header (SEP-2243): an RFC 9110 token on a string, integer or boolean property reached from the
# root through `properties` only, unique without regard to case.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_TYPES = frozenset({"string", "integer", "boolean"})
# Keywords whose values are data, not schemas: an "x-mcp-header" key inside them is not an annotation.
_DATA_KEYWORDS = frozenset({"default", "examples", "const", "enum"})


def _annotations(schema: Any, path: tuple[str, ...] | None) -> Iterable[tuple[tuple[str, ...] | None, dict[str, Any]]]:
    """Every schema object holding x-mcp-header, with its `properties` path (None off the static chain)."""
    if isinstance(schema, list):
        for item in schema:
            yield from _annotations(item, None)
        return
    if not isinstance(schema, dict):
        return
    if "x-mcp-header" in schema:
        yield path, schema
    for keyword, value in schema.items():
        if keyword == "properties" and isinstance(value, dict) and path is not None:
            for name, sub in value.items():
                yield from _annotations(sub, (*path, name))
        elif keyword not in _DATA_KEYWORDS:
            yield from _annotations(value, None)


def header_params(schema: dict[str, Any]) -> tuple[HeaderParam, ...]:
    """The parameters a client mirrors as Mcp-Param-* headers; ValueError for a malformed annotation."""
    found: dict[str, HeaderParam] = {}
    for path, where in _annotations(schema, ()):
        suffix, kind = where["x-mcp-header"], where.get("type")
        if not path:
            raise ValueError("x-mcp-header only on a property reached through `properties` alone")
        if not isinstance(suffix, str) or not _TOKEN.fullmatch(suffix):
            raise ValueError(f"x-mcp-header {suffix!r} of {'.'.join(path)} is not an HTTP token")
        if kind not in _HEADER_TYPES:
            raise ValueError(f"x-mcp-header of {'.'.join(path)} needs type string, integer or boolean")
        if suffix.lower() in found:
            raise ValueError(f"x-mcp-header {suffix!r} is used twice")
        found[suffix.lower()] = (path, suffix, str(kind))
    return tuple(found.values())


# Keywords newer than draft-07, which fastjsonschema would silently ignore (and so accept too much).
_NEWER_KEYWORDS = frozenset(
    {"prefixItems", "dependentRequired", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
     "minContains", "maxContains", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$anchor"}
)  # fmt: skip


def _keywords(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        return set(schema).union(*(_keywords(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_keywords(v) for v in schema))
    return set()


def _fast_validator(schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    """A compiled draft-07 validator when the schema means the same in draft-07, else None."""
    if _keywords(schema) & _NEWER_KEYWORDS:
        return None
    return fastjsonschema.compile({k: v for k, v in schema.items() if k != "$schema"}, use_default=False)


@dataclass(slots=True)
class Resource:
    uri: str
    name: str
    reader: ResourceReader
    description: str | None = None
    mime_type: str | None = None
    title: str | None = None
    # The OAuth scopes a principal must hold to read it (all of them); empty: any caller may.
    scopes: tuple[str, ...] = ()
    # The partition whose data it is: reading it also needs that partition's scopes (MCP_PARTITION_SCOPES),
    # whichever partition the connection chose.
    partition: str | None = None

    def listing(self) -> dict[str, Any]:
        return _drop_none(
            {
                "uri": self.uri,
                "name": self.name,
                "title": self.title,
                "description": self.description,
                "mimeType": self.mime_type,
            }
        )


# RFC 6570 expressions a template may hold: {var} (level 1: one path segment) and {+var} (reserved expansion,
# level 2: may span segments, so one template covers every page of a site).
_EXPRESSION = re.compile(r"\{([^}]*)\}")
_VARIABLE = re.compile(r"(\+?)([A-Za-z_][A-Za-z0-9_]*)")
# What a {+var} matches: any URI characters but whitespace and controls (reserved ones such as / ? # included);
# a {var}, the same within one path segment.
_RESERVED_VALUE = r"[^\x00-\x20\x7f]+"
_SEGMENT_VALUE = r"[^/\x00-\x20\x7f]+"
# The longest URI looked up: no resource has a longer one, and matching runs on the event loop.
MAX_URI_CHARS = 4096


def template_pattern(uri_template: str) -> re.Pattern[str]:
    """The regex matching the URIs a template expands to; ValueError for a template it does not support, so that
    one no URI could match, or one that would be slow to match, is refused at start-up.

    Matching stays linear in the URI's length: at most one {+var}, and a '/' in the literal between any two
    expressions (a {var} stops at '/', so where it ends is never in doubt). Two expressions in one segment would
    make every split of it a candidate: quadratic, and ambiguous besides."""
    regex: list[str] = []
    seen: set[str] = set()
    position, reserved_seen = 0, False
    for found in _EXPRESSION.finditer(uri_template):
        reserved, name = _variable(uri_template, found.group(0), found.group(1), seen)
        literal = uri_template[position : found.start()]
        if seen and "/" not in literal:
            raise ValueError(f"{uri_template}: {found.group(0)} needs a '/' between it and the expression before it")
        if reserved and reserved_seen:
            raise ValueError(f"{uri_template}: a template holds at most one {{+var}} expression")
        seen.add(name)
        reserved_seen = reserved_seen or reserved
        regex.append(_literal(uri_template, literal))
        regex.append(f"(?P<{name}>{_RESERVED_VALUE if reserved else _SEGMENT_VALUE})")
        position = found.end()
    regex.append(_literal(uri_template, uri_template[position:]))
    return re.compile(r"\A" + "".join(regex) + r"\Z")  # \Z: '$' would also match before a final newline


def _variable(uri_template: str, expression: str, inside: str, seen: set[str]) -> tuple[bool, str]:
    """(reserved, name) of one expression; ValueError for one that is neither {var} nor {+var}, or a name used
    twice."""
    variable = _VARIABLE.fullmatch(inside)
    if variable is None:
        raise ValueError(f"{uri_template}: {expression} is not a {{var}} or {{+var}} expression")
    reserved, name = variable.groups()
    if name in seen:
        raise ValueError(f"{uri_template}: {name} is used twice")
    return bool(reserved), name


def _literal(uri_template: str, text: str) -> str:
    if "{" in text or "}" in text:
        raise ValueError(f"{uri_template}: unbalanced braces")
    return re.escape(text)


@dataclass(slots=True)
class ResourceTemplate:
    uri_template: str
    name: str
    reader: ResourceReader
    description: str | None = None
    mime_type: str | None = None
    title: str | None = None
    scopes: tuple[str, ...] = ()  # as Resource.scopes
    partition: str | None = None  # as Resource.partition
    # Rewrites a URI into the spelling the template is written in before matching (a site's http:// or upper-case
    # host as its https:// one); the reader still gets the URI as the client sent it.
    canonical: Callable[[str], str] | None = None
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = template_pattern(self.uri_template)

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(self.canonical(uri) if self.canonical else uri)
        return found.groupdict() if found else None

    def listing(self) -> dict[str, Any]:
        return _drop_none(
            {
                "uriTemplate": self.uri_template,
                "name": self.name,
                "title": self.title,
                "description": self.description,
                "mimeType": self.mime_type,
            }
        )


@dataclass(slots=True, frozen=True)
class DirectoryPage:
    """One page of a directory's resources, as resources/list spells them, and where the next page starts
    (None: this was the last)."""

    resources: list[dict[str, Any]]
    after: str | None = None


class ResourceDirectory(Protocol):
    """Resources too many to register one by one (pages of a site, rows of a table), listed page by page after
    the catalogue's own. `after` is a position this directory returned before (None: from the start); the core
    hands it back only inside a cursor it signed, so it comes unaltered, but may be old: a position the directory
    cannot read raises ValueError, and the client is told to list again. A page holds at most `limit` entries: one
    with more is a bug, answered as an internal error (its `after` is past entries the page has no room for)."""

    @property
    def name(self) -> str:
        """Names the directory in cursors: unique in a catalogue, stable across processes of a fleet."""
        ...

    async def page(self, after: str | None, limit: int, ctx: RequestContext) -> DirectoryPage: ...


@dataclass(slots=True)
class Prompt:
    name: str
    renderer: PromptRenderer
    description: str | None = None
    arguments: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None

    def listing(self) -> dict[str, Any]:
        listing = _drop_none({"name": self.name, "title": self.title, "description": self.description})
        if self.arguments:
            listing["arguments"] = self.arguments
        return listing


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class Catalogue:
    """Holds everything the server offers; one per process, filled at start-up."""

    def __init__(self) -> None:
        # (partition, name) -> tool: a partition may give a name its own description.
        self.tools: dict[tuple[str, str], Tool] = {}
        self.resources: dict[str, Resource] = {}
        self.templates: list[ResourceTemplate] = []
        self.directories: list[ResourceDirectory] = []
        self.prompts: dict[str, Prompt] = {}
        self.completers: dict[tuple[str, str], Completer] = {}
        self.everywhere: dict[str, Tool] = {}  # tools offered in every partition
        # partition -> the instructions a client gets at initialize; the first one added is the default.
        self.instructions: dict[str, str] = {}
        # The human name of the server (serverInfo.title), set by the app that gives it its purpose.
        self.title: str | None = None
        self._tool_listings: dict[str, list[dict[str, Any]]] = {}
        self.listeners: list[ChangeListener] = []

    def changed(self, kind: str, uri: str = "") -> None:
        """Tell the listeners; one that raises does not keep the change from the others."""
        for listener in list(self.listeners):
            try:
                listener(kind, uri)
            except Exception:
                log.exception("catalogue listener failed")

    def add_partition(self, name: str, instructions: str) -> None:
        """Offer a partition: a named set of tools a client picks with `?partition=` (the docs app adds
        `aws` and `aws-cn`)."""
        self.instructions[name] = instructions
        self._tool_listings.clear()

    @property
    def partitions(self) -> tuple[str, ...]:
        return tuple(self.instructions)

    def add_tool(self, tool: Tool) -> Tool:
        if not tool.partitions:
            self.everywhere[tool.name] = tool
        for partition in tool.partitions:
            self.tools[(partition, tool.name)] = tool
        self._tool_listings.clear()
        self.changed("tools")
        return tool

    def remove_tool(self, name: str) -> bool:
        """Withdraw a tool from every partition; False when there was none."""
        keys = [key for key in self.tools if key[1] == name]
        for key in keys:
            del self.tools[key]
        found = self.everywhere.pop(name, None) is not None or bool(keys)
        if found:
            self._tool_listings.clear()
            self.changed("tools")
        return found

    def add_resource(self, resource: Resource) -> None:
        replaced = resource.uri in self.resources
        self.resources[resource.uri] = resource
        self.changed("resource" if replaced else "resources", resource.uri)

    def add_template(self, template: ResourceTemplate) -> None:
        self.templates.append(template)
        self.changed("resources")

    def add_directory(self, directory: ResourceDirectory) -> None:
        """List a directory's resources after the catalogue's own (resources/list pages through them)."""
        if not isinstance(directory.name, str) or not directory.name:
            raise ValueError("a resource directory needs a name (a cursor names the catalogue's own resources '')")
        if any(known.name == directory.name for known in self.directories):
            raise ValueError(f"a resource directory named {directory.name!r} is already registered")
        self.directories.append(directory)
        self.changed("resources")

    def add_prompt(self, prompt: Prompt) -> None:
        self.prompts[prompt.name] = prompt
        self.changed("prompts")

    def remove_prompt(self, name: str) -> bool:
        found = self.prompts.pop(name, None) is not None
        if found:
            self.changed("prompts")
        return found

    def add_completer(self, ref_type: str, ref_name: str, completer: Completer) -> None:
        """ref_type is "ref/prompt" or "ref/resource"; ref_name the prompt name or template URI."""
        self.completers[(ref_type, ref_name)] = completer

    def tools_for(self, partition: str) -> Iterable[Tool]:
        own = {name: tool for (p, name), tool in self.tools.items() if p == partition}
        return [*own.values(), *(tool for name, tool in self.everywhere.items() if name not in own)]

    def tool(self, name: str, partition: str) -> Tool | None:
        return self.tools.get((partition, name)) or self.everywhere.get(name)

    def tool_listings(self, partition: str) -> list[dict[str, Any]]:
        listings = self._tool_listings.get(partition)
        if listings is None:
            listings = [tool.listing for tool in self.tools_for(partition)]
            self._tool_listings[partition] = listings
        return listings

    def resource_for(self, uri: str) -> tuple[Resource | ResourceTemplate, dict[str, str]] | None:
        """The resource registered under `uri`, else the first template matching it, with its variables; None for a
        URI longer than MAX_URI_CHARS, before any matching (every caller, the scope check included, is bounded)."""
        if len(uri) > MAX_URI_CHARS:
            return None
        resource = self.resources.get(uri)
        if resource is not None:
            return resource, {}
        for template in self.templates:
            variables = template.match(uri)
            if variables is not None:
                return template, variables
        return None

    def find_resource(self, uri: str) -> tuple[ResourceReader, dict[str, str]] | None:
        found = self.resource_for(uri)
        return None if found is None else (found[0].reader, found[1])


catalogue = Catalogue()
