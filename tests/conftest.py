"""Fixtures every test package shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.origin import OriginServer


@pytest.fixture(scope="session")
def origin() -> Iterator[OriginServer]:
    """The AWS stand-in on loopback; tests read its request counters as differences, never absolutes."""
    server = OriginServer().start()
    yield server
    server.stop()
