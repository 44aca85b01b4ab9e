"""A witness: another client's session reading a cached page again and again while an attack runs.

Every answer must be right, and none may take longer than `slowest` (a bound far above a cached
read's few milliseconds and far below what a frozen process costs): the figure tests assert on is
the worst wait the witness saw, never an exact timing of the happy path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.support.clients import open_session
from tests.support.processes import DaphneServer

RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
RDS_TEXT = "Amazon Relational Database Service"


@dataclass
class Witness:
    server: DaphneServer
    transport: str = "streamable-http"
    url: str = RDS
    expected: str = RDS_TEXT
    token: str = ""  # an API key, for a server that requires one (Streamable HTTP)
    answered: int = 0
    latencies: list[float] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[int] | None = None

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[ClientSession]:
        if not self.token:
            async with open_session(self.server, self.transport) as session:
                yield session
            return
        assert self.transport == "streamable-http", "a keyed witness speaks Streamable HTTP"
        client = create_mcp_http_client(headers={"authorization": f"Bearer {self.token}"})
        async with (
            client,
            streamable_http_client(self.server.mcp_url, http_client=client) as streams,
            ClientSession(streams[0], streams[1]) as session,
        ):
            await session.initialize()
            yield session

    async def run(self) -> int:
        async with self._session() as session:
            while not self.stop.is_set():
                started = time.monotonic()
                result = await session.call_tool("read_documentation", {"url": self.url, "max_length": 200})
                self.latencies.append(time.monotonic() - started)
                assert not result.is_error and self.expected in result.content[0].text, result
                self.answered += 1
                self.ready.set()
                await asyncio.sleep(0.02)
        return self.answered

    async def __aenter__(self) -> Witness:
        """Starts reading, and returns once the page is cached and a first answer came back."""
        self._task = asyncio.create_task(self.run())
        ready = asyncio.create_task(self.ready.wait())
        await asyncio.wait({self._task, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            if self._task.done():
                self._task.result()  # raises what went wrong
            raise TimeoutError("the witness never got its first answer")
        self.latencies.clear()  # the first read fetched the page: the rest are cached reads
        self.answered = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, 60)

    @property
    def slowest(self) -> float:
        return max(self.latencies, default=0.0)

    def assert_unharmed(self, slowest: float = 2.0, at_least: int = 1) -> None:
        """The witness kept being answered, correctly and without a long wait, while the attack ran."""
        assert self.answered >= at_least, f"the witness got {self.answered} answers during the attack"
        assert self.slowest < slowest, f"the witness waited {self.slowest:.2f} s for a cached read"


async def while_witnessed(*witnesses: Witness, answers: int = 5) -> None:
    """Hold the attack's state until each witness has been answered a few times under it."""
    for _ in range(600):  # 30 s at most
        if all(witness.answered >= answers for witness in witnesses):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the witnesses got {[witness.answered for witness in witnesses]} answers in 30 s")
