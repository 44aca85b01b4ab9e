"""Reading the search and recommendation APIs' answers: the reference's shapes; parts of the wrong shape read as absent."""

from __future__ import annotations

from typing import Any

import pytest

from docs_proxy.upstream import parse_recommendations, parse_search
from mcp_gateway.catalogue import ToolError


def excerpt(**fields: Any) -> dict[str, Any]:
    return {"textExcerptSuggestion": {"link": "https://docs.aws.amazon.com/a.html", "title": "A", **fields}}


def test_a_full_answer_keeps_the_reference_shape() -> None:
    answer = {
        "queryId": "q-1",
        "suggestions": [
            excerpt(
                summary="About A",
                suggestionBody="ignored when a summary is given",
                metadata={
                    "recommended_sections": ["Intro", "", 3],
                    "sections": ["Intro", "Limits"],
                    "additional_urls": [
                        {"url": "https://docs.aws.amazon.com/b.html", "section_title": "B", "extra": 1},
                        {"url": 3},
                        "not an object",
                        {"url": "https://docs.aws.amazon.com/c.html", "section_anchor": None},
                    ],
                },
            )
        ],
        "facets": {"aws-docs-search-product": ["Amazon S3", 7], "aws-docs-search-guide": "not a list"},
        "metadata": {"discovered_services": ["s3"], "related_tasks": [], "relationships": None, "other": 1},
    }
    assert parse_search(answer, 10) == {
        "search_results": [
            {
                "rank_order": 1,
                "url": "https://docs.aws.amazon.com/a.html",
                "title": "A",
                "context": "About A",
                "recommended_sections": ["Intro"],
                "sections": ["Intro", "Limits"],
                "metadata": {
                    "additional_urls": [
                        {"url": "https://docs.aws.amazon.com/b.html", "section_title": "B"},
                        {"url": "https://docs.aws.amazon.com/c.html", "section_anchor": None},
                    ]
                },
            }
        ],
        "facets": {"product_types": ["Amazon S3", "7"]},
        "query_id": "q-1",
        "metadata": {"discovered_services": ["s3"]},
    }


def test_ranks_count_every_suggestion_within_the_limit() -> None:
    answer = {"suggestions": [excerpt(), {"other": 1}, "text", excerpt(title="D"), excerpt(title="E")]}
    results = parse_search(answer, 4)["search_results"]
    assert [(r["rank_order"], r["title"]) for r in results] == [(1, "A"), (4, "D")]


def test_the_body_is_the_context_without_a_summary_and_a_null_summary_wins() -> None:
    (body,) = parse_search({"suggestions": [excerpt(suggestionBody="Body")]}, 5)["search_results"]
    assert body["context"] == "Body"
    (null,) = parse_search({"suggestions": [excerpt(summary=None, suggestionBody="Body")]}, 5)["search_results"]
    assert null["context"] is None


def test_missing_parts_read_as_absent() -> None:
    assert parse_search({}, 5) == {"search_results": [], "facets": None, "query_id": "", "metadata": None}
    bare = parse_search({"suggestions": [{"textExcerptSuggestion": {"metadata": "x"}}], "queryId": 7}, 5)
    assert bare["query_id"] == "7"
    assert bare["search_results"] == [
        {
            "rank_order": 1,
            "url": "",
            "title": "",
            "context": None,
            "recommended_sections": None,
            "sections": None,
            "metadata": None,
        }
    ]


def test_a_suggestion_list_of_the_wrong_type_reads_as_none() -> None:
    assert parse_search({"suggestions": {"not": "a list"}, "queryId": "q"}, 5)["search_results"] == []


def test_snake_case_names_are_not_the_answer_s_own() -> None:
    assert parse_search({"query_id": "no"}, 5)["query_id"] == ""
    (result,) = parse_search({"suggestions": [excerpt(suggestion_body="no")]}, 5)["search_results"]
    assert result["context"] is None


@pytest.mark.parametrize("answer", [None, [], "text", 3])
def test_an_answer_that_is_not_an_object_is_a_tool_error(answer: Any) -> None:
    with pytest.raises(ToolError, match="unexpected shape"):
        parse_search(answer, 5)


# --- recommendations ------------------------------------------------------------------------------
def test_recommendations_keep_the_reference_shape_and_order() -> None:
    answer = {
        "similar": {"items": [{"url": "s", "assetTitle": "S", "abstract": "About S"}, {"url": "t"}, "x"]},
        "new": {"items": [{"url": "n", "assetTitle": "N", "dateCreated": "2026-01-02"}, {"url": "m"}]},
        "journey": {
            "items": [
                {"intent": "Learn", "urls": [{"url": "j", "assetTitle": "J"}, 3, {"url": "k"}]},
                {"urls": [{"url": "l", "assetTitle": "L"}]},
                {"intent": "No list", "urls": 7},
                "not a journey",
            ]
        },
    }
    assert parse_recommendations(answer) == [
        {"url": "j", "title": "J", "context": "Intent: Learn", "category": "journey"},
        {"url": "k", "title": "", "context": "Intent: Learn", "category": "journey"},
        {"url": "l", "title": "L", "context": None, "category": "journey"},
        {"url": "n", "title": "N", "context": "New content added on 2026-01-02", "category": "new"},
        {"url": "m", "title": "", "context": "New content", "category": "new"},
        {"url": "s", "title": "S", "context": "About S", "category": "similar"},
        {"url": "t", "title": "", "context": "Similar content", "category": "similar"},
    ]


def test_a_null_abstract_stays_null() -> None:
    (similar,) = parse_recommendations({"similar": {"items": [{"url": "s", "abstract": None}]}})
    assert similar["context"] is None


def test_groups_of_the_wrong_shape_read_as_empty() -> None:
    assert parse_recommendations({}) == []
    assert parse_recommendations({"journey": [], "new": {"items": {}}, "similar": "x"}) == []


@pytest.mark.parametrize("answer", [None, [], "text"])
def test_recommendations_that_are_not_an_object_are_a_tool_error(answer: Any) -> None:
    with pytest.raises(ToolError, match="unexpected shape"):
        parse_recommendations(answer)
