"""The docs cache's layers in one process: single flight, the L2's retries, and key listing per backend.

No server here: the origin and the conversion workers are replaced by counting stand-ins, and L2 is a
Django cache configured for each test, so what is counted is exactly what the code under test did.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache
from pytest_django.fixtures import Settings

from awsmcp import background
from docs_proxy import pages, workers
from docs_proxy.addresses import parse_doc_url
from docs_proxy.cache.backends import BackendAdapter, DatabaseAdapter, LocMemAdapter, RedisAdapter, adapter_for
from docs_proxy.cache.shared import SharedCache
from docs_proxy.cache.single_flight import SingleFlight
from docs_proxy.convert import Document, convert_body
from docs_proxy.fetch import Fetched

HTML = b"""<html><head><title>Cold</title></head><body><div id="main-content"><h1>Cold page</h1>
<p>Read by many at once.</p></div></body></html>"""


class DownCache(LocMemCache):
    """An L2 that fails every call, as a Redis that went away would."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("L2 is down")

    def set(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("L2 is down")

    def add(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("L2 is down")

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("L2 is down")


class FirstCallFails(LocMemCache):
    """An L2 whose first call fails quickly (a pooled connection from before a restart); it records every call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def _called(self, name: str) -> None:
        self.calls.append(name)
        if len(self.calls) == 1:
            raise ConnectionError("connection reset by peer")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        self._called("get")
        return super().get(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> Any:
        self._called("add")
        return super().add(*args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> Any:
        self._called("incr")
        return super().incr(*args, **kwargs)


def _with_cache(settings: Settings, alias: str, backend: type) -> None:
    settings.CACHES = {
        **settings.CACHES,
        alias: {"BACKEND": f"{backend.__module__}.{backend.__qualname__}", "LOCATION": alias},
    }


# --- single flight -----------------------------------------------------------------------------------
class _IdlePool:
    def warm(self) -> None:
        pass


async def test_concurrent_cold_reads_in_one_process_convert_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With L2 down there is no L2 lock to hide it: only the in-process single flight keeps this to one."""
    _with_cache(settings, "docs", DownCache)
    fetched: list[str] = []
    converted: list[str] = []
    lock = threading.Lock()

    def fetch_page(address: Any, etag: Any = None, last_modified: Any = None, deadline: Any = None) -> Fetched:
        with lock:
            fetched.append(address.path)
        time.sleep(0.2)  # long enough for every reader to arrive while it runs
        return Fetched(address, 200, HTML, "text/html; charset=utf-8", "utf-8")

    def convert_page(body: bytes, encoding: str | None, url: str) -> Document:
        with lock:
            converted.append(url)
        return convert_body(body, encoding, url)

    monkeypatch.setattr(pages, "fetch_page", fetch_page)
    monkeypatch.setattr(workers, "convert_page", convert_page)
    monkeypatch.setattr(workers, "conversion_pool", _IdlePool)
    monkeypatch.setattr(background, "ensure", lambda name: None)
    address = parse_doc_url(f"https://docs.aws.amazon.com/single-flight/{time.time_ns()}.html", "aws")

    results = await asyncio.gather(*(pages.get_page(address) for _ in range(8)))

    assert len(converted) == 1 and len(fetched) == 1
    assert all(page is results[0] for page in results)
    assert results[0].document.title == "Cold page"


async def test_single_flight_shares_one_outcome_and_then_forgets_the_key() -> None:
    flight: SingleFlight[int] = SingleFlight()
    runs: list[int] = []
    release = asyncio.Event()

    async def work() -> int:
        runs.append(1)
        await release.wait()
        raise ValueError("origin said no")

    waiters = [asyncio.create_task(flight.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    assert len(flight) == 1
    release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert len(runs) == 1 and all(isinstance(o, ValueError) for o in outcomes)
    assert len(flight) == 0

    async def answer() -> int:
        return 42

    assert await flight.run("k", answer) == 42


# --- retries ----------------------------------------------------------------------------------------
def _backend(store: SharedCache) -> FirstCallFails:
    backend = store.backend
    assert isinstance(backend, FirstCallFails)
    return backend


def test_a_read_is_tried_again_after_a_quick_failure(settings: Settings) -> None:
    _with_cache(settings, "retry-get", FirstCallFails)
    store = SharedCache("retry-get")
    assert store.get_plain("missing") is None
    assert _backend(store).calls == ["get", "get"]


def test_the_lock_add_is_never_tried_twice(settings: Settings) -> None:
    _with_cache(settings, "retry-add", FirstCallFails)
    store = SharedCache("retry-add")
    assert store.add("lock:page", 1, 10) is None  # L2 failed: the caller goes on without the lock
    assert _backend(store).calls == ["add"]


def test_the_counter_bump_is_never_tried_twice(settings: Settings) -> None:
    _with_cache(settings, "retry-bump", FirstCallFails)
    store = SharedCache("retry-bump")
    assert store.bump("purge-generation") is None
    assert _backend(store).calls == ["add"]  # the bump's first step failed, and nothing ran after it


# --- listing keys per backend -----------------------------------------------------------------------
def test_each_backend_class_gets_its_listing_once() -> None:
    assert type(adapter_for(LocMemCache("listing", {}))) is LocMemAdapter
    assert type(adapter_for(FirstCallFails("listing", {}))) is LocMemAdapter  # subclasses too
    assert type(adapter_for(DatabaseCache("some_table", {}))) is DatabaseAdapter
    assert type(adapter_for(RedisCache("redis://127.0.0.1:1/0", {}))) is RedisAdapter
    assert type(adapter_for(DownCache("listing", {}))) is LocMemAdapter


def test_a_backend_that_cannot_list_fails_through_the_breaker(settings: Settings) -> None:
    settings.CACHES = {**settings.CACHES, "dummy-l2": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    store = SharedCache("dummy-l2")
    assert type(store.adapter) is BackendAdapter
    assert store.keys("page:*") == []


def test_locmem_listing_matches_the_glob_under_our_prefix(settings: Settings) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "listed": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "listed", "KEY_PREFIX": "p"},
    }
    store = SharedCache("listed")
    store.set("page:v1:aws:/a.html", {"x": 1}, 60)
    store.set("page:v1:aws:/b.html", {"x": 2}, 60)
    store.set("search:abc", {"x": 3}, 60)
    assert sorted(store.keys("page:*")) == ["page:v1:aws:/a.html", "page:v1:aws:/b.html"]
    assert store.delete_matching("page:*") == 2
    assert store.keys("*") == ["search:abc"]
