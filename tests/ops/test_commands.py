"""The management commands on bad input: a CommandError with the message (the admin form's own, for keys), never a
traceback; and docs_cache_stats' per-minute figures keyed by time."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from redis.exceptions import ConnectionError as RedisConnectionError

from docs_proxy.management.commands import docs_cache_stats
from docs_proxy.stats import CacheStats, combine
from ops.forms import ApiKeyForm
from ops.models import ApiKey
from tests.support.processes import ROOT, base_env, migrate


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "name: This field is required."),
        (("   ",), "name: This field is required."),  # a name of blanks is no name
        (("x" * 300,), "name: Ensure this value has at most 100 characters (it has 300)."),
        (("ok", "--rate", "bogus"), "rate_override: 'bogus' is not a rate"),
        (("oauth:alice",), "name: An API key's name cannot contain ':'"),
    ],
)
def test_create_api_key_refuses_what_the_admin_refuses(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError) as refused:
        run("create_api_key", *args)
    assert str(refused.value).startswith("No API key made: ") and message in str(refused.value)
    assert not ApiKey.objects.exists()
    # The same words the admin's form says (it is the same form).
    data = {"name": args[0], "rate_override": args[2] if len(args) > 2 else ""}
    form = ApiKeyForm(data=data)
    assert not form.is_valid()
    assert any(message.split(": ", 1)[1] in error for errors in form.errors.values() for error in errors)


@pytest.mark.django_db
def test_create_api_key_makes_a_key_once_per_name() -> None:
    token = run("create_api_key", "  ci-agent  ", "--rate", "100/m").strip()
    key = ApiKey.objects.get()
    assert key.name == "ci-agent" and key.rate_override == "100/m" and token.startswith(key.prefix)
    with pytest.raises(CommandError, match="API key with this Name already exists"):
        run("create_api_key", "ci-agent")


def test_a_refused_key_ends_the_process_with_one_line_and_status_1() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-commands-"))
    env = base_env(SQLITE_PATH=str(workdir / "db.sqlite3"))
    migrate(workdir / "db.sqlite3", env)
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "x" * 300],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # the JSON log aside
    assert done.returncode == 1 and done.stdout == ""
    assert errors == ["CommandError: No API key made: name: Ensure this value has at most 100 characters (it has 300)."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--url", ""), "Give the page URL or the URL prefix."),
        (("--url", "https://example.com/x.html"), "Not a documentation page URL"),
        (("--prefix", "nope"), "Not a documentation URL prefix"),
    ],
)
def test_purge_docs_cache_refuses_bad_targets(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("purge_docs_cache", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--guide", ""), "is not on a documentation host"),
        (("--guide", "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/", "--max-pages", "0"), "at least 1"),
        (("--guide", "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/", "--pace", "nan"), "between 0 and"),
    ],
)
def test_index_docs_refuses_bad_options(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("index_docs", *args)


def test_docs_cache_stats_prints_minutes_as_utc_times(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = CacheStats()
    stats.count("l1_hits", 3)
    stats.count("l2_misses")
    snapshot = stats.snapshot()
    [(epoch_minute, _counts)] = snapshot["minutes"].items()
    figures: dict[str, Any] = combine([snapshot])
    monkeypatch.setattr(docs_cache_stats, "fleet_stats", lambda: figures)
    printed = json.loads(run("docs_cache_stats"))
    label = docs_cache_stats.minute_label(int(epoch_minute))
    assert printed["minutes"] == {label: {"hits": 3, "misses": 1}}
    assert docs_cache_stats.minute_label(29_392_120) == "2025-11-19 04:40"
    assert printed["counters"]["l1_hits"] == 3


@pytest.mark.django_db
def test_create_api_key_racing_another_for_a_name_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two commands at once: both forms find the name free, the second save hits the unique index."""
    run("create_api_key", "racer")
    monkeypatch.setattr(ApiKeyForm, "validate_unique", lambda self: None)  # as if checked before the first saved
    with pytest.raises(CommandError, match=r"No API key made: name: An API key named 'racer' exists already\."):
        run("create_api_key", "racer")
    assert ApiKey.objects.count() == 1


def test_docs_cache_stats_without_redis_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> dict[str, Any]:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(docs_cache_stats, "fleet_stats", unreachable)
    with pytest.raises(CommandError, match=r"^No statistics: ConnectionError: Error 111 connecting"):
        run("docs_cache_stats")
