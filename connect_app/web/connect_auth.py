"""Connect request verification for Flask routes: which token, which tenant, which qsh rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request

from ..errors import AuthError
from ..models import Tenant
from ..platform.connect import jwt as cjwt
from ..services import Services


@dataclass
class ConnectCaller:
    """A verified Connect request: the site and the token's claims."""

    tenant: Tenant
    claims: dict[str, Any]

    @property
    def account_id(self) -> str | None:
        """The Jira user on whose behalf the token was issued (``sub``), if any."""
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) and sub else None

    @property
    def context(self) -> dict[str, Any]:
        """The ``context`` claim of a UI token (issue and project ids for panels)."""
        value = self.claims.get("context")
        return value if isinstance(value, dict) else {}


def request_url() -> str:
    """The request's path and query exactly as sent (the qsh hashes the raw, undecoded path)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        return (request.script_root or "") + raw
    path = (request.script_root or "") + request.path
    query = request.query_string.decode("utf-8", "replace")
    return f"{path}?{query}" if query else path


def verify_connect(services: Services, *, allow_context_qsh: bool = False) -> ConnectCaller:
    """Verify the HS256 Connect JWT on the current request; raises AuthError with the reason."""
    token = cjwt.extract_token(request.headers, request.args)
    found: dict[str, Tenant] = {}

    def lookup(iss: str) -> str | None:
        tenant = services.stores.tenants.get(iss)
        if tenant is None or tenant.door != "connect" or not tenant.shared_secret:
            return None
        found["tenant"] = tenant
        return tenant.shared_secret

    claims = cjwt.verify_hs256(
        token, lookup_secret=lookup, method=request.method, url=request_url(),
        base_url=services.settings.app_base_url, allow_context_qsh=allow_context_qsh,
        leeway=services.settings.jwt_leeway_seconds,
    )
    tenant = found.get("tenant")
    if tenant is None:  # pragma: no cover - verify_hs256 raises first
        raise AuthError("unknown issuer")
    return ConnectCaller(tenant=tenant, claims=claims)
