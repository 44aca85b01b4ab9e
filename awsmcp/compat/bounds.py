"""What one connection may make the serving process hold; set from settings by `awsmcp.serve`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Bounds:
    body_bytes: int = 1024 * 1024  # MCP_MAX_BODY_BYTES
    unsent_bytes: int = 16 * 1024 * 1024  # MCP_STREAM_BUFFER_BYTES
    # After a 413 the rest of the upload is read and dropped for a moment, so that the client, still
    # sending, reads the answer instead of a reset; then the connection is cut.
    linger_seconds: float = 2.0
    linger_bytes: int = 4 * 1024 * 1024


bounds = Bounds()
