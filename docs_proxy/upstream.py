"""AWS's documentation APIs: search, recommendations, and the China partition's service list.

Requests and answers keep the shapes of the reference server (awslabs-aws-documentation-mcp-server
1.2.3); failures raise ToolError so that clients see `isError: true`, never an error dressed up as a result.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from pydantic import ValidationError

from awsmcp import otel
from docs_proxy import spans
from docs_proxy.addresses import origin_base
from docs_proxy.fetch import FetchError, request_json
from docs_proxy.upstream_models import RecommendationsAnswer, SearchAnswer
from mcp_gateway.catalogue import ToolError

NEURON_TERMS = ("neuron", "neuron sdk")
NEURON_DOMAIN = "awsdocs-neuron.readthedocs-hosted.com"
CHINA_USERGUIDE = "/en_us/aws/latest/userguide/"
CHINA_SERVICES_URL = f"https://docs.amazonaws.cn{CHINA_USERGUIDE}services.html"
MAX_SEARCH_RESULTS = 50  # the tool's upper bound: answers are cached whole and cut to each call's limit


def search_body(phrase: str, product_types: list[str] | None, guide_types: list[str] | None) -> dict[str, Any]:
    attributes = [{"key": "domain", "value": "docs.aws.amazon.com"}]
    if any(term in phrase.lower() for term in NEURON_TERMS):
        attributes.append({"key": "domain", "value": NEURON_DOMAIN})
    attributes += [{"key": "aws-docs-search-product", "value": p} for p in product_types or ()]
    attributes += [{"key": "aws-docs-search-guide", "value": g} for g in guide_types or ()]
    return {
        "textQuery": {"input": phrase},
        "contextAttributes": attributes,
        "acceptSuggestionBody": "RawText",
        "locales": ["en_us"],
    }


def parse_search(data: Any, limit: int) -> dict[str, Any]:
    try:
        answer = SearchAnswer.model_validate(data)
    except ValidationError:
        raise ToolError("The search service sent an answer of an unexpected shape; try again later.") from None
    return {
        "search_results": answer.results(limit),
        "facets": answer.facet_lists(),
        "query_id": str(answer.query_id),
        "metadata": answer.response_metadata(),
    }


def search(
    phrase: str, intent: str, limit: int, product_types: list[str] | None, guide_types: list[str] | None
) -> dict[str, Any]:
    """Blocking: one call to the search API."""
    params = {}
    intent = " ".join(intent.split())
    if intent:
        params["search_intent"] = intent
    with otel.span(spans.SEARCH_API) as span:
        if span is not None:
            span.set_attribute(spans.URL, settings.AWS_DOCS_SEARCH_URL)
        try:
            data = request_json(
                "POST",
                settings.AWS_DOCS_SEARCH_URL,
                params=params,
                body=search_body(phrase, product_types, guide_types),
            )
        except FetchError as exc:
            spans.failed(span, exc, exc.status)
            raise ToolError(f"Searching the AWS documentation failed: {exc.message}") from None
        answer = parse_search(data, limit)
        if span is not None:
            span.set_attribute(spans.RESULTS, len(answer["search_results"]))
        return answer


def parse_recommendations(data: Any) -> list[dict[str, Any]]:
    try:
        answer = RecommendationsAnswer.model_validate(data)
    except ValidationError:
        raise ToolError("The recommendations service sent an answer of an unexpected shape; try again later.") from None
    return answer.results()


def recommendations(page_url: str) -> list[dict[str, Any]]:
    """Blocking: one call to the recommendations API for a validated page URL."""
    with otel.span(spans.RECOMMENDATIONS_API) as span:
        if span is not None:
            span.set_attribute(spans.URL, settings.AWS_DOCS_RECOMMEND_URL)
        try:
            data = request_json("GET", settings.AWS_DOCS_RECOMMEND_URL, params={"path": page_url})
        except FetchError as exc:
            spans.failed(span, exc, exc.status)
            raise ToolError(f"Getting recommendations failed: {exc.message}") from None
        return parse_recommendations(data)


def china_services_toc() -> list[dict[str, str]]:
    """Blocking: the services listed under services.html in the China user guide's TOC."""
    url = origin_base("aws-cn") + CHINA_USERGUIDE + "toc-contents.json"
    try:
        toc = request_json("GET", url)
    except FetchError as exc:
        raise ToolError(f"Fetching the list of AWS China services failed: {exc.message}") from None
    contents = toc.get("contents") if isinstance(toc, dict) else None
    for item in contents if isinstance(contents, list) else []:
        if isinstance(item, dict) and item.get("href") == "services.html":
            services = []
            for child in item.get("contents") or []:
                title, href = child.get("title", ""), child.get("href", "")
                if not title or not href or "Services Unsupported" in title:
                    continue
                services.append({"title": title, "url": urljoin(CHINA_SERVICES_URL, href)})
            return services
    raise ToolError(f"Failed fetching list of available AWS Services, please go to {CHINA_SERVICES_URL} directly")
