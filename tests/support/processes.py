"""Real processes for integration tests: Daphne servers and redis-server on free loopback ports."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


class Endpoints:
    """The MCP URLs of anything listening on a loopback port (a server, a balancer)."""

    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def sse_url(self) -> str:
        return f"{self.base}/mcp/sse"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/mcp/ws"


@dataclass
class DaphneServer(Endpoints):
    port: int
    proc: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a management command against this server's database and caches."""
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )


def base_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "AWS_", "DOCS_", "REDIS_", "OTEL_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "awsmcp.settings",
            "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdef",
            "MCP_AUTH_REQUIRED": "false",
            "MCP_RATELIMIT_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def _run_migrate(db_path: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**env, "SQLITE_PATH": str(db_path)},
        check=True,
    )


_template_lock = threading.Lock()
_template: Path | None = None


def _migrated_template() -> Path:
    """A SQLite file migrated once per test run: every server's fresh database is a copy of it.

    `manage.py migrate` costs some 7 s of CPU; a copy costs milliseconds. The schema does not depend on the
    settings the tests vary (no migration reads them but AUTH_USER_MODEL; the optional apps have no models), so
    the template is migrated with the default settings: without REDIS_URL, which also makes the docs cache's
    table (a server on Redis leaves it unused)."""
    global _template
    with _template_lock:
        if _template is None:
            workdir = Path(tempfile.mkdtemp(prefix="awsmcp-template-"))
            atexit.register(shutil.rmtree, workdir, True)
            path = workdir / "db.sqlite3"
            _run_migrate(path, base_env())
            with closing(sqlite3.connect(path)) as db:  # everything into the main file: a copy is then whole
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _template = path
        return _template


def migrate(db_path: Path, env: dict[str, str]) -> None:
    """A migrated database at db_path: a copy of the run's template for SQLite, `migrate` itself otherwise."""
    if env.get("DATABASE_URL"):
        _run_migrate(db_path, env)
        return
    shutil.copyfile(_migrated_template(), db_path)


@contextmanager
def daphne(
    *, db_path: Path | None = None, flags: Sequence[str] = ("--verbosity", "0"), **env_overrides: str
) -> Iterator[DaphneServer]:
    """Start the server (`python -m awsmcp.serve <flags> -b 127.0.0.1 -p <port> awsmcp.asgi:application`) on a
    free port; a fresh SQLite database unless one is given (several servers given the same file share the docs
    cache's shared layer). `flags`: the fleet tests pass the shipped unit's (tests/support/shipped.py)."""
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-test-"))
    db = db_path or workdir / "db.sqlite3"
    env = base_env(SQLITE_PATH=str(db), **env_overrides)
    if db_path is None or not db_path.exists():
        migrate(db, env)
    port = free_port()
    log_path = workdir / "daphne.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "awsmcp.serve",
                *flags,
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "awsmcp.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = DaphneServer(port, proc, log_path, env)
    try:
        wait_for_port(port, proc=proc)
        _wait_ready(server)
        yield server
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(server: DaphneServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"daphne did not become healthy:\n{server.log()}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is missing: run scripts/install-test-tools.sh (make test does)"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/awsmcp"


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    assert found, "PostgreSQL is missing: run scripts/install-test-tools.sh (make test does)"
    return str(found[-1])


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the postgres user the package made."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-pg-"))
    datadir = workdir / "data"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    server = PostgresServer(free_port(), datadir)
    server.proc = subprocess.Popen(
        _as_postgres(
            [_pg_bin("postgres"), "-D", str(datadir), "-p", str(server.port), "-k", str(workdir), "-h", "127.0.0.1",
             "-c", "fsync=off", "-c", "max_connections=200"]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(server.port, proc=server.proc)
        for _ in range(50):
            made = subprocess.run(
                _as_postgres(
                    [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "awsmcp"]
                ),
                capture_output=True,
            )
            if made.returncode == 0:
                break
            time.sleep(0.1)
        yield server
    finally:
        stop(server.proc)
        shutil.rmtree(workdir, ignore_errors=True)
