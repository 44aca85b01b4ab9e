"""The worker command lines shipped in deploy/ (systemd unit, Dockerfile, Procfile), parsed, so the tests start
their Daphnes with the shipped flags: a flag that changes behaviour (such as `--proxy-headers`, which makes Daphne
believe the client-written X-Forwarded-For) reaches the fleet tests instead of passing them by."""

from __future__ import annotations

import json
import re
import shlex

from tests.support.processes import ROOT

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "awsmcp@.service"
APPLICATION = "awsmcp.asgi:application"
WHERE = {"-b", "--bind", "-p", "--port"}  # where a worker listens: the tests choose their own


def serve_flags(argv: list[str]) -> list[str]:
    """The flags of a `python -m awsmcp.serve ... awsmcp.asgi:application` command line other than where it
    listens; fails loudly when the command line is not of that shape."""
    assert "awsmcp.serve" in argv and argv[-1] == APPLICATION, f"not an awsmcp.serve command line: {argv}"
    flags, rest = [], argv[argv.index("awsmcp.serve") + 1 : -1]
    while rest:
        flag = rest.pop(0)
        if flag in WHERE:
            rest.pop(0)
        else:
            flags.append(flag)
    return flags


def unit_argv() -> list[str]:
    """The systemd unit's ExecStart, split as systemd splits it (no shell; %i left in)."""
    (line,) = re.findall(r"^ExecStart=(.*)$", UNIT.read_text(), flags=re.MULTILINE)
    return shlex.split(line)


def unit_flags() -> list[str]:
    """What the tests' Daphnes add to their `-b 127.0.0.1 -p <port>`: the shipped unit's other flags."""
    return serve_flags(unit_argv())


def dockerfile_argv() -> list[str]:
    """The Dockerfile's CMD (exec form: a JSON list)."""
    (line,) = re.findall(r"^CMD (.*)$", (DEPLOY / "Dockerfile").read_text(), flags=re.MULTILINE)
    argv = json.loads(line)
    assert isinstance(argv, list), line
    return [str(arg) for arg in argv]


def procfile_argvs() -> dict[str, list[str]]:
    """The Procfile's processes by name."""
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return {name: shlex.split(command) for name, command in (line.split(":", 1) for line in lines if line.strip())}
