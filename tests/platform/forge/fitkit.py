"""Test helpers for the Forge door: real RS256 FITs, system tokens, and a local JWKS server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import RSAAlgorithm

from tests.conftest import KeyPair

APP_ID = "ari:cloud:ecosystem::app/8f1c0d2e-1111-4222-8333-444455556666"
INSTALLATION_ID = "ari:cloud:ecosystem::installation/0b9c7e1a-2222-4333-8444-555566667777"
CLOUD_ID = "4f6d9508-93c9-4c2e-abd7-916c34920012"
API_BASE = f"https://api.atlassian.com/ex/jira/{CLOUD_ID}"
USER = "5b10ac8d82e05b22cc7d4ef5"


def jwk_of(key: KeyPair) -> dict[str, Any]:
    """The public half of ``key`` as a JWK with its kid."""
    jwk = RSAAlgorithm.to_jwk(load_pem_public_key(key.public_pem.encode()), as_dict=True)
    return {**jwk, "kid": key.kid, "use": "sig", "alg": "RS256"}


def fit_claims(module: str, *, now: float | None = None, ttl: int = 60, api_base: str = API_BASE,
               installation: str = INSTALLATION_ID, principal: str | None = None,
               context: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    """A FIT's claims as Forge sends them for ``module``; ``over`` replaces top-level claims."""
    now = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": "forge/invocation-token", "aud": APP_ID, "iat": now, "nbf": now, "exp": now + ttl,
        "jti": f"jti-{now}-{module}",
        "app": {
            "installationId": installation, "apiBaseUrl": api_base, "id": APP_ID, "appVersion": "2.1.0",
            "environment": {"type": "DEVELOPMENT", "id": "ari:cloud:ecosystem::environment/env-1"},
            "module": {"type": "core:endpoint", "key": module},
        },
        "context": context if context is not None else {"cloudId": CLOUD_ID, "moduleKey": module},
    }
    if principal is not None:
        claims["principal"] = principal
    claims.update(over)
    return claims


def sign(claims: dict[str, Any], key: KeyPair, *, kid: str | None = None, alg: str = "RS256") -> str:
    """The claims signed with ``key`` (RS256 unless told otherwise), ``kid`` in the header."""
    return pyjwt.encode(claims, key.private_pem, algorithm=alg, headers={"kid": key.kid if kid is None else kid})


def fit(module: str, key: KeyPair, **kw: Any) -> str:
    """A signed FIT for ``module``."""
    return sign(fit_claims(module, **kw), key)


def system_token(exp: float, *, marker: str = "a") -> str:
    """An app system token shaped like Forge's (a JWT with exp); we never verify its signature."""
    return pyjwt.encode({"sub": "app-system", "exp": int(exp), "m": marker}, "not-our-secret-0123456789abcdef-xyz",
                        algorithm="HS256")


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts its hits; ``keys`` may change between requests."""

    def __init__(self, keys: list[KeyPair]) -> None:
        self.body: Any = {"keys": [jwk_of(k) for k in keys]}
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                data = server.body if isinstance(server.body, bytes) else json.dumps(server.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def set_keys(self, keys: list[KeyPair]) -> None:
        self.body = {"keys": [jwk_of(k) for k in keys]}

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
