"""Screenshots of what an operator sees, for the README: the browser tests take them.

The admin flows of tests/browser/ run in headless Chromium (Selenium, Debian's `chromium` and `chromedriver`) against
a real server and capture docs/screenshots/*.png as they go (tests/support/browser.py: `shoot`). `make test` keeps a
file whose picture barely moved; this script rewrites every one.

    .venv/bin/python scripts/screenshots.py [pytest options]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    env = {**os.environ, "AWSMCP_SCREENSHOTS": "always"}
    command = [sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:cacheprovider", *sys.argv[1:]]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
