"""A stand-in issuer on loopback for the resource server's tests: a JWKS, its metadata, RFC 7662 introspection.

It signs nothing itself: tests sign tokens with their own keys (`Signer`) and publish the public halves here. It
counts requests per path, and can answer a huge or trickling JWKS, so tests see the fetch bounds work.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

JWKS_PATH = "/jwks.json"
INTROSPECT_PATH = "/introspect"


@dataclass
class Signer:
    """A private key that signs test tokens, and the public JWK the issuer publishes for it."""

    kid: str
    alg: str = "RS256"
    key: Any = None

    def __post_init__(self) -> None:
        if self.key is None:
            if self.alg.startswith("ES"):
                self.key = ec.generate_private_key(ec.SECP256R1())
            else:
                self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self, with_alg: bool = True) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        found: dict[str, Any] = json.loads(algorithm.to_jwk(self.key.public_key()))
        found.update({"kid": self.kid, "use": "sig"})
        if with_alg:
            found["alg"] = self.alg
        return found

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.key, algorithm=self.alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class IssuerState:
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    issuer: str = ""  # the `issuer` the metadata documents name ("" = the server's own /issuer URL)
    rfc8414: bool = True  # False: only OpenID discovery answers (as Cognito and Entra)
    mode: str = "ok"  # "ok", "huge" (a JWKS larger than any cap), "slow" (a byte every half second)
    introspection: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> answer
    client: tuple[str, str] = ("rs", "rs-secret")  # the introspection caller's credentials
    trickling: threading.Event = field(default_factory=threading.Event)  # set when a slow JWKS answer starts
    hold: threading.Event | None = None  # when set, introspection answers wait for it (a stuck issuer)
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    server: JwksServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _count(self) -> str:
        path = self.path.split("?")[0]
        with self.server.state.lock:
            self.server.state.hits[path] += 1
        return path

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self._count()
        state = self.server.state
        if path == JWKS_PATH:
            self._jwks()
        elif (path == "/.well-known/oauth-authorization-server/issuer" and state.rfc8414) or (
            path == "/issuer/.well-known/openid-configuration"
        ):
            self._json({"issuer": state.issuer or self.server.issuer, "jwks_uri": self.server.url + JWKS_PATH})
        else:
            self._json({"error": "not found"}, 404)

    def _jwks(self) -> None:
        mode = self.server.state.mode
        if mode == "huge":
            padding = [{"kty": "RSA", "kid": f"pad{i}", "n": "A" * 400, "e": "AQAB"} for i in range(400)]
            self._json({"keys": [*self.server.state.jwks["keys"], *padding]})
        elif mode == "huge-chunked":  # no Content-Length: the cap must cut the body as it is read
            data = json.dumps({"keys": [{"kty": "RSA", "n": "A" * 200_000, "e": "AQAB"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        elif mode == "slow":
            self.server.state.trickling.set()
            data = json.dumps(self.server.state.jwks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass  # the client gave up, as it should
        else:
            self._json(self.server.state.jwks)

    def do_POST(self) -> None:
        path = self._count()
        if path != INTROSPECT_PATH:
            self._json({"error": "not found"}, 404)
            return
        state = self.server.state
        expected = "Basic " + base64.b64encode(f"{state.client[0]}:{state.client[1]}".encode()).decode()
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if self.headers.get("Authorization") != expected:
            self._json({"error": "invalid_client"}, 401)
            return
        token = (form.get("token") or [""])[0]
        if state.hold is not None:
            state.hold.wait(30)
        self._json(state.introspection.get(token, {"active": False}))


class JwksServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = IssuerState()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def issuer(self) -> str:
        return self.url + "/issuer"

    def publish(self, *signers: Signer, with_alg: bool = True) -> None:
        self.state.jwks = {"keys": [signer.jwk(with_alg) for signer in signers]}

    def start(self) -> JwksServer:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="jwks-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
