"""`python -m bench` (`make bench`): every benchmark in turn, each printing its table, then one summary.

Each part runs in its own process (`python -m bench.<part>`) and writes bench/results/<part>.json;
this driver gathers them, with the machine and the commit, into bench/results/latest.json. Pass part
names to run only those: `python -m bench transports peers`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# part -> arguments; sized so that the whole run stays under ten minutes on two cores
PARTS: dict[str, list[str]] = {
    "convert": ["--rounds", "5"],
    "cache": ["--rounds", "15"],
    "transports": ["--seconds", "1.0", "--rounds", "3"],
    "peers": ["--seconds", "1.5", "--rounds", "2"],
    "scaleout": ["--seconds", "1.5", "--rounds", "3"],
    "connections": [],
    "mixed": ["--seconds", "2.0", "--rounds", "3"],
    "auth": ["--seconds", "0.6", "--rounds", "2"],
    "search": ["--seconds", "3"],
    "traces": ["--rounds", "5"],
}


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit.stdout.strip(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    chosen = sys.argv[1:] or list(PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        sys.exit(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    summary: dict[str, object] = {"machine": machine(), "seconds": {}, "failed": []}
    started = time.perf_counter()
    for part in chosen:
        print(f"\n## bench.{part}\n", flush=True)
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"bench.{part}", *PARTS[part]], cwd=ROOT)
        summary["seconds"][part] = round(time.perf_counter() - began, 1)  # type: ignore[index]
        result = RESULTS / f"{part}.json"
        if done.returncode != 0:
            summary["failed"].append(part)  # type: ignore[attr-defined]
        elif result.exists():
            summary[part] = json.loads(result.read_text())
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(summary, indent=2))
    print(f"\nall parts in {summary['total_seconds']} s; figures in bench/results/latest.json")
    if summary["failed"]:
        sys.exit(f"failed: {summary['failed']}")


main()
