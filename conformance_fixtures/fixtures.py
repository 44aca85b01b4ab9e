"""Fixtures the official conformance suite expects; names, arguments and outputs are fixed by its scenarios.

Installed only with MCP_CONFORMANCE_FIXTURES=1 (tests), never in production. `awsmcp_test_sleep` is
ours: a slow tool that the gateway's own tests cancel.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mcp_gateway.catalogue import Catalogue, Prompt, Resource, ResourceTemplate, Tool, ToolError
from mcp_gateway.context import RequestContext

EMPTY: dict[str, Any] = {"type": "object", "properties": {}}
# A 1x1 red PNG and a minimal silent WAV, base64-encoded.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQIAAAAAAA=="


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def result(*content: dict[str, Any]) -> dict[str, Any]:
    return {"content": list(content)}


# --- tools ---------------------------------------------------------------------------------------
async def simple_text(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return result(text("This is a simple text response for testing."))


async def image_content(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return result({"type": "image", "data": PNG, "mimeType": "image/png"})


async def audio_content(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return result({"type": "audio", "data": WAV, "mimeType": "audio/wav"})


async def embedded_resource(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    resource = {
        "uri": "test://embedded-resource",
        "mimeType": "text/plain",
        "text": "This is an embedded resource content.",
    }
    return result({"type": "resource", "resource": resource})


async def multiple_content_types(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    resource = {
        "uri": "test://mixed-content-resource",
        "mimeType": "application/json",
        "text": json.dumps({"test": "data", "value": 123}),
    }
    return result(
        text("Multiple content types test:"),
        {"type": "image", "data": PNG, "mimeType": "image/png"},
        {"type": "resource", "resource": resource},
    )


async def with_logging(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    await ctx.log("info", "Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.log("info", "Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.log("info", "Tool execution completed")
    return result(text("Tool with logging executed successfully"))


async def with_progress(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    await ctx.progress(0, 100)
    await asyncio.sleep(0.05)
    await ctx.progress(50, 100)
    await asyncio.sleep(0.05)
    await ctx.progress(100, 100)
    return result(text("Tool with progress executed successfully"))


async def error_handling(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    raise ToolError("This tool intentionally returns an error for testing")


async def sampling(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if "sampling" not in ctx.session.client_capabilities:
        raise ToolError("The client does not support sampling")
    answer = await ctx.ask_client(
        "sampling/createMessage",
        {"messages": [{"role": "user", "content": text(args["prompt"])}], "maxTokens": 100},
    )
    content = answer.get("content") if isinstance(answer, dict) else None
    reply = content.get("text", "") if isinstance(content, dict) else json.dumps(content)
    return result(text(f"LLM response: {reply}"))


async def elicitation(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if "elicitation" not in ctx.session.client_capabilities:
        raise ToolError("The client does not support elicitation")
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    answer = await ctx.ask_client("elicitation/create", {"message": args["message"], "requestedSchema": schema})
    return result(text(f"User response: {json.dumps(answer)}"))


async def elicitation_defaults(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verification status", "default": True},
        },
    }
    answer = await ctx.ask_client(
        "elicitation/create",
        {"message": "Please review and update the form fields with defaults", "requestedSchema": schema},
    )
    return _elicitation_summary(answer)


async def elicitation_enums(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Choose an option",
                "enum": ["option1", "option2", "option3"],
            },
            "titledSingle": {
                "type": "string",
                "description": "Choose a titled option",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string",
                "description": "Choose a legacy option",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "description": "Choose multiple options",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {
                "type": "array",
                "description": "Choose multiple titled options",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
    }
    answer = await ctx.ask_client("elicitation/create", {"message": "Please select options", "requestedSchema": schema})
    return _elicitation_summary(answer)


def _elicitation_summary(answer: Any) -> dict[str, Any]:
    answer = answer if isinstance(answer, dict) else {}
    action = answer.get("action")
    content = json.dumps(answer.get("content", {}))
    return result(text(f"Elicitation completed: action={action}, content={content}"))


async def json_schema_tool(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return result(text(f"Received: {json.dumps(args)}"))


async def reconnection(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Closes the POST stream mid-call; the client gets the result by resuming (SEP-1699)."""
    await asyncio.sleep(0.05)
    ctx.close_stream()
    await asyncio.sleep(0.2)
    return result(text("Reconnection test completed successfully"))


async def sleep(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    await asyncio.sleep(args.get("seconds", 1))
    return result(text("slept"))


JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}

TOOLS = [
    ("test_simple_text", "Tests simple text content response", EMPTY, simple_text),
    ("test_image_content", "Tests image content response", EMPTY, image_content),
    ("test_audio_content", "Tests audio content response", EMPTY, audio_content),
    ("test_embedded_resource", "Tests embedded resource content response", EMPTY, embedded_resource),
    ("test_multiple_content_types", "Tests response with multiple content types", EMPTY, multiple_content_types),
    ("test_tool_with_logging", "Tests tool that emits log messages during execution", EMPTY, with_logging),
    ("test_tool_with_progress", "Tests tool that reports progress notifications", EMPTY, with_progress),
    ("test_error_handling", "Tests error response handling", EMPTY, error_handling),
    (
        "test_sampling",
        "Tests server-initiated sampling (LLM completion request)",
        {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
        sampling,
    ),
    (
        "test_elicitation",
        "Tests server-initiated elicitation (user input request)",
        {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
        elicitation,
    ),
    (
        "test_elicitation_sep1034_defaults",
        "Tests elicitation with default values (SEP-1034)",
        EMPTY,
        elicitation_defaults,
    ),
    ("test_elicitation_sep1330_enums", "Tests elicitation with enum schemas (SEP-1330)", EMPTY, elicitation_enums),
    ("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", JSON_SCHEMA_2020_12, json_schema_tool),
    ("test_reconnection", "Tests SSE stream disconnection and client reconnection (SEP-1699)", EMPTY, reconnection),
    (
        "awsmcp_test_sleep",
        "awsmcp's own test fixture: sleeps for the given seconds (for cancellation tests)",
        {"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 60}}},
        sleep,
    ),
]


# --- resources -----------------------------------------------------------------------------------
async def static_text(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
    return [{"uri": uri, "mimeType": "text/plain", "text": "This is the content of the static text resource."}]


async def static_binary(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
    return [{"uri": uri, "mimeType": "image/png", "blob": PNG}]


async def watched(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
    return [{"uri": uri, "mimeType": "text/plain", "text": "Watched resource content"}]


async def template_data(uri: str, variables: dict[str, str], ctx: RequestContext) -> list[dict[str, Any]]:
    payload = {"id": variables["id"], "templateTest": True, "data": f"Data for ID: {variables['id']}"}
    return [{"uri": uri, "mimeType": "application/json", "text": json.dumps(payload)}]


# --- prompts -------------------------------------------------------------------------------------
def user(content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": content}


async def simple_prompt(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    return {"messages": [user(text("This is a simple prompt for testing."))]}


async def prompt_with_arguments(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    message = f"Prompt with arguments: arg1='{arguments['arg1']}', arg2='{arguments['arg2']}'"
    return {"messages": [user(text(message))]}


async def prompt_with_resource(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    resource = {
        "uri": arguments["resourceUri"],
        "mimeType": "text/plain",
        "text": "Embedded resource content for testing.",
    }
    return {
        "messages": [
            user({"type": "resource", "resource": resource}),
            user(text("Please process the embedded resource above.")),
        ]
    }


async def prompt_with_image(arguments: dict[str, str], ctx: RequestContext) -> dict[str, Any]:
    return {
        "messages": [
            user({"type": "image", "data": PNG, "mimeType": "image/png"}),
            user(text("Please analyze the image above.")),
        ]
    }


async def complete_arg(name: str, value: str, known: dict[str, str]) -> list[str]:
    words = ["paris", "park", "party", "hello", "world"]
    return [word for word in words if word.startswith(value)]


def register(catalogue: Catalogue) -> None:
    for name, description, schema, handler in TOOLS:
        catalogue.add_tool(Tool(name, description, schema, handler))
    catalogue.add_resource(
        Resource(
            "test://static-text",
            "Static Text Resource",
            static_text,
            "A static text resource for testing",
            "text/plain",
        )
    )
    catalogue.add_resource(
        Resource(
            "test://static-binary",
            "Static Binary Resource",
            static_binary,
            "A static binary resource (image)",
            "image/png",
        )
    )
    catalogue.add_resource(
        Resource(
            "test://watched-resource", "Watched Resource", watched, "A resource for subscription tests", "text/plain"
        )
    )
    catalogue.add_template(
        ResourceTemplate(
            "test://template/{id}/data",
            "Resource Template",
            template_data,
            "A resource template with parameter substitution",
            "application/json",
        )
    )
    catalogue.add_prompt(Prompt("test_simple_prompt", simple_prompt, "A simple prompt without arguments"))
    catalogue.add_prompt(
        Prompt(
            "test_prompt_with_arguments",
            prompt_with_arguments,
            "A prompt with required arguments",
            [
                {"name": "arg1", "description": "First test argument", "required": True},
                {"name": "arg2", "description": "Second test argument", "required": True},
            ],
        )
    )
    catalogue.add_prompt(
        Prompt(
            "test_prompt_with_embedded_resource",
            prompt_with_resource,
            "A prompt that includes an embedded resource",
            [{"name": "resourceUri", "description": "URI of the resource to embed", "required": True}],
        )
    )
    catalogue.add_prompt(Prompt("test_prompt_with_image", prompt_with_image, "A prompt that includes image content"))
    catalogue.add_completer("ref/prompt", "test_prompt_with_arguments", complete_arg)
