"""Who is calling the simulated REST API: one function, so other schemes can be added beside Connect's.

Connect apps sign each call with ``Authorization: JWT <token>`` (or ``?jwt=``): HS256 with the
installation's shared secret, ``iss`` = the app key, ``exp`` in the future and ``qsh`` matching this
exact request relative to the site's base URL. Context tokens (``qsh: context-qsh``) are refused.
Forge apps call through the API gateway prefix ``/ex/jira/<cloudId>`` with ``Authorization: Bearer``
and a token Forge issued them (system or user token); the gateway takes nothing else, and the site's own
``/rest/`` paths take no bearer tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import AuthError
from ...platform.connect.jwt import extract_token, verify_hs256
from .connect import ConnectHost

if TYPE_CHECKING:
    from .forge import ForgeHost


@dataclass(frozen=True)
class Principal:
    """The caller: the account the call acts as, and the app and its scopes for app calls."""

    account_id: str
    app_key: str | None
    scopes: frozenset[str]
    mechanism: str


def authenticate(connect: ConnectHost, *, method: str, url: str, site_base: str, headers: Mapping[str, str],
                 query: Mapping[str, Any], leeway: float = 60, forge: ForgeHost | None = None,
                 gateway: bool = False) -> Principal:
    """The principal of a REST request, or :class:`AuthError` with the reason.

    ``url`` is the raw request URL (path and query exactly as sent); ``gateway`` is True for requests
    under ``/ex/jira/<cloudId>``, which only ``forge`` bearer tokens may use.
    """
    scheme, _, credential = str(headers.get("Authorization") or "").strip().partition(" ")
    scheme = scheme.lower()
    if gateway:
        if scheme != "bearer" or not credential.strip():
            raise AuthError("the API gateway (/ex/jira/<cloudId>) takes only Authorization: Bearer tokens")
        if forge is None:
            raise AuthError("this simulator has no Forge platform")
        return forge.bearer_principal(credential.strip())
    if scheme == "bearer":
        raise AuthError("bearer tokens are accepted only through the API gateway: call "
                        "{apiBaseUrl}/rest/api/3/... (apiBaseUrl is {site}/ex/jira/<cloudId>)")
    token = extract_token(headers, query)
    claims = verify_hs256(token, lookup_secret=connect.secret_for, method=method, url=url,
                          base_url=site_base, allow_context_qsh=False, leeway=leeway)
    inst = connect.installation(str(claims["iss"]))
    if inst is None:  # uninstalled between the two look-ups
        raise AuthError("the app is not installed")
    return Principal(inst.app_account_id, inst.app_key, inst.scopes, "connect-jwt")
