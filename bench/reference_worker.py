"""Runs inside the reference server's own venv: times its converter on the pages it is told about.

Protocol: one page path per line on stdin, optionally followed by a tab and the page's URL; one JSON line
per page on stdout with the CPU seconds one call of `extract_content_from_html` took, the Markdown it returned,
and (given the URL) the calls and answer characters its own `format_documentation_result` needs to serve
all of it at read_documentation's default max_length, following its start_index hints.
"""

import json
import re
import sys
import time

from awslabs.aws_documentation_mcp_server.util import extract_content_from_html, format_documentation_result

MAX_LENGTH = 5000
HINT = re.compile(r"start_index=(\d+) to get more content")


def paged(url: str, markdown: str) -> tuple[int, int]:
    """Calls and answer characters to read it all, as an agent following the hints would."""
    calls, characters, start = 0, 0, 0
    while True:
        answer = format_documentation_result(url, markdown, start, MAX_LENGTH)
        calls += 1
        characters += len(answer)
        hint = HINT.search(answer)
        if hint is None or int(hint.group(1)) <= start:
            return calls, characters
        start = int(hint.group(1))


for line in sys.stdin:
    path, _tab, url = line.rstrip("\n").partition("\t")
    if not path:
        continue
    with open(path, encoding="utf-8") as handle:
        html = handle.read()
    started = time.thread_time()  # CPU time: the other processes of a shared machine do not count
    markdown = extract_content_from_html(html)
    elapsed = time.thread_time() - started
    answer = {"seconds": elapsed, "markdown": markdown}
    if url:
        answer["calls"], answer["answer_chars"] = paged(url, markdown)
    print(json.dumps(answer), flush=True)
