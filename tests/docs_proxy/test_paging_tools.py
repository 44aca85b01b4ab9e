"""Paging through the tools: anchors, read_sections in chunks, token budgets, the table of contents and absolute
links in search_table rows; real Daphne, the official SDK client, the fixture origin."""

from __future__ import annotations

import json
import re
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings

from docs_proxy import tokens, tools
from docs_proxy.addresses import parse_doc_url
from docs_proxy.page import Page
from tests.docs_proxy.test_paging_chunks import page
from tests.docs_proxy.test_tools import RDS, body_and_next, call, text_of
from tests.support.clients import open_session
from tests.support.processes import DaphneServer

CFN = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"
AUTHZ = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsaccountmanagement.html"
CN_S3 = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"


async def test_anchors_ignore_case_and_a_missing_one_is_named(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        found = text_of(await call(session, "read_documentation", url=RDS + "#welcome.concepts.COMPARISON"))
        missing = text_of(await call(session, "read_documentation", url=RDS + "#Welcome.NoSuchThing", max_length=500))
    body, _next = body_and_next(found)
    assert found.startswith("AWS Documentation from") and body.startswith("## Comparison of responsibilities")
    assert missing.startswith(
        "<e>No section or element #Welcome.NoSuchThing on this page; reading from the top. Sections: "
    )
    assert "Advantages of Amazon RDS (#Welcome.Concepts.on-prem)" in missing
    body, _next = body_and_next(missing[missing.index("AWS Documentation from") :])
    assert body.startswith("# What is Amazon Relational Database Service")


async def test_a_missing_anchor_is_named_in_the_china_partition_too(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http", query="partition=aws-cn") as session:
        text = text_of(await call(session, "read_documentation", url=CN_S3 + "#no-such-section"))
    assert text.startswith("<e>No section or element #no-such-section on this page; reading from the top.")
    assert "# Amazon S3 in the China Regions" in text


async def test_read_sections_pages_with_a_table_of_contents(docs_server: DaphneServer) -> None:
    titles = ["properties", "EXAMPLES"]
    async with open_session(docs_server, "streamable-http") as session:
        whole = text_of(await call(session, "read_sections", url=CFN, section_titles=titles, max_length=999_999))
        everything, none = body_and_next(whole)
        assert none is None and everything.startswith("## Properties") and "\n## Examples" in everything
        first = text_of(await call(session, "read_sections", url=CFN, section_titles=titles))  # default: 10,000
        body, following = body_and_next(first)
        assert following is not None and 8000 <= len(body) <= 10_000
        note = first[first.index("<e>Content truncated.") :]
        assert note.startswith(
            f"<e>Content truncated. Call the read_sections tool with the same section_titles and "
            f"start_index={following} to get more content."
        )
        examples = int(re.search(r"^- Examples \((\d+)\)$", note, re.M).group(1))  # type: ignore[union-attr]
        assert everything[examples:].startswith("## Examples")
        jumped, _next = body_and_next(
            text_of(await call(session, "read_sections", url=CFN, section_titles=titles, start_index=examples))
        )
        assert jumped.startswith("## Examples")
        joined, start = "", 0
        for _call in range(30):
            chunk, start_next = body_and_next(
                text_of(
                    await call(
                        session, "read_sections", url=CFN, section_titles=titles, start_index=start, max_length=20_000
                    )
                )
            )
            joined += chunk
            if start_next is None:
                break
            start = start_next
        assert joined == everything


async def test_read_sections_names_missing_titles_first(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        text = text_of(
            await call(session, "read_sections", url=RDS, section_titles=["Multi\u2013AZ deployments", "Nope"])
        )
    assert text.startswith('<e>The following requested sections were not found: "Nope" (titles match ignoring case,')
    assert "Available sections: " in text.split("</e>", 1)[0]
    assert "### Multi-AZ deployments" in text


async def test_max_tokens_limits_the_text_and_is_bounded(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        by_tokens = text_of(await call(session, "read_documentation", url=RDS, max_tokens=1800))
        body, following = body_and_next(by_tokens)
        assert following is not None and 1400 <= tokens.count(body) <= 1800
        assert len(body) > 5000  # max_tokens alone: max_length's default does not apply
        tighter = text_of(await call(session, "read_documentation", url=RDS, max_tokens=1800, max_length=2000))
        assert len(body_and_next(tighter)[0]) <= 2000
        sections = text_of(await call(session, "read_sections", url=CFN, section_titles=["Properties"], max_tokens=500))
        chunk, more = body_and_next(sections)
        assert more is not None and tokens.count(chunk) <= 500 and chunk.startswith("## Properties")
        over = await call(session, "read_documentation", url=RDS, max_tokens=settings.DOCS_MAX_TOKENS_ARG + 1)
        assert over.is_error and "max_tokens" in text_of(over)
        zero = await call(session, "read_sections", url=RDS, section_titles=["DB engines"], max_tokens=0)
        assert zero.is_error and "max_tokens" in text_of(zero)
        too_long = await call(session, "read_sections", url=RDS, section_titles=["DB engines"], max_length=1_000_000)
        assert too_long.is_error and "max_length" in text_of(too_long)


async def test_search_table_rows_have_absolute_links(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        data = (await call(session, "search_table", url=AUTHZ, query="account", max_rows=100)).structured_content
    targets = re.findall(r"\]\(([^)\s]+)", json.dumps([r["rows"] for r in data["results"]]))
    assert targets and all(target.startswith(("https://", "http://")) for target in targets)


async def test_the_descriptions_tell_a_model_about_paging(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    for name in ("read_documentation", "read_sections"):
        description = tools[name].description or ""
        for words in ("max_tokens", "start_index", "sections", "Relative links"):
            assert words in description, (name, words)
        assert "max_tokens" in tools[name].input_schema["properties"]
    assert "#anchor" in (tools["read_documentation"].description or "")
    assert "dashes" in (tools["read_sections"].description or "")


async def test_tokens_are_counted_in_the_cpu_pool_not_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    address = parse_doc_url(RDS, "aws")
    cached = Page(address, address, page(RDS), 0.0, 0.0)

    async def get_page(_address: object) -> Page:
        return cached

    threads: list[str] = []
    counting = tokens.chars_within

    def spy(*args: Any) -> int:
        threads.append(threading.current_thread().name)
        return counting(*args)

    monkeypatch.setattr(tools, "get_page", get_page)
    monkeypatch.setattr(tokens, "chars_within", spy)
    context = SimpleNamespace(partition="aws")
    answer = await tools.read_documentation({"url": RDS, "max_tokens": 300}, context)  # type: ignore[arg-type]
    assert threads and all(name.startswith("awsmcp-cpu") for name in threads)
    assert answer["content"][0]["text"].startswith(f"AWS Documentation from {RDS}:")
