"""Fetch and cache the public keys that sign Connect install/uninstall callbacks.

Atlassian serves each key as PEM text at ``{CONNECT_INSTALL_KEYS_URL}/{kid}``. An
:class:`InstallKeyFetcher` is the ``fetch_key`` callable that
:func:`~connect_app.platform.connect.jwt.verify_install_rs256` expects. Build one per process
(in ``create_app``) and hand it down; it keeps keys in memory for ``ttl`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from ...errors import AuthError, ConfigError
from .jwt import check_kid

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 16_384
MIN_RSA_BITS = 2048


class InstallKeyFetcher:
    """``fetcher(kid) -> PEM``: GET ``{keys_url}/{kid}``, check it is an RSA public key, cache it.

    Failures raise :class:`AuthError` naming the kid and the reason (bad kid, 404, other status,
    timeout, connection error, body that is not a PEM RSA public key). Thread-safe.
    """

    def __init__(
        self,
        keys_url: str,
        *,
        ttl: float = 3600,
        timeout: float = 5,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(keys_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"CONNECT_INSTALL_KEYS_URL must be an absolute http(s) URL, got {keys_url!r}")
        self._base = keys_url.rstrip("/")
        self._ttl = ttl
        self._timeout = timeout
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, kid: str) -> str:
        """The PEM public key for ``kid``, from the cache while fresh, else from the key server."""
        check_kid(kid)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(kid)
            if hit is not None and hit[0] > now:
                return hit[1]
        pem = self._fetch(kid)
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[kid] = (now + self._ttl, pem)
        return pem

    def clear(self) -> None:
        """Forget every cached key."""
        with self._lock:
            self._cache.clear()

    def __repr__(self) -> str:
        return f"InstallKeyFetcher({self._base!r}, ttl={self._ttl:g}, timeout={self._timeout:g})"

    def _fetch(self, kid: str) -> str:
        url = f"{self._base}/{kid}"
        try:
            response = self._session.get(url, timeout=self._timeout)
        except requests.Timeout:
            log.warning("install key server timed out for kid %s", kid)
            raise AuthError(
                f"install key server timed out after {self._timeout:g} s for kid {kid!r}"
            ) from None
        except requests.RequestException as exc:
            log.warning("install key server unreachable for kid %s: %s", kid, type(exc).__name__)
            raise AuthError(
                f"could not reach the install key server for kid {kid!r}: {type(exc).__name__}"
            ) from None
        if response.status_code == 404:
            raise AuthError(f"install key {kid!r} does not exist on the key server (404)")
        if response.status_code != 200:
            raise AuthError(f"install key server answered {response.status_code} for kid {kid!r}")
        pem = _parse_pem(response.content, kid)
        log.info("fetched install key %s", kid)
        return pem


def _parse_pem(body: bytes, kid: str) -> str:
    if len(body) > MAX_KEY_BYTES:
        raise AuthError(f"install key {kid!r}: the key server sent {len(body)} bytes, not a public key")
    text = body.strip()
    if not text.startswith(b"-----BEGIN PUBLIC KEY-----"):
        raise AuthError(f"install key {kid!r}: the key server did not send a PEM public key")
    try:
        key = load_pem_public_key(text)
    except (ValueError, TypeError):
        raise AuthError(f"install key {kid!r}: the PEM from the key server does not load") from None
    if not isinstance(key, RSAPublicKey):
        raise AuthError(f"install key {kid!r} is not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise AuthError(f"install key {kid!r} is only {key.key_size} bits")
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
