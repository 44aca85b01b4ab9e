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
        assert f"-p {port}" in (DEPLOY / "Dockerfile").read_text(), f"the workers do not listen on {port}"

    prometheus = mounts(services["prometheus"])
    config = yaml.safe_load(prometheus["/etc/prometheus/prometheus.yml"].read_text())
    for rule_file in config["rule_files"]:  # relative to the config file's directory, inside the container
        assert str(PurePosixPath("/etc/prometheus") / rule_file) in prometheus, rule_file
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                assert target.split(":")[0] in services, target
