"""A round-robin TCP load balancer on loopback, as nginx would stand in front of several Daphnes.

Each new client connection goes to the next backend that accepts it; a dead backend is skipped.
No stickiness: a client's stream and its POSTs may land on different processes. It runs as a process
of its own (`python -m tests.support.balancer PORT BACKEND...`): as a thread of the test process it
shared the GIL with a hundred SDK sessions, and a burst starved its accept loop past the clients'
connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys

from tests.support.processes import ROOT, Endpoints, free_port, wait_for_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def serve(port: int, backends: list[int]) -> None:
    turn = itertools.count()

    async def one(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        start = next(turn)
        for offset in range(len(backends)):
            backend = backends[(start + offset) % len(backends)]
            try:
                backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", backend)
                break
            except OSError:
                continue
        else:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer))

    # A burst of clients (100 sessions, each a stream and its POSTs) overflows the default backlog of 100:
    # dropped SYNs are retried after 1, 2, 4 s, past a client's connect timeout.
    server = await asyncio.start_server(one, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


class Balancer(Endpoints):
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Balancer:
        args = [sys.executable, "-m", "tests.support.balancer", str(self.port), *map(str, self.backends)]
        self.proc = subprocess.Popen(args, cwd=ROOT)
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(int(sys.argv[1]), [int(p) for p in sys.argv[2:]]))
