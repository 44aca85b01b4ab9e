"""The search and recommendation APIs' answers as pydantic models, read leniently: a part of the wrong shape
reads as absent.

AWS's answer is not ours to trust, so no shape error fails a call: a suggestion that is not an
excerpt is skipped (its rank still counts, as the reference's does), a list of the wrong type reads
as no list. Values the tools pass through untouched (titles, links, summaries) are not checked here.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

T = TypeVar("T")
FACETS = (("aws-docs-search-product", "product_types"), ("aws-docs-search-guide", "guide_types"))
RESPONSE_METADATA = ("discovered_services", "related_tasks", "relationships")


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


def _str_list(value: Any) -> list[str] | None:
    """Non-empty strings of a list; None when there are none or it is not a list."""
    if not isinstance(value, list):
        return None
    items = [item for item in value if isinstance(item, str) and item]
    return items or None


# A value that reads as None when it does not fit its type.
Lenient = Annotated[T | None, WrapValidator(_or_none)]
StrList = Annotated[list[str] | None, BeforeValidator(_str_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")  # aliases only: the answer's own names


class AdditionalUrl(_Model):
    url: StrictStr
    section_title: Any = None
    section_anchor: Any = None

    def shown(self) -> dict[str, Any]:
        """The keys the answer had, as it had them."""
        return self.model_dump(exclude_unset=True)


class ExcerptMetadata(_Model):
    recommended_sections: StrList = None
    sections: StrList = None
    additional_urls: Lenient[list[Lenient[AdditionalUrl]]] = None

    def more_urls(self) -> dict[str, Any] | None:
        """The result's `metadata`: the additional URLs that have a URL, or None."""
        urls = [item.shown() for item in self.additional_urls or () if item is not None]
        return {"additional_urls": urls} if urls else None


class Excerpt(_Model):
    link: Any = ""
    title: Any = ""
    summary: Any = None
    suggestion_body: Any = Field(None, alias="suggestionBody")
    metadata: Lenient[ExcerptMetadata] = None

    def result(self, rank: int) -> dict[str, Any]:
        """One search result in the reference's shape."""
        metadata = self.metadata or ExcerptMetadata()
        return {
            "rank_order": rank,
            "url": self.link,
            "title": self.title,
            # A summary present but null still wins over the body, as in the reference.
            "context": self.summary if "summary" in self.model_fields_set else self.suggestion_body,
            "recommended_sections": metadata.recommended_sections,
            "sections": metadata.sections,
            "metadata": metadata.more_urls(),
        }


class Suggestion(_Model):
    excerpt: Lenient[Excerpt] = Field(None, alias="textExcerptSuggestion")


class SearchAnswer(_Model):
    """The whole answer; only its being a JSON object is required."""

    suggestions: Lenient[list[Lenient[Suggestion]]] = None
    facets: Lenient[dict[str, Any]] = None
    metadata: Lenient[dict[str, Any]] = None
    query_id: Any = Field("", alias="queryId")

    def results(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` suggestions that are excerpts, ranked by their place among all suggestions."""
        found = []
        for rank, suggestion in enumerate((self.suggestions or [])[:limit], start=1):
            if suggestion is not None and suggestion.excerpt is not None:
                found.append(suggestion.excerpt.result(rank))
        return found

    def facet_lists(self) -> dict[str, list[str]] | None:
        given = self.facets or {}
        facets = {name: [str(v) for v in given[key]] for key, name in FACETS if isinstance(given.get(key), list)}
        return facets or None

    def response_metadata(self) -> dict[str, Any] | None:
        given = self.metadata or {}
        meta = {key: given[key] for key in RESPONSE_METADATA if given.get(key)}
        return meta or None


# --- recommendations ------------------------------------------------------------------------------
class RecommendedPage(_Model):
    url: Any = ""
    asset_title: Any = Field("", alias="assetTitle")

    def result(self, context: Any, category: str) -> dict[str, Any]:
        return {"url": self.url, "title": self.asset_title, "context": context, "category": category}


class Journey(_Model):
    intent: Any = ""
    urls: Lenient[list[Lenient[RecommendedPage]]] = None

    def results(self) -> list[dict[str, Any]]:
        context = f"Intent: {self.intent}" if self.intent else None
        return [page.result(context, "journey") for page in self.urls or () if page is not None]


class NewPage(RecommendedPage):
    date_created: Any = Field(None, alias="dateCreated")

    def results(self) -> list[dict[str, Any]]:
        created = self.date_created
        return [self.result(f"New content added on {created}" if created else "New content", "new")]


class SimilarPage(RecommendedPage):
    abstract: Any = "Similar content"

    def results(self) -> list[dict[str, Any]]:
        return [self.result(self.abstract, "similar")]


class Group(_Model, Generic[T]):
    """One kind of recommendation: its items that fit the kind."""

    items: Lenient[list[Lenient[T]]] = None

    def entries(self) -> list[T]:
        return [item for item in self.items or () if item is not None]


class RecommendationsAnswer(_Model):
    """The whole answer; only its being a JSON object is required."""

    journey: Lenient[Group[Journey]] = None
    new: Lenient[Group[NewPage]] = None
    similar: Lenient[Group[SimilarPage]] = None

    def results(self) -> list[dict[str, Any]]:
        """Journeys, then new pages, then similar ones, in the answer's order within each."""
        groups: tuple[Group[Any] | None, ...] = (self.journey, self.new, self.similar)
        return [
            result for group in groups if group is not None for entry in group.entries() for result in entry.results()
        ]
