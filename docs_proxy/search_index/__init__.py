"""The local full-text index of the documentation pages the fleet has read: search for aws-cn (which has no
search API) and the fallback when the AWS search API fails. SQLite FTS5 or PostgreSQL full-text search,
in the database the server already uses."""

from docs_proxy.search_index.query import Hit, LocalResults, search

__all__ = ["Hit", "LocalResults", "search"]
