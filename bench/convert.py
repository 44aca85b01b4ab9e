"""`python -m bench.convert`: our converter against the reference's, page by page, alternating calls.

The reference (`awslabs-aws-documentation-mcp-server` 1.2.3) is installed into its own venv under
.tools/ for this benchmark only; it is never a dependency of the product. For each fixture page the
two converters run alternately (ours, theirs, ours, ...), so machine noise hits both alike; times
are medians of each call's CPU time (the converting thread's), so other processes on a shared machine
do not count against either. Size columns say what an agent pays: each page's Markdown characters against the
reference's and against the article's own text, the characters spent on link targets, and the
read_documentation calls (and their answers' characters) needed at the default max_length, found by
following each answer's start_index hint. Quality columns count what each kept of the article:
headings in order, code blocks inside fences, table rows, chrome strings leaked, and wrong links (targets
that, resolved against the page's URL, are no link of the article). The targets
(no page larger than the reference's, 3x faster in total) are checked under the table.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bs4 import Tag

from docs_proxy.convert import convert
from docs_proxy.paging import TOC_LISTED, TOC_LISTED_LATER, Outlined, format_documentation_result
from tests.support import quality
from tests.support.origin import PAGES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "awslabs-aws-documentation-mcp-server==1.2.3"
REFERENCE_VENV = ROOT / ".tools" / "reference-venv"
RESULTS = ROOT / "bench" / "results"
MAX_LENGTH = 5000  # read_documentation's default
SPEED_TARGET = 3.0
# The sentence every truncated answer ends with (tests and clients parse it); other start_index= in an
# answer (a table of contents) name sections, not the continuation.
CONTINUE = re.compile(r"start_index=(\d+) to get more content")
LINK_TARGET = re.compile(r"\]\((<[^>]*>|[^)\s]+)")


def link_chars(markdown: str) -> int:
    """Characters spent on link targets: what repeating absolute URLs costs a page."""
    return sum(len(target) for target in LINK_TARGET.findall(markdown))


def text_chars(article: Tag) -> int:
    """The article's own text, whitespace collapsed: the floor any Markdown of it stands on."""
    return len(quality.clean(article.get_text(" ")))


def paged(url: str, markdown: str, headings: Sequence[Outlined] = (), max_length: int = MAX_LENGTH) -> tuple[int, int]:
    """(calls, answer characters) to read the whole page, following each answer's start_index hint, as an
    agent does: chunks may end before max_length (at a block boundary), so the count is not len // max_length.
    With the page's sections, each truncated answer carries its table of contents, as the tool's does."""
    calls, characters, start = 0, 0, 0
    while True:
        toc = TOC_LISTED if start == 0 else TOC_LISTED_LATER  # as the tools list them
        answer = format_documentation_result(url, markdown, start, max_length, headings, toc_limit=toc)
        calls += 1
        characters += len(answer)
        hint = CONTINUE.search(answer)
        if hint is None:
            return calls, characters
        following = int(hint.group(1))
        if following <= start:
            raise RuntimeError(f"{url}: the hint after start_index={start} does not move on ({following})")
        start = following


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

    def ask(line: str) -> dict:
        assert worker.stdin and worker.stdout
        worker.stdin.write(f"{line}\n")
        worker.stdin.flush()
        answer: dict = json.loads(worker.stdout.readline())
        return answer

    def theirs(path: Path) -> tuple[float, str]:
        answer = ask(str(path))
        return answer["seconds"], answer["markdown"]

    rows = []
    try:
        for url, name in manifest.items():
            path = PAGES / name
            html = path.read_text()
            convert(html, url)  # warm both; the reference pages its Markdown with its own code once
            their_paging = ask(f"{path}\t{url}")
            ours_times, their_times = [], []
            for _ in range(rounds):
                started = time.thread_time()
                document = convert(html, url)
                ours_times.append(time.thread_time() - started)
                seconds, their_markdown = theirs(path)
                their_times.append(seconds)
            article = quality.article_of(html)
            headings = quality.expected_headings(article)
            code = quality.expected_code_blocks(article)
            table_rows = sum(quality.expected_table_rows(article))
            ours_calls, ours_answer_chars = paged(url, document.markdown, document.sections)
            rows.append(
                {
                    "page": name.split("__")[0] + "/" + name.split("__")[1],
                    "html_bytes": len(html.encode()),
                    "ours_ms": statistics.median(ours_times) * 1000,
                    "reference_ms": statistics.median(their_times) * 1000,
                    "ours_chars": len(document.markdown),
                    "reference_chars": len(their_markdown),
                    "text_chars": text_chars(article),
                    "ours_link_chars": link_chars(document.markdown),
                    "reference_link_chars": link_chars(their_markdown),
                    "ours_calls": ours_calls,
                    "reference_calls": their_paging["calls"],
                    "ours_answer_chars": ours_answer_chars,
                    "reference_answer_chars": their_paging["answer_chars"],
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
                    "ours_wrong_links": len(quality.wrong_links(document.markdown, article, url)),
                    "reference_wrong_links": len(quality.wrong_links(their_markdown, article, url)),
                }
            )
    finally:
        worker.kill()
    return rows


def table(rows: list[dict]) -> str:
    """The Markdown table of the rows (as measure() makes them), a total row, and the targets checked."""
    head = (
        "| page | KB | ours ms | ref ms | speed-up | chars ours/ref/text | ours÷ref | ours÷text | "
        f"link chars ours/ref | calls@{MAX_LENGTH} ours/ref | answer chars ours/ref | headings ours/ref/all | "
        "code ours/ref/all | table rows ours/ref/all | leaks ours/ref | wrong links ours/ref |"
    )
    lines = [head, "|" + "---|" * 16]
    for r in rows:
        lines.append(
            f"| {r['page']} | {r['html_bytes'] / 1024:.0f} | {r['ours_ms']:.1f} | {r['reference_ms']:.1f} | "
            f"{r['reference_ms'] / r['ours_ms']:.2f}x | {r['ours_chars']}/{r['reference_chars']}/{r['text_chars']} | "
            f"{r['ours_chars'] / r['reference_chars']:.2f} | {r['ours_chars'] / r['text_chars']:.2f} | "
            f"{r['ours_link_chars']}/{r['reference_link_chars']} | {r['ours_calls']}/{r['reference_calls']} | "
            f"{r['ours_answer_chars']}/{r['reference_answer_chars']} | "
            f"{r['ours_headings']}/{r['reference_headings']}/{r['headings']} | "
            f"{r['ours_code']}/{r['reference_code']}/{r['code_blocks']} | "
            f"{r['ours_table_rows']}/{r['reference_table_rows']}/{r['table_rows']} | "
            f"{r['ours_leaks']}/{r['reference_leaks']} | {r['ours_wrong_links']}/{r['reference_wrong_links']} |"
        )
    ours = sum(r["ours_ms"] for r in rows)
    theirs = sum(r["reference_ms"] for r in rows)
    total = {key: sum(r[key] for r in rows) for key in _TOTALLED}
    lines.append(
        f"| **total** | | {ours:.1f} | {theirs:.1f} | {theirs / ours:.2f}x | "
        f"{total['ours_chars']}/{total['reference_chars']}/{total['text_chars']} | "
        f"{total['ours_chars'] / total['reference_chars']:.2f} | {total['ours_chars'] / total['text_chars']:.2f} | "
        f"{total['ours_link_chars']}/{total['reference_link_chars']} | "
        f"{total['ours_calls']}/{total['reference_calls']} | "
        f"{total['ours_answer_chars']}/{total['reference_answer_chars']} | | | | | |"
    )
    return "\n".join(lines) + "\n\n" + "\n".join(targets(rows))


_TOTALLED = (
    "ours_chars",
    "reference_chars",
    "text_chars",
    "ours_link_chars",
    "reference_link_chars",
    "ours_calls",
    "reference_calls",
    "ours_answer_chars",
    "reference_answer_chars",
)


def targets(rows: list[dict]) -> list[str]:
    """Issue 16's targets, each a yes or a no (with the pages that miss it)."""
    larger = [
        f"{r['page']} +{r['ours_chars'] - r['reference_chars']}" for r in rows if r["ours_chars"] > r["reference_chars"]
    ]
    speed_up = sum(r["reference_ms"] for r in rows) / sum(r["ours_ms"] for r in rows)
    return [
        f"- every page ours chars <= ref chars: {'no (' + ', '.join(larger) + ')' if larger else 'yes'}",
        f"- total speed-up >= {SPEED_TARGET:g}x: {'yes' if speed_up >= SPEED_TARGET else 'no'} ({speed_up:.2f}x)",
    ]


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
