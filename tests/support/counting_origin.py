"""The fixture origin, also recording what it was asked and how many page fetches it served at once.

`/slow/<tag>/<page path>` serves that page after SLOW_SECONDS: each tag is another URL (a cold read), and the
delay holds fetches open long enough to count how many run at the same time.
"""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer

from tests.support.origin import Handler, OriginServer, OriginState

SLOW_PREFIX = "/slow/"
SLOW_SECONDS = 0.5


class CountingState(OriginState):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []  # every GET's raw request target, query string included
        self.in_flight = 0
        self.most_in_flight = 0


class CountingHandler(Handler):
    server: CountingOrigin

    @property
    def counting(self) -> CountingState:
        return self.server.state

    def do_GET(self) -> None:
        with self.counting.lock:
            self.counting.requests.append(self.path)
        if not self.path.startswith(SLOW_PREFIX):
            super().do_GET()
            return
        _tag, _sep, rest = self.path[len(SLOW_PREFIX) :].partition("/")
        with self.counting.lock:
            self.counting.hits[self.path] += 1
            self.counting.in_flight += 1
            self.counting.most_in_flight = max(self.counting.most_in_flight, self.counting.in_flight)
        try:
            time.sleep(SLOW_SECONDS)
            self.page("/" + rest)
        finally:
            with self.counting.lock:
                self.counting.in_flight -= 1


class CountingOrigin(OriginServer):
    state: CountingState

    def __init__(self, port: int = 0) -> None:
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", port), CountingHandler)
        self.state = CountingState()
        self._thread: threading.Thread | None = None

    def reset_concurrency(self) -> None:
        with self.state.lock:
            self.state.most_in_flight = 0

    def requested(self, prefix: str) -> list[str]:
        """The raw request targets received so far that start with `prefix`."""
        with self.state.lock:
            return [path for path in self.state.requests if path.startswith(prefix)]
