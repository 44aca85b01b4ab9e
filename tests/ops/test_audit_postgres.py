"""The audit table on PostgreSQL: a batch written with bulk_create, its JSON arguments queried, and retention and the
row cap deleting in batches (DELETE ... WHERE id IN (SELECT ... LIMIT n)), and an OAuth caller's over-long names
cut to their columns (PostgreSQL refuses a longer value, and with it the batch). One `manage.py shell` on a fresh server;
the table alone is made (the other apps' migrations would cost seconds and are not what is tested here)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import ROOT, base_env, postgres_server

SCRIPT = """
import json
from datetime import UTC, datetime, timedelta
from django.conf import settings
from django.db import connection
from mcp_gateway.gate import Principal
from mcp_gateway.jsonrpc import Request
from mcp_gateway.sessions import ServerSession
from ops import audit
from ops.models import AuditEntry

with connection.schema_editor() as editor:
    editor.create_model(AuditEntry)
session = ServerSession("p" * 40, "websocket", "aws", remote_ip="10.1.1.1", key_name="pg-key",
                        principal=Principal(name="pg-key", kind="key"))
calls = [Request(i, "tools/call", {"name": "read_documentation", "arguments": {"url": f"https://d/{i}", "max_length": i}})
         for i in range(30)]
audit.write([audit.entry_for(session, call, 0.1, "ok") for call in calls])
written = AuditEntry.objects.filter(key_name="pg-key", arguments__max_length__gte=20).count()
# A token's subject of 255 characters: "oauth:" + it passes key_name's 255, and the client id is the client's to pick.
subject = "s" * 255
oauth = ServerSession("q" * 40, "sse", "aws", key_name="oauth:" + subject,
                      principal=Principal(name="oauth:" + subject, kind="oauth", subject=subject, client_id="c" * 400))
audit.write([audit.entry_for(oauth, Request(99, "tools/call", {"name": "t" * 300}), 0.1, "ok")])
long = AuditEntry.objects.get(subject=subject)
long_row = [len(long.key_name), long.key_name.startswith("oauth:sss"), len(long.oauth_client), len(long.tool)]
long.delete()
oldest = list(AuditEntry.objects.order_by("pk").values_list("pk", flat=True)[:12])
AuditEntry.objects.filter(pk__in=oldest).update(at=datetime.now(UTC) - timedelta(days=40))
audit.PRUNE_BATCH = 5
settings.OPS_AUDIT_MAX_ROWS = 10
pruned = audit.prune()
left = sorted(AuditEntry.objects.values_list("arguments__max_length", flat=True))
print(json.dumps({"written": written, "pruned": pruned, "left": left, "long_row": long_row}))
"""


def test_the_audit_table_writes_and_prunes_on_postgresql() -> None:
    with postgres_server() as pg:
        shell = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SCRIPT],
            cwd=ROOT,
            env=base_env(DATABASE_URL=pg.url),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert shell.returncode == 0, shell.stderr[-3000:]
    figures = json.loads(shell.stdout.strip().splitlines()[-1])
    # 12 rows past the retention in three DELETEs of five, then the 8 oldest of the 18 left past the cap of ten.
    assert figures == {"written": 10, "pruned": 20, "left": list(range(20, 30)), "long_row": [255, True, 255, 100]}
