"""The fixture origin (AWS stand-in) and a Daphne that fetches from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne

SEARCH_API_BACKOFF = 3  # seconds the search API is left alone after it failed


@pytest.fixture(scope="session")
def docs_server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        **origin.settings_env(),
        DOCS_READ_TIMEOUT="1.5",
        DOCS_FETCH_DEADLINE="4",
        DOCS_FETCH_RETRIES="1",
        DOCS_SEARCH_API_BACKOFF=str(SEARCH_API_BACKOFF),
    ) as srv:
        yield srv
        assert srv.alive(), srv.log()
