"""The RSA key that signs JWT access tokens (MCP_OAUTH_JWT_ACCESS_TOKENS): from MCP_OAUTH_SIGNING_KEY, else
made once into a file, so every process on one machine (and every restart) signs with the same key.

Read by awsmcp/settings.py, so it imports nothing from Django.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def load_or_create(path: Path) -> str:
    """The PEM in `path`, made there first (mode 0600) when missing; a concurrent maker's key wins."""
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(temporary, path)  # atomic, and refused when another process made the file first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text()
