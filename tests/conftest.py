"""Shared fixtures: real key pairs, settings on a temporary DATA_DIR, a signed-request helper."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.settings import Settings

# Atlassian's specs live in ../shared/specs beside the checkout (CI clones with shared/ beside it).
SHARED_SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs"
APP_URL = "https://jira-ai.test"
SITE_URL = "https://acme.atlassian.net"
KEYS_URL = "https://keys.test/connect"


@dataclass
class KeyPair:
    kid: str
    private_pem: str
    public_pem: str


def make_keypair(kid: str) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return KeyPair(kid, private_pem, public_pem)


@pytest.fixture(scope="session")
def install_key() -> KeyPair:
    return make_keypair("install-key-1")


@pytest.fixture(scope="session")
def rogue_key() -> KeyPair:
    return make_keypair("rogue-key-1")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path / "data"), "CONNECT_INSTALL_KEYS_URL": KEYS_URL,
        "SECRET_KEY": "test-secret-key-0123456789", "JOB_RETRY_DELAY_SECONDS": "0",
    }, env_file=None)


def install_token(key: KeyPair, *, client_key: str, method: str = "POST", path: str = "/connect/lifecycle/installed",
                  aud: str = APP_URL, iss: str | None = None, ttl: int = 180, kid: str | None = None,
                  alg: str = "RS256", qsh: str | None = None) -> str:
    from connect_app.platform.connect.jwt import query_string_hash

    now = int(time.time())
    claims = {"iss": iss or client_key, "aud": aud, "iat": now, "exp": now + ttl,
              "qsh": qsh or query_string_hash(method, path, APP_URL), "sub": "5b10a2844c20165700ede21g"}
    return pyjwt.encode(claims, key.private_pem, algorithm=alg, headers={"kid": kid or key.kid})


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port for the whole session (CI installs redis-server)."""
    import shutil
    import socket
    import subprocess

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session (Playwright allows one sync instance at a time)."""
    from tests.browser.browser_harness import CHROMIUM, launch

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
