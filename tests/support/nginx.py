"""Debian's nginx in front of the test's Daphnes, running the configuration shipped in `deploy/nginx/`.

The shipped file is templated, not forked: only the upstream's `server` lines (the test's ports), the `listen` line
(a plain-HTTP loopback listen, plus the shipped `ssl http2` listen on a loopback port of its own) and the
certificate paths (a throwaway self-signed certificate) are replaced; every other line (proxy headers, buffering,
timeouts, the upgrade map, the locations, client_max_body_size) is the shipped text. Each replacement must match
exactly as often as the shipped file has it today, so a change of the file's shape fails here, loudly.
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.processes import ROOT, Endpoints, free_port, stop, wait_for_port

NGINX = "/usr/sbin/nginx"
SHIPPED = ROOT / "deploy" / "nginx" / "awsmcp.conf"
COMPOSE = ROOT / "deploy" / "nginx" / "compose.conf"


class ShapeChanged(AssertionError):
    """The shipped config no longer has a line the tests replace: update the templating with the file."""


def swap(text: str, pattern: str, replacement: str, count: int = 1, *, source: Path = SHIPPED) -> str:
    """`text` with `pattern` replaced, which must occur exactly `count` times."""
    found = len(re.findall(pattern, text, flags=re.MULTILINE))
    if found != count:
        raise ShapeChanged(f"{source.name}: expected {count} match(es) of {pattern!r}, found {found}")
    return re.sub(pattern, lambda _match: replacement, text, flags=re.MULTILINE)


def throwaway_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (cert, key), for the shipped `listen ... ssl`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def shipped_site(backends: list[int], port: int, tls_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx/awsmcp.conf with the test's ports and certificate; the rest verbatim."""
    text = SHIPPED.read_text()
    servers = "".join(f"    server 127.0.0.1:{backend};\n" for backend in backends)
    text = swap(text, r"^    server 127\.0\.0\.1:800[12];\n(?:    server 127\.0\.0\.1:800[12];\n)", servers)
    listens = f"listen 127.0.0.1:{tls_port} ssl http2;\n    listen 127.0.0.1:{port};"
    text = swap(text, r"listen 443 ssl http2;", listens)
    text = swap(text, r"ssl_certificate +/etc/ssl/certs/mcp\.example\.com\.pem;", f"ssl_certificate {cert};")
    return swap(text, r"ssl_certificate_key +/etc/ssl/private/mcp\.example\.com\.key;", f"ssl_certificate_key {key};")


def compose_site(backends: list[int], port: int) -> str:
    """deploy/nginx/compose.conf with loopback ports for the compose services (`nginx -t` resolves upstreams)."""
    text = COMPOSE.read_text()
    text = swap(text, r"server worker1:8000;", f"server 127.0.0.1:{backends[0]};", source=COMPOSE)
    text = swap(text, r"server worker2:8000;", f"server 127.0.0.1:{backends[1]};", source=COMPOSE)
    return swap(text, r"listen 80;", f"listen 127.0.0.1:{port};", source=COMPOSE)


# Which backend served each request (the last one tried: `$upstream_addr` lists every one) and its MCP session
# (Streamable HTTP: a header; legacy SSE POSTs: the query):
# how a test learns where nginx sent a request. Part of the test's main config, not of the shipped file.
UPSTREAM_LOG = (
    "    log_format upstreams '$http_mcp_session_id|$arg_session_id|$request_method|$status|$upstream_addr';\n"
)


def main_config(workdir: Path) -> str:
    """A minimal main config around a site: every path nginx writes is in `workdir`."""
    user = ""
    if os.geteuid() == 0:  # as root nginx would hand its workers to `nobody`: keep them the current user
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
    temps = "".join(
        f"    {kind}_temp_path {workdir / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'} info;\n"
        "events { worker_connections 4096; }\n"
        f"http {{\n{UPSTREAM_LOG}    access_log {workdir / 'access.log'} upstreams;\n{temps}"
        f"    include {workdir / 'site.conf'};\n}}\n"
    )


def write_config(workdir: Path, site: str) -> Path:
    """The site and its main config in `workdir`; the main config's path."""
    (workdir / "site.conf").write_text(site)
    config = workdir / "nginx.conf"
    config.write_text(main_config(workdir))
    return config


def nginx_command(workdir: Path, config: Path, *extra: str) -> list[str]:
    """`-e`: nginx opens an error log before it reads `-c` (else /var/log/nginx's); `-p`: relative paths stay here."""
    assert Path(NGINX).exists(), f"{NGINX} is missing: run scripts/install-test-tools.sh (make test does)"
    return [NGINX, "-p", f"{workdir}/", "-e", str(workdir / "error.log"), "-c", str(config), *extra]


def check(site: str) -> subprocess.CompletedProcess[str]:
    """`nginx -t` of a site wrapped in the test main config (its output is on stderr)."""
    workdir = Path(tempfile.mkdtemp(prefix="awsmcp-nginx-t-"))
    try:
        config = write_config(workdir, site)
        return subprocess.run(nginx_command(workdir, config, "-t"), capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class Nginx(Endpoints):
    """nginx as a non-daemon child process on free loopback ports: `port` plain HTTP, `tls_port` the shipped TLS."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.tls_port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="awsmcp-nginx-"))
        self.cert, self.key = throwaway_cert(self.workdir)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def tls_base(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def start(self) -> Nginx:
        site = shipped_site(self.backends, self.port, self.tls_port, self.cert, self.key)
        config = write_config(self.workdir, site)
        self.proc = subprocess.Popen(nginx_command(self.workdir, config), cwd=self.workdir)
        try:
            wait_for_port(self.port, proc=self.proc)
            wait_for_port(self.tls_port, proc=self.proc)
        except Exception as exc:
            raise RuntimeError(self.error_log()) from exc
        return self

    def served(self, session_id: str) -> list[tuple[str, int, int | None]]:
        """(method, status, backend port) of each finished request of a session, in order."""
        rows = []
        for line in (self.workdir / "access.log").read_text().splitlines():
            header, query, method, status, upstream = line.split("|")
            if session_id in (header, query):
                last = upstream.split(",")[-1].strip()
                port = int(last.rsplit(":", 1)[1]) if ":" in last else None  # "awsmcp": no backend answered
                rows.append((method, int(status), port))
        return rows

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)  # SIGTERM: nginx's fast shutdown, open streams included
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
