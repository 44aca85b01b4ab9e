"""`python -m bench.cache`: a cold read, a warm L2 read and a warm L1 read of the largest fixture page.

In one process against the fixture origin on loopback, with the embedded default's L2 (the SQLite
file). The three kinds of read alternate within each round; times are medians, printed as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LARGEST = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"


def setup() -> object:
    from tests.support.origin import OriginServer

    origin = OriginServer().start()
    os.environ.update(origin.settings_env())
    os.environ["SQLITE_PATH"] = str(Path(tempfile.mkdtemp(prefix="awsmcp-bench-")) / "db.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "awsmcp.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return origin


async def measure(rounds: int) -> dict[str, list[float]]:
    from docs_proxy.addresses import parse_doc_url
    from docs_proxy.cache.layers import page_l1, shared
    from docs_proxy.page import cache_key
    from docs_proxy.pages import get_page

    address = parse_doc_url(LARGEST, "aws")
    key = cache_key(address)
    times: dict[str, list[float]] = {"cold": [], "warm_l2": [], "warm_l1": []}

    async def timed(kind: str) -> None:
        started = time.perf_counter()
        page = await get_page(address)
        times[kind].append(time.perf_counter() - started)
        assert page.document.markdown

    await get_page(address)  # warm the code paths
    for _ in range(rounds):
        page_l1().clear()
        await asyncio.to_thread(shared().delete, key)
        await timed("cold")
        page_l1().clear()
        await timed("warm_l2")
        await timed("warm_l1")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    origin = setup()
    try:
        times = asyncio.run(measure(args.rounds))
    finally:
        origin.stop()  # type: ignore[attr-defined]
    median = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    print(f"largest fixture page ({LARGEST}), medians of {args.rounds} rounds:")
    print("| read | ms | ratio to warm L1 |")
    print("|---|---|---|")
    for kind in ("cold", "warm_l2", "warm_l1"):
        print(f"| {kind} | {median[kind]:.3f} | {median[kind] / median['warm_l1']:.0f}x |")
    print(f"cold / warm L2 = {median['cold'] / median['warm_l2']:.1f}x")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "cache.json").write_text(json.dumps({"median_ms": median, "rounds": args.rounds}, indent=2))


if __name__ == "__main__":
    main()
