"""Settings for the test process itself (the servers tests start use awsmcp.settings with their own env)."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdefghijklmnop")

from awsmcp.settings import *  # noqa: F403
