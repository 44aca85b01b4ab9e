"""A real HTTPS server on loopback serving Client ID Metadata Documents, with a throw-away CA made by
`cryptography`: point SSL_CERT_FILE at `ca_file` and allow-list `netloc` (MCP_OAUTH_CIMD_ALLOW_HOSTS).

Paths: /client.json… a good document (its client_id is the URL asked, query included), /mismatch.json (another
client_id), /huge.json (bigger than any cap), /slow.json (a good document, one byte at a time), /redirect.json
(302 to /client.json), /metadata.json (302 to the cloud metadata address), /vscode.json (shaped like VS Code's:
the device-code grant listed too, redirects to vscode.dev and to loopback without a port), /device-only.json (the
device-code grant and no authorization_code). `hits` counts requests per path.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REDIRECT_URI = "http://127.0.0.1:33418/callback"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
VSCODE_REDIRECTS = [
    "https://insiders.vscode.dev/redirect",
    "https://vscode.dev/redirect",
    "http://127.0.0.1/",
    "http://127.0.0.1:33418/",
]


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    ca: bool,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


class CimdServer:
    """Start with `start()`, stop with `stop()`; documents at `url(path)`."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cimd-"))
        self.hits: Counter[str] = Counter()
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("awsmcp test CA", ca_key, ca_key, None, ca=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate("localhost", key, ca_key, ca.subject, ca=False)
        self.ca_file = self.folder / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (self.folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.folder / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.folder / "cert.pem", self.folder / "key.pem")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.netloc = f"localhost:{self.port}"

    def url(self, path: str) -> str:
        return f"https://{self.netloc}{path}"

    def start(self) -> CimdServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                server.hits[path] += 1
                me = server.url(self.path)
                document = {
                    "client_id": me,
                    "client_name": "CIMD test client",
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                }
                if path == "/redirect.json":
                    return self._redirect(server.url("/client.json"))
                if path == "/metadata.json":
                    return self._redirect("http://169.254.169.254/latest/meta-data/")
                if path == "/mismatch.json":
                    document["client_id"] = server.url("/someone-else.json")
                if path == "/vscode.json":
                    document |= {
                        "client_name": "Visual Studio Code (test double)",
                        "grant_types": ["authorization_code", "refresh_token", DEVICE_CODE],
                        "redirect_uris": VSCODE_REDIRECTS,
                    }
                if path == "/device-only.json":
                    document["grant_types"] = [DEVICE_CODE, "refresh_token"]
                body = json.dumps(document).encode()
                if path == "/huge.json":
                    body = json.dumps(document | {"padding": "x" * 200_000}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path == "/slow.json":
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
