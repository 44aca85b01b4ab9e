"""What an adaptation of a library's internals was written against, and the check that it still fits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

log = logging.getLogger("awsmcp.compat")

# What an adaptation touches, imported only when it is checked: {"what it is": (object, [attribute names])}.
Touches = Callable[[], Mapping[str, tuple[object, list[str]]]]


class IncompatibleLibrary(RuntimeError):
    """An adaptation that guards a security bound cannot apply: the server refuses to start."""


def installed(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _nothing() -> Mapping[str, tuple[object, list[str]]]:
    return {}


@dataclass(frozen=True)
class Pin:
    """One place that adapts or copies library code: the versions it was written for and what it reaches."""

    name: str  # the module (or class) that holds the adaptation
    written_for: Mapping[str, str]  # distribution -> version
    touches: Touches = field(default=_nothing, compare=False)
    # True when skipping the adaptation would silently drop a security bound: refuse to start instead.
    guards_bound: bool = False

    def problems(self) -> list[str]:
        """Why the adaptation may not fit the installed libraries (empty when it fits)."""
        found = [
            f"{dist} {installed(dist) or 'missing'} (written for {wanted})"
            for dist, wanted in self.written_for.items()
            if installed(dist) != wanted
        ]
        try:
            touched = self.touches()
        except (ImportError, AttributeError) as error:
            return [*found, f"cannot import what it adapts: {error}"]
        found += [
            f"{owner}.{attr} is gone"
            for owner, (obj, attrs) in touched.items()
            for attr in attrs
            if not hasattr(obj, attr)
        ]
        return found

    def fits(self) -> bool:
        """True when the adaptation may apply; otherwise log and skip it, or refuse if it guards a bound."""
        problems = self.problems()
        if not problems:
            return True
        message = f"{self.name} adapts library internals that changed: " + "; ".join(problems)
        if self.guards_bound:
            raise IncompatibleLibrary(
                message + f". It enforces a security bound, so the server will not start without it: check {self.name} "
                "against the installed version and update its pins (requirements.txt names the versions)."
            )
        log.warning("%s; skipped", message)
        return False
