"""Forge Invocation Tokens (FIT): verify the token Forge sends to a remote, and read its claims.

Pure functions: a token in, a :class:`ForgeInvocation` out. The signing key comes from a callable the
caller injects (``get_key(kid)``, usually :class:`~connect_app.platform.forge.keys.ForgeKeys`);
nothing here touches Flask, storage or the network.

Forge calls a remote with ``Authorization: Bearer <FIT>``. The FIT is an RS256 JWT signed with a key
from Atlassian's JWKS; its claims, as checked here::

    iss  "forge/invocation-token"          aud  the app id ("ari:cloud:ecosystem::app/<uuid>")
    exp, iat (required), nbf (optional)    small leeway
    app.installationId                     the installation (our site key; a reinstall is a new one)
    app.apiBaseUrl                         where product REST calls go ("https://api.atlassian.com/ex/jira/<cloudId>")
    app.module.key                         the manifest module that caused the call
    app.id, app.appVersion, app.environment {type, id}    informative
    principal                              the acting user's accountId (UI calls only)
    context                                cloudId, moduleKey, and for UI modules ``extension``
                                           (``extension.issue.key`` inside an issue panel)

Calls that ask for an app system token also carry it in the ``x-forge-oauth-system`` header; its
expiry is read by :func:`token_expiry`.
"""

from __future__ import annotations

import fnmatch
import math
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ...errors import AppError, AuthError

FIT_ISSUER = "forge/invocation-token"
RS256 = "RS256"
SYSTEM_TOKEN_HEADER = "x-forge-oauth-system"
USER_TOKEN_HEADER = "x-forge-oauth-user"
APP_ARI_PREFIX = "ari:cloud:ecosystem::app/"
MAX_TOKEN_CHARS = 16_384
DEFAULT_SYSTEM_TOKEN_TTL = 55 * 60  # when the system token is not a JWT with an exp claim

_KID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=\-]{0,255}")
_ISSUE_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]*-\d+")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# PyJWT checks only the signature; every claim is checked below, against an injectable clock.
_SIGNATURE_ONLY: dict[str, Any] = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
}


@dataclass(frozen=True)
class ForgeInvocation:
    """A verified Forge invocation: who installed the app where, which module called, for whom."""

    installation_id: str
    api_base_url: str
    app_id: str
    module_key: str
    module_type: str = ""
    environment_type: str = ""
    environment_id: str = ""
    principal: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def cloud_id(self) -> str | None:
        """The site's cloud id: ``context.cloudId``, else the last segment of ``/ex/jira/<cloudId>``."""
        value = self.context.get("cloudId")
        if isinstance(value, str) and value:
            return value
        match = re.search(r"/ex/jira/([^/?#]+)", self.api_base_url)
        return match.group(1) if match else None

    @property
    def site_url(self) -> str | None:
        """The site's own URL when the context names it (``siteUrl``), else None."""
        value = self.context.get("siteUrl")
        if isinstance(value, str) and urlsplit(value).scheme in ("http", "https") and urlsplit(value).netloc:
            return value.rstrip("/")
        return None

    @property
    def extension(self) -> dict[str, Any]:
        """``context.extension``: where a UI module is shown (issue, project, ...); empty otherwise."""
        value = self.context.get("extension")
        return value if isinstance(value, dict) else {}

    @property
    def issue(self) -> dict[str, Any]:
        """``context.extension.issue`` (``{"key", "id", ...}``); empty outside an issue."""
        value = self.extension.get("issue")
        return value if isinstance(value, dict) else {}

    @property
    def issue_key(self) -> str | None:
        """The signed issue key of an issue-context module, or None."""
        key = self.issue.get("key")
        return key if isinstance(key, str) and _ISSUE_KEY_RE.fullmatch(key) else None

    @property
    def issue_id(self) -> str:
        """The signed issue id when present (digits only), else ``""``."""
        value = self.issue.get("id")
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        return text if text.isdigit() else ""


def bearer_token(headers: Mapping[str, str]) -> str:
    """The FIT from ``Authorization: Bearer <token>``; AuthError when it is missing or malformed."""
    getlist = getattr(headers, "getlist", None)
    values = list(getlist("Authorization")) if callable(getlist) else (
        [v for k, v in headers.items() if k.lower() == "authorization"]
    )
    if not values:
        raise AuthError("no Forge invocation token: expected an 'Authorization: Bearer <FIT>' header")
    if len(values) > 1:
        raise AuthError("more than one Authorization header")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError(f"the Authorization header uses the {_show(scheme)} scheme, not Bearer")
    token = token.strip()
    if not token:
        raise AuthError("the Forge invocation token is empty")
    if any(ch.isspace() or ch == "," for ch in token):
        raise AuthError("the Forge invocation token contains spaces or commas")
    return token


def verify_fit(
    token: str,
    *,
    get_key: Callable[[str], Any],
    app_id: str,
    modules: Collection[str],
    allowed_api_hosts: Sequence[str],
    leeway: float = 10,
    now: float | None = None,
) -> ForgeInvocation:
    """Verify a Forge Invocation Token and return the invocation it describes.

    Order: decode unverified -> ``alg`` is exactly RS256 (never ``none`` or HS256) -> ``kid`` is a
    safe key id -> ``get_key(kid)`` (an RSA public key, or a PyJWK holding one) -> signature ->
    ``iss`` -> ``aud`` is ``app_id`` (a bare uuid and its ``ari:cloud:ecosystem::app/`` form are the
    same app) -> ``exp``/``iat``/``nbf`` with ``leeway`` -> ``app.installationId`` ->
    ``app.apiBaseUrl`` whose host matches ``allowed_api_hosts`` (https, or http on loopback) ->
    ``app.module.key`` in ``modules``. Every failure raises :class:`AuthError` with the reason;
    errors from ``get_key`` that are :class:`AppError` (key service down) propagate unchanged.
    """
    if not app_id:
        raise AuthError("no Forge app id is configured to check the token's audience against")
    header = _unverified_header(token)
    alg = header.get("alg")
    if alg != RS256:
        raise AuthError(f"Forge invocation token algorithm {_show(alg)} is not allowed; expected RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID_RE.fullmatch(kid) or ".." in kid:
        raise AuthError(f"Forge invocation token kid {_show(kid)} is missing or not a valid key id")
    try:
        key = get_key(kid)
    except AppError:
        raise
    except Exception as exc:
        raise AuthError(f"could not get the Forge signing key {kid!r}: {type(exc).__name__}") from exc
    key = getattr(key, "key", key)  # a PyJWK holds the cryptography key
    if not isinstance(key, RSAPublicKey):
        raise AuthError(f"the Forge signing key {kid!r} is not an RSA public key")
    try:
        claims = pyjwt.decode(token, key, algorithms=[RS256], options=_SIGNATURE_ONLY)
    except pyjwt.InvalidSignatureError:
        raise AuthError(f"Forge invocation token signature does not verify with key {kid!r}") from None
    except pyjwt.PyJWTError as exc:
        raise AuthError(f"Forge invocation token rejected: {type(exc).__name__}") from None
    if claims.get("iss") != FIT_ISSUER:
        raise AuthError(f"Forge invocation token iss {_show(claims.get('iss'))} is not {FIT_ISSUER!r}")
    _check_audience(claims.get("aud"), app_id)
    _check_times(claims, leeway, time.time() if now is None else now)
    invocation = _invocation(claims)
    if not api_host_allowed(invocation.api_base_url, allowed_api_hosts):
        raise AuthError(
            f"Forge invocation token apiBaseUrl host {_show(urlsplit(invocation.api_base_url).hostname)} "
            "is not allowed (FORGE_ALLOWED_API_HOSTS)"
        )
    if invocation.module_key not in modules:
        raise AuthError(
            f"Forge invocation token is for module {_show(invocation.module_key)}, "
            f"not for this endpoint ({', '.join(sorted(modules))})"
        )
    return invocation


def api_host_allowed(api_base_url: str, patterns: Sequence[str]) -> bool:
    """True when ``api_base_url`` is https (http only on loopback) and its host matches a pattern."""
    try:
        parts = urlsplit(api_base_url)
        host = (parts.hostname or "").lower()
        _ = parts.port
    except ValueError:
        return False
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        return False
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        return False
    return any(fnmatch.fnmatchcase(host, pattern.strip().lower()) for pattern in patterns if pattern.strip())


def token_expiry(
    token: str, *, now: float | None = None, default_ttl: float = DEFAULT_SYSTEM_TOKEN_TTL
) -> float:
    """When a system token expires: its ``exp`` claim if it is a JWT that has one, else now + default.

    The token is Atlassian's credential for Atlassian's APIs; we never verify it, only read when it
    stops working so a job can wait for a fresh one instead of failing.
    """
    current = time.time() if now is None else now
    try:
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        return current + default_ttl
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and math.isfinite(exp):
        return float(exp)
    return current + default_ttl


def app_ari(app_id: str) -> str:
    """The app id in ARI form (``ari:cloud:ecosystem::app/<uuid>``), whichever form it was given in."""
    app_id = app_id.strip()
    return app_id if app_id.startswith("ari:") else APP_ARI_PREFIX + app_id


# ---------------------------------------------------------------------- helpers
def _unverified_header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise AuthError("the Forge invocation token is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError(f"the Forge invocation token is longer than {MAX_TOKEN_CHARS} characters")
    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError as exc:
        raise AuthError(f"malformed Forge invocation token: {type(exc).__name__}") from None
    return header


def _check_audience(aud: Any, app_id: str) -> None:
    wanted = app_ari(app_id)
    values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(v, str) and v and app_ari(v) == wanted for v in values):
        raise AuthError(f"Forge invocation token aud {_show(aud)} is not this app ({wanted})")


def _check_times(claims: Mapping[str, Any], leeway: float, now: float) -> None:
    for name in ("exp", "iat"):
        if name not in claims:
            raise AuthError(f"Forge invocation token has no {name} claim")
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (not isinstance(value, int | float) or isinstance(value, bool)
                               or not math.isfinite(value)):
            raise AuthError(f"Forge invocation token {name} claim is not a number")
    exp = float(claims["exp"])
    if exp + leeway <= now:
        raise AuthError(f"Forge invocation token expired {int(now - exp)} s ago (leeway {leeway:g} s)")
    for name in ("nbf", "iat"):
        if name in claims and float(claims[name]) > now + leeway:
            raise AuthError(
                f"Forge invocation token is not valid yet: {name} is {int(float(claims[name]) - now)} s "
                f"ahead (leeway {leeway:g} s)"
            )


def _invocation(claims: dict[str, Any]) -> ForgeInvocation:
    app = claims.get("app")
    if not isinstance(app, dict):
        raise AuthError("Forge invocation token has no app claim")
    installation_id = app.get("installationId")
    if not isinstance(installation_id, str) or not installation_id.strip() or len(installation_id) > 256:
        raise AuthError("Forge invocation token has no app.installationId")
    api_base_url = app.get("apiBaseUrl")
    if not isinstance(api_base_url, str) or not api_base_url.strip():
        raise AuthError("Forge invocation token has no app.apiBaseUrl")
    module = app.get("module") if isinstance(app.get("module"), dict) else {}
    module_key = module.get("key")
    if not isinstance(module_key, str) or not module_key:
        raise AuthError("Forge invocation token has no app.module.key")
    environment = app.get("environment") if isinstance(app.get("environment"), dict) else {}
    context = claims.get("context") if isinstance(claims.get("context"), dict) else {}
    return ForgeInvocation(
        installation_id=installation_id.strip(),
        api_base_url=api_base_url.strip().rstrip("/"),
        app_id=_text(app.get("id")) or _text(claims.get("aud")),
        module_key=module_key,
        module_type=_text(module.get("type")),
        environment_type=_text(environment.get("type")),
        environment_id=_text(environment.get("id")),
        principal=_principal(claims.get("principal")),
        context=context,
        claims=claims,
    )


def _principal(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("accountId")
    return value if isinstance(value, str) and value.strip() else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
