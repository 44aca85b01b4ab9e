"""The entry point `python -m awsmcp.serve`: Daphne's command line, the adaptations applied by it and not by
importing the ASGI module, and a SIGTERM'd server that stops its background loops and ends cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from tests.support.processes import ROOT, base_env, daphne

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=120
    )


def test_help_lists_daphnes_options() -> None:
    done = _python("-m", "awsmcp.serve", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--bind", "--port", "--proxy-headers", "--verbosity", "application"):
        assert flag in done.stdout


def test_a_library_version_it_was_not_written_for_refuses_to_start_with_a_message() -> None:
    probe = (
        "from awsmcp.compat import pins\n"
        "pins.installed = lambda dist: '0.0'\n"
        "from awsmcp import serve\n"
        "serve.main(['--verbosity', '0', '-p', '0', 'awsmcp.asgi:application'])\n"
    )
    done = _python("-c", probe)
    assert done.returncode == 1
    assert "twisted 0.0 (written for 26.10.0)" in done.stderr and "will not start" in done.stderr
    assert "Traceback" not in done.stderr


def test_importing_the_asgi_module_changes_nothing_process_wide() -> None:
    probe = (
        "import gc, daphne.server, daphne.http_protocol as h, daphne.ws_protocol as w\n"
        "threshold = gc.get_threshold()\n"
        "import awsmcp.asgi\n"
        "assert gc.get_freeze_count() == 0, gc.get_freeze_count()\n"
        "assert gc.get_threshold() == threshold, gc.get_threshold()\n"
        "assert daphne.server.HTTPFactory is h.HTTPFactory and daphne.server.WebSocketFactory is w.WebSocketFactory\n"
        "assert h.HTTPFactory.buildProtocol is h.HTTPFactory.__dict__['buildProtocol']\n"
    )
    done = _python("-c", probe)
    assert done.returncode == 0, done.stderr


def test_a_sigtermed_server_stops_its_background_loops_and_ends_cleanly() -> None:
    with daphne() as server:
        answer = httpx.post(
            server.mcp_url, json=INITIALIZE, headers={"accept": "application/json, text/event-stream"}, timeout=10
        )
        assert answer.status_code == 200
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=15) == 0
        log = server.log()
    assert "stopping background loops: " in log and "session-warden" in log
    assert "Traceback" not in log and "Task was destroyed" not in log
