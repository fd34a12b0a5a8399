"""InstallKeyFetcher: fetch, validate and cache Atlassian's install public keys."""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator

import jwt as pyjwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from connect_app.errors import AuthError, ConfigError
from connect_app.platform.connect.install_keys import InstallKeyFetcher
from connect_app.platform.connect.jwt import query_string_hash, verify_install_rs256

KEYS_URL = "https://connect-install-keys.example.test"
KID = "8a5b1c2d-3e4f-key"


def _public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(rsa_key) -> str:
    return _public_pem(rsa_key)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_fetches_and_returns_the_pem(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", body=public_pem, content_type="text/plain")
    assert InstallKeyFetcher(KEYS_URL)(KID) == public_pem
    assert mocked.calls[0].request.url == f"{KEYS_URL}/{KID}"


def test_trailing_slash_in_keys_url(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", body=public_pem)
    assert InstallKeyFetcher(KEYS_URL + "/")(KID) == public_pem


def test_pem_with_surrounding_whitespace_is_normalised(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", body="\r\n  " + public_pem.replace("\n", "\r\n") + "\n\n")
    assert InstallKeyFetcher(KEYS_URL)(KID) == public_pem


def test_caches_per_kid_until_ttl(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", body=public_pem)
    mocked.get(f"{KEYS_URL}/other-kid", body=public_pem)
    clock = Clock()
    fetcher = InstallKeyFetcher(KEYS_URL, ttl=60, clock=clock)
    fetcher(KID)
    fetcher(KID)
    fetcher("other-kid")
    assert len(mocked.calls) == 2
    clock.now += 59
    fetcher(KID)
    assert len(mocked.calls) == 2
    clock.now += 2
    fetcher(KID)
    assert len(mocked.calls) == 3
    fetcher.clear()
    fetcher(KID)
    assert len(mocked.calls) == 4


def test_passes_the_timeout(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", body=public_pem)
    InstallKeyFetcher(KEYS_URL, timeout=2.5)(KID)
    assert mocked.calls[0].request.req_kwargs["timeout"] == 2.5


@pytest.mark.parametrize(
    ("stub", "reason"),
    [
        ({"status": 404, "body": "Not Found"}, f"install key {KID!r} does not exist on the key server (404)"),
        ({"status": 500, "body": "oops"}, f"install key server answered 500 for kid {KID!r}"),
        ({"status": 403, "body": "<Error>AccessDenied</Error>"}, "answered 403"),
        ({"body": requests.exceptions.ConnectTimeout("slow")}, f"install key server timed out after 5 s for kid {KID!r}"),
        ({"body": requests.exceptions.ReadTimeout("slow")}, "timed out"),
        ({"body": requests.exceptions.ConnectionError("refused")}, "could not reach the install key server"),
        ({"body": "<html><body>Hello</body></html>"}, "did not send a PEM public key"),
        ({"body": ""}, "did not send a PEM public key"),
        ({"body": "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"}, "does not load"),
        ({"body": "-----BEGIN PUBLIC KEY-----\n" + "A" * 20_000}, "not a public key"),
    ],
)
def test_failures_raise_auth_error_with_reason(mocked, stub, reason):
    mocked.get(f"{KEYS_URL}/{KID}", **stub)
    with pytest.raises(AuthError) as info:
        InstallKeyFetcher(KEYS_URL)(KID)
    assert reason in str(info.value)


def test_failures_are_not_cached(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", status=503)
    mocked.get(f"{KEYS_URL}/{KID}", body=public_pem)
    fetcher = InstallKeyFetcher(KEYS_URL)
    with pytest.raises(AuthError):
        fetcher(KID)
    assert fetcher(KID) == public_pem


def test_rejects_non_rsa_and_small_keys(mocked):
    ec_pem = _public_pem(ec.generate_private_key(ec.SECP256R1()))
    small_pem = _public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    mocked.get(f"{KEYS_URL}/ec-key", body=ec_pem)
    mocked.get(f"{KEYS_URL}/small-key", body=small_pem)
    fetcher = InstallKeyFetcher(KEYS_URL)
    with pytest.raises(AuthError, match="is not an RSA key"):
        fetcher("ec-key")
    with pytest.raises(AuthError, match="is only 1024 bits"):
        fetcher("small-key")


@pytest.mark.parametrize("kid", ["../../evil", "http://x", "k" * 129, "a..b", "", "a/b", "%2e%2e"])
def test_crafted_kid_never_reaches_the_network(mocked, kid):
    with pytest.raises(AuthError, match="is not a valid key id"):
        InstallKeyFetcher(KEYS_URL)(kid)
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("url", ["connect-install-keys.atlassian.com", "ftp://x", "", "/keys"])
def test_keys_url_must_be_absolute_http(url):
    with pytest.raises(ConfigError, match="CONNECT_INSTALL_KEYS_URL"):
        InstallKeyFetcher(url)


def test_repr_names_the_server():
    assert repr(InstallKeyFetcher(KEYS_URL, ttl=60)) == f"InstallKeyFetcher('{KEYS_URL}', ttl=60, timeout=5)"


def test_concurrent_callers_all_get_the_key(mocked, public_pem):
    mocked.get(f"{KEYS_URL}/{KID}", body=public_pem)
    fetcher = InstallKeyFetcher(KEYS_URL)
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                results.append(fetcher(KID))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [public_pem] * 160
    assert 1 <= len(mocked.calls) <= 8


# ---------------------------------------------------------------------- a real HTTP server on 127.0.0.1
@pytest.fixture
def key_server(public_pem) -> Iterator[tuple[str, list[str]]]:
    """A tiny key server: serves the PEM at /<KID>, 404 elsewhere; records the paths asked for."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path == f"/{KID}":
                body = public_pem.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
            else:
                body = b"no such key"
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_signed_install_end_to_end_with_a_local_key_server(key_server, rsa_key, caplog):
    caplog.set_level(logging.DEBUG)
    base_url, seen = key_server
    fetcher = InstallKeyFetcher(base_url, timeout=2)
    app_base = "https://app.example.com"
    url = f"{app_base}/lifecycle/installed"
    now = 1_700_000_000
    claims = {"iss": "jira:site-1", "aud": [app_base], "iat": now, "exp": now + 180,
              "qsh": query_string_hash("POST", url, app_base)}
    private_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token = pyjwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": KID})

    def verify(kid_token: str) -> dict:
        return verify_install_rs256(kid_token, fetch_key=fetcher, audience=app_base + "/", client_key="jira:site-1",
                                    method="POST", url=url, base_url=app_base, now=now + 5)

    assert verify(token)["iss"] == "jira:site-1"
    assert verify(token)["iss"] == "jira:site-1"  # served from the cache
    assert seen == [f"/{KID}"]

    unknown = pyjwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": "rotated-away"})
    with pytest.raises(AuthError, match=r"install key 'rotated-away' does not exist on the key server \(404\)"):
        verify(unknown)
    assert seen == [f"/{KID}", "/rotated-away"]
    assert token not in caplog.text and unknown not in caplog.text
    assert "PRIVATE KEY" not in caplog.text
