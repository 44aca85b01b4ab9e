"""Typed readers for environment variables, so settings.py states each knob in one line."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def dev_secret(path: Path, *, create: bool, refuse_because: list[str]) -> str:
    """The development SECRET_KEY kept in `path`, so that `make run` and every `manage.py` command share one secret
    and admin logins survive a restart. Made (mode 0600) only when `create` (development was asked for); a bare
    command only reads an existing file; `refuse_because` (the deployment settings seen) refuses even the file,
    so a copied developer's file never becomes a deployment's secret. Every refusal is one line (SystemExit)."""
    if refuse_because:
        raise SystemExit(
            f"awsmcp: SECRET_KEY is not set, and {', '.join(refuse_because)} says this is a deployment: put a long "
            "random value in SECRET_KEY (the same on every process); AWSMCP_DEV=1 or DEBUG make this development"
        )
    try:
        return _read_secret(path)
    except FileNotFoundError:
        if not create:
            raise SystemExit(
                f"awsmcp: SECRET_KEY is not set: put a long random value in the environment (the same on every "
                f"process); for development, `make run` (or AWSMCP_DEV=1) makes one, kept in {path}"
            ) from None
    except OSError as error:
        raise SystemExit(f"awsmcp: cannot read the development secret {path}: {error.strerror}") from None
    try:
        _make_secret(path)
        return _read_secret(path)
    except OSError as error:
        raise SystemExit(f"awsmcp: cannot make the development secret {path}: {error.strerror}") from None


def _make_secret(path: Path) -> None:
    """Write a fresh secret beside `path` and link it into place: if another process made it first, its stands."""
    descriptor, fresh = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(fresh, path)  # atomic, and fails if another process made it first: then its secret is the one
        except FileExistsError:
            pass
    finally:
        os.unlink(fresh)


def _read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise SystemExit(f"awsmcp: {path} holds no usable secret (delete it to have a new one made)")
    return secret
