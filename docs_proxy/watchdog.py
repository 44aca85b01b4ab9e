"""A whole-fetch deadline on the clock: at the deadline, the fetch's sockets are shut down.

`requests`' read timeout applies to each socket read, so a body trickling a byte every few seconds
never trips it, and a thread blocked in `recv` cannot be interrupted from outside except through its
socket. One watchdog thread per process keeps the pending deadlines; when one passes, it shuts down
(SHUT_RDWR) every socket the fetch registered, which wakes the blocked read at once. The socket is
shut down, not closed: its owner closes it, so its file descriptor is never reused under it.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Guard:
    """One fetch's deadline and the sockets it is using."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, sock: socket.socket | None) -> None:
        """Shut `sock` down at the deadline (at once when it has passed)."""
        if sock is None:
            return
        with self._lock:
            if not self.expired:
                if sock not in self._sockets:
                    self._sockets.append(sock)
                return
        _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self._sockets = []


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by its owner, or never connected


class Watchdog:
    """One thread, waking at the earliest pending deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Guard]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, guard: Guard) -> None:
        with self._wake:
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="awsmcp-fetch-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)  # finished in time: nothing to do
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                _deadline, _n, guard = heapq.heappop(self._heap)
            guard.expire()


_watchdog = Watchdog()
_current = threading.local()


@contextmanager
def guarded(deadline: float) -> Iterator[Guard]:
    """Within this block, sockets this thread registers (see `current`) are shut down at `deadline`."""
    guard = Guard(deadline)
    _watchdog.watch(guard)
    previous = getattr(_current, "guard", None)
    _current.guard = guard
    try:
        yield guard
    finally:
        _current.guard = previous
        guard.finish()


def current() -> Guard | None:
    """The guard of the fetch running in this thread, if any."""
    return getattr(_current, "guard", None)
