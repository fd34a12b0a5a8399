"""Fetch and cache the public keys that sign Forge Invocation Tokens (Atlassian's JWKS).

A :class:`ForgeKeys` is the ``get_key`` callable that
:func:`~connect_app.platform.forge.fit.verify_fit` expects. Build one per process (the composition
root does) and hand it down. It wraps PyJWT's :class:`jwt.PyJWKClient`: the key set is cached for
``lifespan`` seconds, and a token whose ``kid`` is not in the cached set makes it fetch the set again
once (at most once per ``cooldown`` seconds, so tokens with made-up kids cannot hammer the key server).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ...errors import AuthError, ConfigError, KeyServiceUnavailableError

log = logging.getLogger(__name__)

_UNKNOWN_KID = "Unable to find a signing key"


class ForgeKeys:
    """``keys(kid) -> RSAPublicKey`` from the Forge JWKS, cached; thread-safe.

    An unknown ``kid`` raises :class:`AuthError` (the request gets a 401). A key server that cannot
    be reached, or that sends something other than a usable key set, raises
    :class:`KeyServiceUnavailableError` (a 503: Forge retries events, the screen shows an error).
    """

    def __init__(
        self, jwks_url: str, *, lifespan: float = 3600, timeout: float = 5, cooldown: float = 30
    ) -> None:
        parts = urlsplit(jwks_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"FORGE_JWKS_URL must be an absolute http(s) URL, got {jwks_url!r}")
        if lifespan <= 0 or timeout <= 0 or cooldown < 0:
            raise ConfigError("ForgeKeys needs lifespan > 0, timeout > 0 and cooldown >= 0")
        self.jwks_url = jwks_url
        self.lifespan = lifespan
        self.timeout = timeout
        # cache_keys stays off: PyJWKClient's per-kid cache never expires, so a key Atlassian removes
        # from the set would stay trusted. Looking a kid up in the cached set (lifespan) is cheap.
        self._client = pyjwt.PyJWKClient(
            jwks_url, cache_keys=False, cache_jwk_set=True, lifespan=lifespan, timeout=timeout,
            cooldown_duration=cooldown,
        )

    def __call__(self, kid: str) -> RSAPublicKey:
        """The RSA public key for ``kid`` (fetching the key set when needed)."""
        try:
            jwk = self._client.get_signing_key(kid)
        except pyjwt.PyJWKClientConnectionError as exc:
            log.warning("Forge key server unreachable: %s", type(exc.__cause__ or exc).__name__)
            raise KeyServiceUnavailableError(
                "could not reach the Forge key server (FORGE_JWKS_URL) to check the token; try again"
            ) from None
        except pyjwt.PyJWKClientError as exc:
            if str(exc).startswith(_UNKNOWN_KID):
                raise AuthError(f"no Forge signing key has kid {kid!r}") from None
            log.warning("Forge key server sent an unusable key set: %s", exc)
            raise KeyServiceUnavailableError("the Forge key server sent no usable signing keys") from None
        except (pyjwt.PyJWTError, ValueError) as exc:  # not JSON, or PyJWKSetError: a malformed key set
            log.warning("Forge key server sent a malformed key set: %s", type(exc).__name__)
            raise KeyServiceUnavailableError("the Forge key server sent a malformed key set") from None
        key: Any = jwk.key
        if not isinstance(key, RSAPublicKey):
            raise AuthError(f"Forge signing key {kid!r} is not an RSA key")
        return key

    def __repr__(self) -> str:
        return f"ForgeKeys({self.jwks_url!r}, lifespan={self.lifespan:g}, timeout={self.timeout:g})"
