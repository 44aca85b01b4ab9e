"""Runs inside the reference server's own venv: times its converter on the pages it is told about.

Protocol: one page path per line on stdin; one JSON line per page on stdout with the seconds one
call of `extract_content_from_html` took and the Markdown it returned.
"""

import json
import sys
import time

from awslabs.aws_documentation_mcp_server.util import extract_content_from_html

for line in sys.stdin:
    path = line.strip()
    if not path:
        continue
    with open(path, encoding="utf-8") as handle:
        html = handle.read()
    started = time.perf_counter()
    markdown = extract_content_from_html(html)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "markdown": markdown}), flush=True)
