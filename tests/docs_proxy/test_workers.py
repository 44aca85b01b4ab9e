"""The conversion pool with real worker processes: limits per page, replacement, no lost work."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from docs_proxy.convert import UnreadablePage
from docs_proxy.workers import ConversionFailed, ConversionPool, FailedPages, Limits
from tests.docs_proxy.hostile_html import article, headings, nested, table
from tests.support.origin import PAGES

MANIFEST = json.loads((PAGES / "MANIFEST.json").read_text())
RDS_URL = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
RDS = (PAGES / MANIFEST[RDS_URL]).read_bytes()


@pytest.fixture
def pool() -> Iterator[ConversionPool]:
    made = ConversionPool(2, Limits(cpu_seconds=1.0, memory_mb=400), queue_wait=20)
    yield made
    made.close()


def test_pages_convert_in_another_process(pool: ConversionPool) -> None:
    document = pool.convert(RDS, "utf-8", RDS_URL)
    assert document.title.startswith("What is Amazon Relational Database Service")
    assert document.sections and document.tables
    (pid,) = pool.worker_pids()
    assert pid != os.getpid()


def test_workers_run_at_a_lower_cpu_priority_than_the_server() -> None:
    """Conversion gives way to the serving process when both want the CPU (bench.mixed measures the effect)."""
    niced = ConversionPool(1, Limits(cpu_seconds=5, memory_mb=400, nice=7), queue_wait=20)
    try:
        assert niced.convert(RDS, "utf-8", RDS_URL).title
        (pid,) = niced.worker_pids()
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 7
    finally:
        niced.close()


def test_a_page_over_the_cpu_limit_fails_alone_and_its_worker_is_replaced(pool: ConversionPool) -> None:
    with pytest.raises(ConversionFailed, match=r"too large or too slow to convert \(over 1 s of CPU\)"):
        pool.convert(table(20_000).encode(), None, "https://docs.aws.amazon.com/t.html")
    assert pool.replaced == 1
    assert pool.convert(RDS, "utf-8", RDS_URL).title


def test_a_page_over_the_memory_limit_fails_clearly() -> None:
    small = ConversionPool(1, Limits(cpu_seconds=20, memory_mb=150), queue_wait=20)
    try:
        page = article("Many elements", "<b>x</b>" * 400_000).encode()
        with pytest.raises(ConversionFailed, match=r"too large to convert \(over 150 MB of memory\)"):
            small.convert(page, None, "https://docs.aws.amazon.com/m.html")
        assert small.convert(RDS, "utf-8", RDS_URL).title
    finally:
        small.close()


def test_a_refused_page_keeps_its_worker(pool: ConversionPool) -> None:
    with pytest.raises(UnreadablePage, match="too deeply nested"):
        pool.convert(nested(200_000).encode(), None, "https://docs.aws.amazon.com/n.html")
    assert pool.replaced == 0 and len(pool.worker_pids()) == 1


def test_other_pages_convert_while_a_hostile_one_runs(pool: ConversionPool) -> None:
    with ThreadPoolExecutor(2) as threads:
        hostile = threads.submit(pool.convert, table(20_000).encode(), None, "https://docs.aws.amazon.com/t.html")
        normal = [pool.convert(RDS, "utf-8", RDS_URL) for _ in range(3)]
        with pytest.raises(ConversionFailed):
            hostile.result(timeout=30)
    assert all(d.title for d in normal)


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time a process has used, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_worker_killed_mid_page_costs_only_that_page() -> None:
    slow = ConversionPool(2, Limits(cpu_seconds=30, memory_mb=400), queue_wait=20)
    try:
        with ThreadPoolExecutor(1) as threads:
            doomed = threads.submit(slow.convert, headings(40_000).encode(), None, "https://docs.aws.amazon.com/h.html")
            deadline = time.monotonic() + 10
            while not slow.worker_pids(busy=True) and time.monotonic() < deadline:
                time.sleep(0.02)
            (busy,) = slow.worker_pids(busy=True)
            assert slow.convert(RDS, "utf-8", RDS_URL).title  # on the other worker, meanwhile
            # Busy is marked before the page is sent: kill only once the worker spends CPU on it, else a loaded
            # machine kills it before the page and the pool rightly retries it elsewhere.
            started = cpu_ticks(busy)
            while cpu_ticks(busy) == started and time.monotonic() < deadline + 20:
                time.sleep(0.02)
            os.kill(busy, signal.SIGKILL)
            with pytest.raises(ConversionFailed, match="too large or too complex to convert"):
                doomed.result(timeout=30)
        assert slow.replaced == 1
        assert slow.convert(RDS, "utf-8", RDS_URL).title
    finally:
        slow.close()


def test_a_worker_killed_while_idle_is_replaced_without_failing_a_page(pool: ConversionPool) -> None:
    pool.convert(RDS, "utf-8", RDS_URL)
    (idle,) = pool.worker_pids()
    os.kill(idle, signal.SIGKILL)
    time.sleep(0.2)
    assert pool.convert(RDS, "utf-8", RDS_URL).title
    assert idle not in pool.worker_pids()


def test_a_busy_pool_says_so_instead_of_queueing_forever() -> None:
    busy = ConversionPool(1, Limits(cpu_seconds=30, memory_mb=400), queue_wait=0.3)
    try:
        started = threading.Event()

        def long_page() -> None:
            started.set()
            busy.convert(headings(10_000).encode(), None, "https://docs.aws.amazon.com/h.html")

        with ThreadPoolExecutor(1) as threads:
            running = threads.submit(long_page)
            started.wait()
            time.sleep(0.1)
            with pytest.raises(ConversionFailed, match="busy converting other pages") as refused:
                busy.convert(RDS, "utf-8", RDS_URL)
            assert refused.value.lasting is False  # not the page's fault: not remembered
            running.result(timeout=60)
    finally:
        busy.close()


def test_failed_pages_are_remembered_for_their_ttl() -> None:
    failed = FailedPages(ttl=0.3, kept=2)
    failed.remember("a", "A failed")
    assert failed.recent("a") == "A failed" and failed.recent("b") is None
    failed.remember("b", "B failed")
    failed.remember("c", "C failed")
    assert failed.recent("a") is None  # the oldest went first
    time.sleep(0.35)
    assert failed.recent("b") is None and failed.recent("c") is None
