"""The fixture origin (AWS stand-in) and a Daphne that fetches from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne


@pytest.fixture(scope="session")
def docs_server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        **origin.settings_env(), DOCS_READ_TIMEOUT="1.5", DOCS_FETCH_DEADLINE="4", DOCS_FETCH_RETRIES="1"
    ) as srv:
        yield srv
        assert srv.alive(), srv.log()
