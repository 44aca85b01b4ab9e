"""The compose file: `docker compose config` where Docker Compose is installed (skipped with a message where it is
not); offline in any case: the YAML parses, every file it references exists, and the names nginx and Prometheus
address are its services."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.support.processes import ROOT
from tests.support.shipped import dockerfile_argv

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict), "no services in the compose file"
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """A service's bind mounts: container path -> host path (relative ones from the compose file's directory)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            found[target] = (DEPLOY / source).resolve()
    return found


def test_docker_compose_config_accepts_it() -> None:
    docker = shutil.which("docker")
    has_compose = docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    if not has_compose:
        pytest.skip("Docker Compose is not installed: `docker compose config` not run (the offline checks still are)")
    assert docker
    checked = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "SECRET_KEY": "compose-config-check"},
    )
    assert checked.returncode == 0, checked.stderr


def test_every_file_it_references_exists() -> None:
    services = compose()["services"]
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
            assert (context / "requirements.txt").is_file(), "the Dockerfile copies requirements.txt"
        for target, source in mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) is missing"


def test_nginx_and_prometheus_address_its_services() -> None:
    services = compose()["services"]
    conf_target = "/etc/nginx/conf.d/default.conf"
    nginx_conf = mounts(services["nginx"])[conf_target].read_text()
    upstreams = re.findall(r"server ([\w.-]+):(\d+);", nginx_conf)
    assert upstreams, "no upstream servers in the compose nginx conf"
    for host, port in upstreams:
        assert host in services, f"nginx proxies to {host}, not a service"
        argv = dockerfile_argv()
        assert argv[argv.index("-p") + 1] == port, f"the workers do not listen on {port}"

    prometheus = mounts(services["prometheus"])
    config = yaml.safe_load(prometheus["/etc/prometheus/prometheus.yml"].read_text())
    for rule_file in config["rule_files"]:  # relative to the config file's directory, inside the container
        assert str(PurePosixPath("/etc/prometheus") / rule_file) in prometheus, rule_file
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                assert target.split(":")[0] in services, target


def test_migrations_run_once_before_the_workers() -> None:
    """No start-up race: PostgreSQL reports ready (pg_isready), then the one-shot `migrate` service runs, and the
    workers start only once it has succeeded; the image's own command no longer migrates."""
    services = compose()["services"]
    postgres = services["postgres"]
    assert "pg_isready" in postgres["healthcheck"]["test"], postgres.get("healthcheck")
    migrate = services["migrate"]
    assert migrate["command"][-3:] == ["manage.py", "migrate", "--noinput"], migrate["command"]
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "restart" not in migrate  # one shot
    assert "migrate" not in dockerfile_argv()
    for name in ("worker1", "worker2"):
        worker = services[name]
        assert worker["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert worker["restart"] == "unless-stopped", name
        assert worker["environment"] == migrate["environment"], name  # the same database
        assert worker["environment"]["PROMETHEUS_MULTIPROC_DIR"] in worker["tmpfs"], name  # fresh on each start


def test_the_image_runs_as_a_user_of_its_own() -> None:
    users = re.findall(r"^USER (\S+)$", (DEPLOY / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), users
