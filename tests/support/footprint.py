"""What a server process holds, read from /proc: resident memory, threads and the bytes of its open temp files.

Tests of bounds assert on the peak of these while an attack runs (`Footprint`), sampled in a thread
so that the event loop of the test is free to drive the attack and the witness.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def open_file_bytes(pid: int, under: Path) -> int:
    """Sizes of the files the process holds open under a folder, deleted ones included: Python's
    TemporaryFile is unlinked at once (or never linked, O_TMPFILE), so only /proc/PID/fd shows it."""
    total = 0
    prefix = str(under)
    fd_dir = Path(f"/proc/{pid}/fd")
    for entry in fd_dir.iterdir():
        try:
            if os.readlink(entry).startswith(prefix):
                total += os.stat(entry).st_size
        except OSError:  # closed meanwhile
            continue
    return total


class Footprint:
    """Peaks of RSS growth and open temp-file bytes of one process, from entering to leaving."""

    def __init__(self, pid: int, tmpdir: Path | None = None, every: float = 0.01) -> None:
        self.pid = pid
        self.tmpdir = tmpdir
        self.every = every
        self.baseline_rss = 0
        self.peak_rss = 0
        self.peak_temp_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def rss_growth(self) -> int:
        return self.peak_rss - self.baseline_rss

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
                if self.tmpdir is not None:
                    self.peak_temp_bytes = max(self.peak_temp_bytes, open_file_bytes(self.pid, self.tmpdir))
            except OSError:  # the process is gone: the test will say so
                return
            time.sleep(self.every)

    def __enter__(self) -> Footprint:
        self.baseline_rss = self.peak_rss = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)

    def __str__(self) -> str:
        return f"RSS +{self.rss_growth / 2**20:.1f} MiB, temp files peak {self.peak_temp_bytes / 2**20:.1f} MiB"
