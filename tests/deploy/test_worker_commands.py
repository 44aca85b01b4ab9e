"""Every shipped worker command line (systemd unit, Dockerfile, Procfile) passes the same flags to
`python -m awsmcp.serve`, so the fleet tests, which start their Daphnes with the unit's (tests/support/shipped.py),
stand for all of them."""

from __future__ import annotations

import pytest

from tests.support.shipped import dockerfile_argv, procfile_argvs, serve_flags, unit_argv, unit_flags


def test_the_dockerfile_and_procfile_workers_have_the_units_flags() -> None:
    assert serve_flags(dockerfile_argv()) == unit_flags()
    workers = [argv for argv in procfile_argvs().values() if "awsmcp.serve" in argv]
    assert len(workers) == 2
    for argv in workers:
        assert serve_flags(argv) == unit_flags(), argv


def test_the_units_flags_leave_out_only_where_it_listens() -> None:
    assert unit_argv()[-5:-1] == ["-b", "127.0.0.1", "-p", "%i"]
    assert "-p" not in unit_flags() and "%i" not in unit_flags()


def test_a_command_line_of_another_shape_fails_loudly() -> None:
    with pytest.raises(AssertionError, match=r"not an awsmcp\.serve command line"):
        serve_flags(["daphne", "-b", "0.0.0.0", "awsmcp.asgi:application"])
