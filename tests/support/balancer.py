"""A round-robin TCP load balancer on loopback, as nginx would stand in front of several Daphnes.

Each new client connection goes to the next backend that accepts it; a dead backend is skipped.
No stickiness: a client's stream and its POSTs may land on different processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading

from tests.support.processes import Endpoints, free_port, wait_for_port


class Balancer(Endpoints):
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.turn = itertools.count()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        start = next(self.turn)
        for offset in range(len(self.backends)):
            port = self.backends[(start + offset) % len(self.backends)]
            try:
                backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, backend_writer), self._pipe(backend_reader, client_writer))

    async def _start(self) -> None:
        # A burst of clients (100 sessions, each a stream and its POSTs) overflows the default backlog of 100
        # while this loop is busy: dropped SYNs are retried after 1, 2, 4 s, past a client's connect timeout.
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=1024)

    def start(self) -> Balancer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
