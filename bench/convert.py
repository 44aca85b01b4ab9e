"""`python -m bench.convert`: our converter against the reference's, page by page, alternating calls.

The reference (`awslabs-aws-documentation-mcp-server` 1.2.3) is installed into its own venv under
.tools/ for this benchmark only; it is never a dependency of the product. For each fixture page the
two converters run alternately (ours, theirs, ours, ...), so machine noise hits both alike; times
are medians. Quality columns count what each kept of the article: headings in order, code blocks
inside fences, table rows, and chrome strings leaked.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from docs_proxy.convert import convert
from tests.support import quality
from tests.support.origin import PAGES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "awslabs-aws-documentation-mcp-server==1.2.3"
REFERENCE_VENV = ROOT / ".tools" / "reference-venv"
RESULTS = ROOT / "bench" / "results"


def reference_python() -> Path:
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing {REFERENCE} into {REFERENCE_VENV} (benchmark only)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", REFERENCE], check=True)
    return python


def measure(rounds: int) -> list[dict]:
    manifest = json.loads((PAGES / "MANIFEST.json").read_text())
    worker = subprocess.Popen(
        [str(reference_python()), str(ROOT / "bench" / "reference_worker.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def theirs(path: Path) -> tuple[float, str]:
        assert worker.stdin and worker.stdout
        worker.stdin.write(f"{path}\n")
        worker.stdin.flush()
        answer = json.loads(worker.stdout.readline())
        return answer["seconds"], answer["markdown"]

    rows = []
    try:
        for url, name in manifest.items():
            path = PAGES / name
            html = path.read_text()
            convert(html, url)  # warm both
            theirs(path)
            ours_times, their_times = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                document = convert(html, url)
                ours_times.append(time.perf_counter() - started)
                seconds, their_markdown = theirs(path)
                their_times.append(seconds)
            article = quality.article_of(html)
            headings = quality.expected_headings(article)
            code = quality.expected_code_blocks(article)
            table_rows = sum(quality.expected_table_rows(article))
            rows.append(
                {
                    "page": name.split("__")[0] + "/" + name.split("__")[1],
                    "html_bytes": len(html.encode()),
                    "ours_ms": statistics.median(ours_times) * 1000,
                    "reference_ms": statistics.median(their_times) * 1000,
                    "ours_chars": len(document.markdown),
                    "reference_chars": len(their_markdown),
                    "headings": len(headings),
                    "ours_headings": quality.headings_in_order(document.markdown, headings),
                    "reference_headings": quality.headings_in_order(their_markdown, headings),
                    "code_blocks": len(code),
                    "ours_code": sum(quality.code_block_fenced(document.markdown, c) for c in code),
                    "reference_code": sum(quality.code_block_fenced(their_markdown, c) for c in code),
                    "table_rows": table_rows,
                    "ours_table_rows": sum(len(t.rows) + 1 for t in document.tables),
                    "reference_table_rows": quality.markdown_table_rows(their_markdown),
                    "ours_leaks": len(quality.leaks(document.markdown)),
                    "reference_leaks": len(quality.leaks(their_markdown)),
                    "ours_relative_links": len(quality.relative_links(document.markdown)),
                    "reference_relative_links": len(quality.relative_links(their_markdown)),
                }
            )
    finally:
        worker.kill()
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| page | KB | ours ms | ref ms | speed-up | chars ours/ref | headings ours/ref/all | "
        "code ours/ref/all | table rows ours/ref/all | leaks ours/ref | relative links ours/ref |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['page']} | {r['html_bytes'] / 1024:.0f} | {r['ours_ms']:.1f} | {r['reference_ms']:.1f} | "
            f"{r['reference_ms'] / r['ours_ms']:.2f}x | {r['ours_chars']}/{r['reference_chars']} | "
            f"{r['ours_headings']}/{r['reference_headings']}/{r['headings']} | "
            f"{r['ours_code']}/{r['reference_code']}/{r['code_blocks']} | "
            f"{r['ours_table_rows']}/{r['reference_table_rows']}/{r['table_rows']} | "
            f"{r['ours_leaks']}/{r['reference_leaks']} | {r['ours_relative_links']}/{r['reference_relative_links']} |"
        )
    ours = sum(r["ours_ms"] for r in rows)
    theirs = sum(r["reference_ms"] for r in rows)
    lines.append(f"| **total** | | {ours:.1f} | {theirs:.1f} | {theirs / ours:.2f}x | | | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows = measure(args.rounds)
    print(table(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "convert.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
