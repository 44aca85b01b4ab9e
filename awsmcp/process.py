"""This process's name in the fleet: how the connections table, the cache stats and the logs tell processes apart."""

from __future__ import annotations

import os
import socket
import uuid

# Host and pid say where to look; the random tail tells a restarted process (same pid in a new container) apart.
PROCESS_ID = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
