"""/readyz: anonymous callers see which part fails, never an address or an exception's text; a database
locked by another process shows as not ready, and costs a cold read a bounded wait, not the 20 s busy
timeout of every write on its path."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx

from tests.support.admin import logged_in
from tests.support.clients import open_session
from tests.support.origin import OriginServer
from tests.support.processes import daphne, redis_server

RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
CLI = "https://docs.aws.amazon.com/cli/latest/reference/s3/cp.html"
LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-python-how-to-create-deployment-package.html"


async def test_readiness_names_the_failing_part_only_to_anonymous_callers(origin: OriginServer) -> None:
    with redis_server() as store, daphne(**origin.settings_env(), REDIS_URL=store.url) as server:
        staff = await logged_in(server)
        async with httpx.AsyncClient(timeout=15) as anonymous:
            assert (await anonymous.get(f"{server.base}/readyz")).status_code == 200
            store.stop()
            try:
                reply = await anonymous.get(f"{server.base}/readyz")
                for_staff = await staff.get("/readyz")
            finally:
                store.start()
                await staff.aclose()
        log = server.log()
    assert reply.status_code == 503, reply.text
    assert reply.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "cache": "failing", "channel_layer": "failing"},
    }, reply.text
    for secret in (str(store.port), "127.0.0.1", "redis://", "Error", "Connection"):
        assert secret not in reply.text, (secret, reply.text)
    assert for_staff.status_code == 503 and str(store.port) in for_staff.json()["reasons"]["cache"], for_staff.text
    assert "readiness: cache failing" in log and str(store.port) in log


def table_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db, timeout=30) as reader:
        return int(reader.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def test_a_locked_database_is_not_ready_and_costs_a_cold_read_a_bounded_wait(origin: OriginServer) -> None:
    with daphne(**origin.settings_env()) as server:
        db = Path(server.env["SQLITE_PATH"])
        async with httpx.AsyncClient(timeout=60) as http:
            assert (await http.get(f"{server.base}/readyz")).status_code == 200
            async with open_session(server, "streamable-http") as session:  # conversion workers started
                assert not (await session.call_tool("read_documentation", {"url": RDS, "max_length": 300})).is_error
            locker = sqlite3.connect(db, timeout=1, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            try:
                started = time.monotonic()
                locked = await http.get(f"{server.base}/readyz")
                ready_wait = time.monotonic() - started
                async with open_session(server, "streamable-http") as session:
                    started = time.monotonic()
                    cold = await asyncio.wait_for(
                        session.call_tool("read_documentation", {"url": CLI, "max_length": 300}), 120
                    )
                    cold_wait = time.monotonic() - started
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            print(f"readyz answered in {ready_wait:.2f}s, the cold read in {cold_wait:.2f}s")
            assert locked.status_code == 503 and locked.json()["checks"]["database"] == "failing", locked.text
            assert ready_wait < 3.5, ready_wait
            assert not cold.is_error and "# cp" in cold.content[0].text, cold
            assert cold_wait < 3.0, cold_wait

            # The lock is gone: ready again, and cold reads fill the shared layer again after the breaker period.
            await asyncio.sleep(5.5)
            assert (await http.get(f"{server.base}/readyz")).status_code == 200
            before = table_rows(db, "awsmcp_docs_cache")
            async with open_session(server, "streamable-http") as session:
                assert not (await session.call_tool("read_documentation", {"url": LAMBDA, "max_length": 300})).is_error
            assert table_rows(db, "awsmcp_docs_cache") > before
