"""Page conversion in worker processes: a hostile page costs its own call, never the server's GIL.

Workers are fresh interpreters (`python -m docs_proxy.workers`), started when a page first needs
one: Daphne's process has threads, so forking it could copy a lock another thread holds, and
multiprocessing's spawn and forkserver children re-run the parent's main script (the `daphne`
console script imports Twisted again: +0.5 s and its memory in every worker). Each worker converts
one page at a time under an address-space limit (RLIMIT_AS) and a CPU-time limit per page (a SIGPROF
timer, RLIMIT_CPU behind it); the parent kills a worker that overstays a wall-clock bound. A worker
that fails or dies is replaced and only its own page fails: unlike ProcessPoolExecutor, where one
dead worker breaks the pool and every page queued in it.

A page that failed to convert is remembered for DOCS_CONVERT_FAILURE_TTL (`failed_pages`), so
calls for it are answered from memory instead of fetching and converting it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from docs_proxy.convert import Document, UnreadablePage, convert_body

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # where `python -m docs_proxy.workers` finds the package
TASKS_PER_WORKER = 200  # a worker is replaced after this many pages (heap fragmentation stays bounded)
FAILED_PAGES_KEPT = 10_000


class ConversionFailed(Exception):
    """A page could not be converted; the message names the cause, for the tool's answer."""

    def __init__(self, message: str, lasting: bool = True) -> None:
        super().__init__(message)
        self.lasting = lasting  # the page's own fault (remember it), not a busy server


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: float  # CPU time one page may take
    memory_mb: int  # address space of a worker process
    nice: int = 0  # added to a worker's nice value: the serving process wins the CPU when both want it

    @property
    def wall_seconds(self) -> float:
        """The parent's bound on a page, far above its CPU limit: only a stuck worker reaches it."""
        return self.cpu_seconds * 4 + 5


# --- the worker process -----------------------------------------------------------------------
class _OverTime(Exception):
    pass


def _on_sigprof(signum: int, frame: Any) -> None:
    raise _OverTime


def _set_limits(limits: Limits) -> None:
    size = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.nice > 0:
        os.nice(limits.nice)
    signal.signal(signal.SIGPROF, _on_sigprof)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of `make run` is the server's to handle


def _arm_cpu_limit(limits: Limits) -> None:
    """SIGPROF after cpu_seconds of this page; RLIMIT_CPU kills the worker if C code keeps the handler from running."""
    signal.setitimer(signal.ITIMER_PROF, limits.cpu_seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (int(used + limits.cpu_seconds) + 3, hard))


def _convert_one(job: tuple[bytes, str | None, str], limits: Limits) -> tuple[str, Any]:
    """('ok', Document), ('refused', message) for a page that has no article, or ('retire', message)."""
    body, encoding, url = job
    try:
        _arm_cpu_limit(limits)
        try:
            return "ok", convert_body(body, encoding, url)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _OverTime:
        return "retire", f"The page is too large or too slow to convert (over {limits.cpu_seconds:g} s of CPU)."
    except MemoryError:
        return "retire", f"The page is too large to convert (over {limits.memory_mb} MB of memory)."
    except UnreadablePage as exc:
        return "refused", str(exc)
    except Exception as exc:  # a converter bug must not take the worker's loop down silently
        return "retire", f"The page could not be converted ({type(exc).__name__})."


def serve(jobs: Connection, answers: Connection, limits: Limits) -> None:
    """A worker's loop: one page at a time until the parent closes the pipe or the worker must retire."""
    _set_limits(limits)
    for _ in range(TASKS_PER_WORKER):
        try:
            job = jobs.recv()
        except (EOFError, OSError):
            return  # the server is gone
        status, value = _convert_one(job, limits)
        try:
            answers.send((status, value))
        except MemoryError:
            status = "retire"
            with contextlib.suppress(MemoryError, OSError):
                answers.send((status, f"The page is too large to convert (over {limits.memory_mb} MB of memory)."))
        except OSError:
            return
        if status == "retire":
            return


def main(argv: list[str]) -> None:
    """`python -m docs_proxy.workers JOBS_FD ANSWERS_FD CPU_SECONDS MEMORY_MB NICE`, as the pool starts it."""
    jobs_fd, answers_fd, cpu_seconds, memory_mb, nice = argv
    serve(
        Connection(int(jobs_fd), writable=False),
        Connection(int(answers_fd), readable=False),
        Limits(float(cpu_seconds), int(memory_mb), int(nice)),
    )


# --- the parent side --------------------------------------------------------------------------
class _GoneBeforeThePage(Exception):
    """The worker had died before it was given the page (killed while idle): not the page's fault."""


class _Worker:
    """One worker process and its two pipes (pages in, answers out)."""

    def __init__(self, limits: Limits) -> None:
        jobs_read, jobs_write = os.pipe()
        answers_read, answers_write = os.pipe()
        theirs = (jobs_read, answers_write)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "docs_proxy.workers", str(jobs_read), str(answers_write),
                 repr(limits.cpu_seconds), str(limits.memory_mb), str(limits.nice)],
                pass_fds=theirs,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except BaseException:
            for fd in (jobs_write, answers_read):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self.jobs = Connection(jobs_write, readable=False)
        self.answers = Connection(answers_read, writable=False)
        self.tasks = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, job: tuple[bytes, str | None, str], wall_seconds: float) -> tuple[str, Any]:
        """Send a page and wait for its answer; raises TimeoutError or EOFError/OSError (worker gone)."""
        self.tasks += 1
        try:
            self.jobs.send(job)
        except OSError:
            raise _GoneBeforeThePage from None
        if not self.answers.poll(wall_seconds):
            raise TimeoutError
        return self.answers.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.jobs.close()
        self.answers.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(2)


class ConversionPool:
    """At most `size` worker processes, started on demand; `convert` blocks the calling thread."""

    def __init__(self, size: int, limits: Limits, queue_wait: float) -> None:
        self.size = max(1, size)
        self.limits = limits
        self.queue_wait = queue_wait
        self._slots = threading.BoundedSemaphore(self.size)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._warming = False
        self.replaced = 0  # workers that failed, died or were killed (for tests and logs)

    def warm(self) -> None:
        """Start one worker in the background, once: the first page's fetch overlaps its start."""
        if self._warming:
            return
        self._warming = True
        threading.Thread(target=self._start_idle_worker, name="awsmcp-convert-warm", daemon=True).start()

    def _start_idle_worker(self) -> None:
        try:
            worker = _Worker(self.limits)
        except Exception:
            log.exception("could not start a conversion worker")
            return
        self._give_back(worker)

    def convert(self, body: bytes, encoding: str | None, url: str) -> Document:
        if not self._slots.acquire(timeout=self.queue_wait):
            raise ConversionFailed("The server is busy converting other pages; try again in a moment.", lasting=False)
        try:
            return self._convert_on_a_worker((body, encoding, url))
        finally:
            self._slots.release()

    def _convert_on_a_worker(self, job: tuple[bytes, str | None, str]) -> Document:
        worker = self._take()
        try:
            try:
                status, value = worker.ask(job, self.limits.wall_seconds)
            except _GoneBeforeThePage:
                self._retire(worker, "was gone before it got a page")
                worker = self._take()
                status, value = worker.ask(job, self.limits.wall_seconds)
        except TimeoutError:
            self._retire(worker, "took longer than %.0f s", self.limits.wall_seconds)
            raise ConversionFailed(
                f"The page is too large or too slow to convert (over {self.limits.wall_seconds:g} s)."
            ) from None
        except (EOFError, OSError, _GoneBeforeThePage):
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(1)
            code = worker.process.returncode
            self._retire(worker, "died (exit code %s)", code)
            raise ConversionFailed(
                "The page is too large or too complex to convert (the converter ran out of its "
                f"{self.limits.cpu_seconds:g} s CPU or {self.limits.memory_mb} MB memory limit)."
            ) from None
        if status == "ok":
            self._give_back(worker)
            return value
        if status == "refused":
            self._give_back(worker)
            raise UnreadablePage(value)
        self._retire(worker, "gave up on a page: %s", value)
        raise ConversionFailed(value)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    self._busy.add(worker)
                    return worker
                worker.stop()  # died while idle (killed from outside): start another
                self.replaced += 1
        worker = _Worker(self.limits)
        with self._lock:
            self._busy.add(worker)
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            # After TASKS_PER_WORKER pages it leaves its loop by itself; a warm-up may have made one too many.
            keep = worker.tasks < TASKS_PER_WORKER and len(self._idle) < self.size
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.stop()

    def _retire(self, worker: _Worker, why: str, *args: Any) -> None:
        log.warning("conversion worker %s " + why, worker.pid, *args)
        worker.stop()
        with self._lock:
            self._busy.discard(worker)
            self.replaced += 1

    def worker_pids(self, busy: bool = False) -> list[int]:
        """The idle workers' process ids, or the busy ones' (tests, diagnostics)."""
        with self._lock:
            workers = self._busy if busy else self._idle
            return [w.pid for w in workers]

    def close(self) -> None:
        """Stop the idle workers (tests); busy ones end with their page."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


@cache
def conversion_pool() -> ConversionPool:
    from django.conf import settings  # here, not at the top: a worker starts faster without Django

    limits = Limits(settings.DOCS_CONVERT_TIMEOUT, settings.DOCS_CONVERT_MEMORY_MB, settings.DOCS_CONVERT_NICE)
    # The read waits DOCS_CONVERT_TIMEOUT past its fetch deadline for the conversion (pages.py): half of it
    # for a free worker at most, so a busy pool answers "busy" rather than the read timing out.
    return ConversionPool(settings.DOCS_CONVERT_WORKERS, limits, queue_wait=settings.DOCS_CONVERT_TIMEOUT / 2)


def convert_page(body: bytes, encoding: str | None, url: str) -> Document:
    """Decode and convert a fetched page in a worker process (blocks the calling thread, never the loop)."""
    return conversion_pool().convert(body, encoding, url)


# --- pages that failed ------------------------------------------------------------------------
class FailedPages:
    """URL -> the error a recent conversion gave, kept for `ttl` seconds; at most `kept` URLs (oldest dropped)."""

    def __init__(self, ttl: float, kept: int = FAILED_PAGES_KEPT) -> None:
        self.ttl = ttl
        self.kept = kept
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, url: str, message: str) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries.pop(url, None)
            self._entries[url] = (time.monotonic() + self.ttl, message)
            while len(self._entries) > self.kept:
                self._entries.popitem(last=False)

    def recent(self, url: str) -> str | None:
        """The remembered error of a page that failed within the TTL, else None."""
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[url]
                return None
            return entry[1]

    def forget(self, url: str) -> None:
        with self._lock:
            self._entries.pop(url, None)


@cache
def failed_pages() -> FailedPages:
    from django.conf import settings

    return FailedPages(settings.DOCS_CONVERT_FAILURE_TTL)


if __name__ == "__main__":
    main(sys.argv[1:])
