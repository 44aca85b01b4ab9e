"""A hostile documentation origin on loopback: pages that hang or trickle, and odd content encodings.

It serves the real fixture pages at their public paths (so a witness can read one) and, under
/hostile/, pages that misbehave on purpose. Every connection is recorded: how many are open now, and
how long after it opened the client went away, which tells whether the server really let go of a
hung fetch (closed its socket) or only stopped waiting for it.
"""

from __future__ import annotations

import gzip
import select
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.support.origin import load_pages

TRICKLE_EVERY = 0.4  # seconds between two bytes of a trickled body: below any read timeout the tests set
HANGING_BODY_LENGTH = 100_000


@dataclass
class SlowOrigin:
    pages: dict[str, tuple[str, bytes]] = field(default_factory=load_pages)
    hits: Counter[str] = field(default_factory=Counter)
    accept_encodings: list[str] = field(default_factory=list)
    open_connections: int = 0
    held_for: list[float] = field(default_factory=list)  # seconds each hostile connection stayed open
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    sock: socket.socket | None = None

    @property
    def base(self) -> str:
        assert self.sock is not None
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def settings_env(self) -> dict[str, str]:
        return {
            "AWS_DOCS_ORIGIN": self.base,
            "AWS_CN_DOCS_ORIGIN": self.base + "/cn",
            "AWS_DOCS_SEARCH_URL": self.base + "/search",
            "AWS_DOCS_RECOMMEND_URL": self.base + "/v1/recommendations",
            "DOCS_TRUST_ENV_PROXIES": "false",
        }

    def start(self) -> SlowOrigin:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.sock is not None:
            self.sock.close()

    def _accept(self) -> None:
        assert self.sock is not None
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # --- one connection ---------------------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.open_connections += 1
        opened = time.monotonic()
        hostile = False
        try:
            head = self._read_head(conn)
            if head is None:
                return
            method, path, headers = head
            with self.lock:
                self.hits[path] += 1
                if path.endswith(".html"):
                    self.accept_encodings.append(headers.get("accept-encoding", ""))
            hostile = path.startswith("/hostile/") or (method == "POST" and path == "/search")
            self._answer(conn, path)
        except OSError:
            pass
        finally:
            with self.lock:
                self.open_connections -= 1
                if hostile:
                    self.held_for.append(time.monotonic() - opened)
            conn.close()

    def _read_head(self, conn: socket.socket) -> tuple[str, str, dict[str, str]] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return method, target.split("?", 1)[0], headers

    def _gone(self, conn: socket.socket, wait: float) -> bool:
        """Wait up to `wait` s; True when the client closed its end meanwhile."""
        readable, _, _ = select.select([conn], [], [], wait)
        if not readable:
            return False
        try:
            return conn.recv(4096) == b""
        except OSError:
            return True

    def _hold(self, conn: socket.socket) -> None:
        """Send nothing more until the client goes away (or the test ends)."""
        while not self.stopping.is_set() and not self._gone(conn, 0.05):
            pass

    def _trickle(self, conn: socket.socket) -> None:
        while not self.stopping.is_set():
            conn.sendall(b"x")
            if self._gone(conn, TRICKLE_EVERY):
                return

    def _answer(self, conn: socket.socket, path: str) -> None:
        if path in self.pages:
            body = self.pages[path][1]
            conn.sendall(_head(200, "text/html; charset=utf-8", len(body)) + body)
        elif path.startswith("/hostile/hang-headers"):
            self._hold(conn)
        elif path.startswith("/hostile/hang-body"):
            conn.sendall(_head(200, "text/html; charset=utf-8", HANGING_BODY_LENGTH) + b"<html><body>")
            self._hold(conn)
        elif path.startswith("/hostile/trickle") or path == "/search":
            kind = "application/json" if path == "/search" else "text/html; charset=utf-8"
            conn.sendall(_head(200, kind, HANGING_BODY_LENGTH))
            self._trickle(conn)
        elif path == "/hostile/brotli.html":
            conn.sendall(_head(200, "text/html; charset=utf-8", 64, ["Content-Encoding: br"]) + bytes(range(64)))
        elif path == "/hostile/gzip.html":
            body = gzip.compress(GZIP_PAGE)
            conn.sendall(_head(200, "text/html; charset=utf-8", len(body), ["Content-Encoding: gzip"]) + body)
        else:
            body = b"<html><body><h1>Page not found</h1></body></html>"
            conn.sendall(_head(404, "text/html", len(body)) + body)


GZIP_PAGE = (
    b"<!DOCTYPE html><html><head><title>Gzipped</title></head><body><div id='main-content'>"
    b"<h1>A gzipped page</h1><p>Compressed bodies are read as the page they hold.</p></div></body></html>"
)


def _head(status: int, content_type: str, length: int, extra: list[str] | None = None) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {length}"]
    lines += extra or []
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
