"""Structured logs: one JSON object per line, with the fields a log pipeline indexes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FIELDS = (
    "event", "transport", "method", "path", "status", "latency_ms", "session", "client_ip", "tool", "outcome",
    "trace_id", "span_id",
    "key_name", "subject", "oauth_client", "client_name", "partition", "target", "arguments",  # the audit trail's
)  # fmt: skip


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
