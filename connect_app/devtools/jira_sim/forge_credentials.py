"""The credentials on each Forge call to a remote: a Forge Invocation Token (``Authorization: Bearer``),
the installation's app system token (``x-forge-oauth-system``) and, for UI calls, a user token
(``x-forge-oauth-user``).

Negative tests change one call with tampering options (:data:`TAMPER_KEYS`): ``aud``, ``iss``,
``expires_in`` (seconds from now; negative is expired), ``kid``, ``sign_with`` (another RSA private key),
``algorithm`` (``HS256``: a downgrade), ``module_key``, ``claims`` (merged in), ``drop`` (dotted claim
paths), ``system_token`` (a given token, or None to leave the header out), ``system_token_ttl`` (a fresh
token with that lifetime, e.g. ``-5``), ``user_token`` and ``user_token_ttl`` (the same for a UI call's
``x-forge-oauth-user``), ``authorization`` (the raw header, or None to leave it out), and
for the body ``envelope`` (``"payload"`` wraps the event), ``body`` and ``timeout``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Mapping
from typing import Any

from ...errors import BadRequestError
from .forge_payloads import AppIdentity, fit_claims
from .forge_tokens import ForgeKeys, TokenRegistry

TAMPER_KEYS = frozenset({
    "aud", "iss", "expires_in", "kid", "sign_with", "algorithm", "module_key", "claims", "drop",
    "system_token", "system_token_ttl", "user_token", "user_token_ttl", "authorization", "envelope", "body",
    "timeout",
})


class ForgeCredentials:
    """Signs FITs and hands out OAuth tokens; keeps each installation's current system token."""

    def __init__(self, *, fit_ttl: float = 300.0, system_token_ttl: float = 3600.0) -> None:
        self.keys = ForgeKeys()
        self.tokens = TokenRegistry()
        self.fit_ttl = fit_ttl
        self.system_token_ttl = system_token_ttl
        self._lock = threading.Lock()
        self._system: dict[str, tuple[str, float]] = {}  # installation id -> (token, expires at)

    # -- invocation tokens ---------------------------------------------------------------------
    def fit(self, app: AppIdentity, *, module_type: str, module_key: str,
            tamper: Mapping[str, Any] | None = None, extension: dict[str, Any] | None = None,
            principal: str | None = None) -> str:
        """A signed FIT for one call from ``module_key``, with ``tamper`` applied."""
        tamper = tamper or {}
        key = str(tamper.get("module_key", module_key))
        claims = fit_claims(app, module_type=module_type, module_key=key, ttl=self.fit_ttl,
                            extension=extension, principal=principal)
        if "aud" in tamper:
            claims["aud"] = tamper["aud"]
        if "iss" in tamper:
            claims["iss"] = tamper["iss"]
        if "expires_in" in tamper:
            now, expires_in = int(time.time()), int(tamper["expires_in"])
            claims["exp"] = now + expires_in
            claims["iat"] = claims["nbf"] = min(now, now + expires_in - int(self.fit_ttl))
        merge(claims, tamper.get("claims") or {})
        for dotted in tamper.get("drop") or ():
            drop(claims, str(dotted))
        return self.keys.sign(claims, kid=tamper.get("kid"), sign_with=tamper.get("sign_with"),
                              algorithm=str(tamper.get("algorithm", "RS256")))

    # -- OAuth tokens --------------------------------------------------------------------------
    def system_token(self, installation_id: str, account_id: str, scopes: frozenset[str]) -> str:
        """The installation's current system token, renewed when it is close to expiry."""
        margin = min(300.0, self.system_token_ttl / 2)
        with self._lock:
            token, expires_at = self._system.get(installation_id, ("", 0.0))
            if not token or expires_at - time.time() < margin:
                token, expires_at = self.tokens.issue(installation_id, account_id, kind="system",
                                                      scopes=scopes, ttl=self.system_token_ttl)
                self._system[installation_id] = (token, expires_at)
            return token

    def current_system_token(self, installation_id: str) -> tuple[str | None, float]:
        """The system token last handed out for the installation and its expiry (None, 0 if none)."""
        with self._lock:
            token, expires_at = self._system.get(installation_id, ("", 0.0))
        return token or None, expires_at

    def forget_system_token(self, installation_id: str | None = None) -> None:
        """The next call (of one installation, or all) gets a new system token."""
        with self._lock:
            if installation_id is None:
                self._system.clear()
            else:
                self._system.pop(installation_id, None)

    def user_token(self, installation_id: str, account_id: str, scopes: frozenset[str], *,
                   tamper: Mapping[str, Any] | None = None) -> str | None:
        """A token acting as ``account_id`` through the app (``x-forge-oauth-user``), fresh for each call.

        ``tamper``: ``user_token`` (a given token, or None for no header), ``user_token_ttl`` (seconds).
        """
        tamper = tamper or {}
        if "user_token" in tamper:
            return None if tamper["user_token"] is None else str(tamper["user_token"])
        ttl = float(tamper.get("user_token_ttl", self.system_token_ttl))
        return self.tokens.issue(installation_id, account_id, kind="user", scopes=scopes, ttl=ttl)[0]

    def headers(self, app: AppIdentity, fit: str, *, account_id: str, scopes: frozenset[str],
                system_token: bool, tamper: Mapping[str, Any] | None = None) -> dict[str, str]:
        """``Authorization: Bearer <fit>`` and, when the endpoint asks for it, ``x-forge-oauth-system``."""
        tamper = tamper or {}
        headers = {"Authorization": f"Bearer {fit}"}
        if "authorization" in tamper:
            headers.pop("Authorization")
            if tamper["authorization"] is not None:
                headers["Authorization"] = str(tamper["authorization"])
        if not system_token:
            return headers
        if "system_token" in tamper:
            token = tamper["system_token"]
        elif "system_token_ttl" in tamper:
            token = self.tokens.issue(app.installation_id, account_id, kind="system", scopes=scopes,
                                      ttl=float(tamper["system_token_ttl"]))[0]
        else:
            token = self.system_token(app.installation_id, account_id, scopes)
        if token is not None:
            headers["x-forge-oauth-system"] = str(token)
        return headers


def check_tamper(tamper: Mapping[str, Any]) -> None:
    """:class:`BadRequestError` for tampering options this module does not know (typos)."""
    unknown = sorted(set(tamper) - TAMPER_KEYS)
    if unknown:
        raise BadRequestError(f"unknown tampering option(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(TAMPER_KEYS))}")


def merge(target: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Merge ``changes`` into ``target`` in place (nested mappings merged, everything else replaced)."""
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def drop(claims: dict[str, Any], dotted: str) -> None:
    """Remove the claim at a dotted path (``app.installationId``) if it is there."""
    *parents, last = dotted.split(".")
    node: Any = claims
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)
