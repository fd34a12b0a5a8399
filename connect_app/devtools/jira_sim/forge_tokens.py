"""The Forge platform's credentials as the simulator hands them out.

:class:`ForgeKeys` is the RSA key set that signs Forge Invocation Tokens (FITs), served as a JWKS
at ``GET /forge/jwks.json`` (the simulator's stand-in for Atlassian's
``https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json``). :class:`TokenRegistry` issues the
OAuth tokens Forge puts in ``x-forge-oauth-system`` (the app acting as itself) and ``x-forge-oauth-user``
(the app acting for the user) and answers who a ``Bearer`` token belongs to when the app calls the REST
API through the ``/ex/jira/<cloudId>`` gateway prefix. Tokens are JWTs (so an app can read ``exp``), but
only tokens this registry issued are accepted; expired ones and unknown ones are refused.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

FIT_ISSUER = "forge/invocation-token"
TOKEN_ISSUER = "jira-sim/forge-oauth"
TOKEN_AUDIENCE = "api.atlassian.com"
MAX_TOKENS = 20_000  # beyond this, tokens expired for an hour are forgotten (long benchmarks stay bounded)


class ForgeKeys:
    """RSA key pairs by ``kid``; the newest signs, every one stays in the JWKS until :meth:`retire`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current_kid = self.rotate()

    def rotate(self) -> str:
        """Sign with a new key pair from now on; returns its kid (older public keys stay published)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"forge-sim-{uuid.uuid4()}"
        with self._lock:
            self._keys[kid] = key
            self.current_kid = kid
        return kid

    def retire(self, kid: str) -> None:
        """Stop publishing ``kid`` (tokens it signed no longer verify); the current key cannot be retired."""
        with self._lock:
            if kid != self.current_kid:
                self._keys.pop(kid, None)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517), each with ``kid``, ``use: sig`` and ``alg: RS256``."""
        with self._lock:
            items = list(self._keys.items())
        keys = []
        for kid, key in items:
            jwk = pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, claims: Mapping[str, Any], *, kid: str | None = None, sign_with: Any = None,
             algorithm: str = "RS256") -> str:
        """A compact JWT over ``claims``: RS256 with the current key unless told otherwise.

        ``sign_with`` is another private key (a negative test: the header's ``kid`` then names a key
        the JWKS does not hold unless ``kid`` says otherwise); ``algorithm="HS256"`` signs with a random
        secret (a downgrade attempt).
        """
        headers = {"kid": kid or self.current_kid, "typ": "JWT"}
        if algorithm == "HS256":
            return pyjwt.encode(dict(claims), secrets.token_bytes(32), algorithm="HS256", headers=headers)
        if algorithm != "RS256":
            raise ValueError("algorithm must be RS256 or HS256")
        if sign_with is not None:
            return pyjwt.encode(dict(claims), sign_with, algorithm="RS256", headers=headers)
        with self._lock:
            key = self._keys.get(kid or self.current_kid) or self._keys[self.current_kid]
        return pyjwt.encode(dict(claims), key, algorithm="RS256", headers=headers)


@dataclass(frozen=True)
class IssuedToken:
    """What the simulator knows about an OAuth token it issued."""

    installation_id: str
    account_id: str
    kind: str  # "system" | "user"
    scopes: frozenset[str]
    expires_at: float


class TokenRegistry:
    """OAuth tokens issued to Forge installations, looked up when they come back as ``Bearer`` tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, installation_id: str, account_id: str, *, kind: str, scopes: frozenset[str],
              ttl: float) -> tuple[str, float]:
        """A new token and its expiry (epoch seconds); a negative ``ttl`` issues one already expired."""
        now = time.time()
        expires_at = now + ttl
        claims = {"iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "sub": account_id, "iat": int(now),
                  "exp": int(expires_at), "jti": str(uuid.uuid4()), "kind": kind}
        token = pyjwt.encode(claims, self._secret, algorithm="HS256")
        with self._lock:
            self._tokens[token] = IssuedToken(installation_id, account_id, kind, scopes, expires_at)
            if len(self._tokens) > MAX_TOKENS:
                self._tokens = {t: r for t, r in self._tokens.items() if r.expires_at > now - 3600}
        return token, expires_at

    def lookup(self, token: str) -> IssuedToken | None:
        """The token's record if this registry issued it and it has not expired, else None."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found.expires_at <= time.time():
            return None
        return found

    def known(self, token: str) -> bool:
        """True if this registry issued ``token`` (expired or not)."""
        with self._lock:
            return token in self._tokens

    def expire(self, installation_id: str | None = None) -> int:
        """Make every token (of one installation, or all) expire now; returns how many changed."""
        now = time.time()
        changed = 0
        with self._lock:
            for token, record in list(self._tokens.items()):
                if installation_id in (None, record.installation_id) and record.expires_at > now:
                    self._tokens[token] = IssuedToken(record.installation_id, record.account_id, record.kind,
                                                      record.scopes, now)
                    changed += 1
        return changed
