"""Forge request verification for Flask routes: the FIT, the module it was issued for, the site.

Every Forge route verifies ``Authorization: Bearer <FIT>`` against the Forge JWKS and checks that
``app.module.key`` is one the route serves. Calls that carry an app system token
(``x-forge-oauth-system``) refresh the site's stored token. Screens' calls become the same
:class:`~connect_app.web.ui_auth.UiCaller` the Connect screens use, with the issue taken from the
signed ``context.extension.issue`` and the user from ``principal``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import request

from ..errors import AuthError, ForbiddenError, NotFoundError
from ..models import Tenant
from ..platform.forge.fit import SYSTEM_TOKEN_HEADER, ForgeInvocation, bearer_token, verify_fit
from ..platform.forge.keys import ForgeKeys
from ..platform.forge.site import record_site
from ..services import FORGE_KEYS_LIFESPAN_SECONDS, Services
from .ui_auth import UiCaller

log = logging.getLogger(__name__)

FIT_MAX_LEEWAY_SECONDS = 30.0
MAX_SYSTEM_TOKEN_CHARS = 16_384

# Manifest module keys (forge/manifest.yml), by the route that serves them. The FIT names the module
# that caused the call (the trigger, scheduled trigger or UI module); the route's own endpoint module key
# is accepted too, as each of these endpoints has exactly one route.
COMMENT_MODULES = frozenset({"comment-trigger", "events-endpoint"})
ISSUE_UPDATED_MODULES = frozenset({"issue-updated-trigger", "issue-events-endpoint"})
LIFECYCLE_MODULES = frozenset({"lifecycle-trigger", "lifecycle-endpoint"})
SCHEDULED_MODULES = frozenset({"token-refresh", "scheduled-endpoint"})
UI_MODULES = frozenset({"ai-email-panel", "ai-admin-page", "ui-endpoint"})


@dataclass(frozen=True)
class ForgeCall:
    """A verified Forge call: the invocation and the site record it created or refreshed."""

    invocation: ForgeInvocation
    tenant: Tenant
    new_site: bool


@dataclass(frozen=True)
class ForgeUiCaller(UiCaller):
    """A screen's call through Forge: the issue comes from the FIT's ``context.extension.issue``."""

    invocation: ForgeInvocation | None = None

    @property
    def issue(self) -> dict[str, Any]:
        """The signed ``context.extension.issue`` (``{"key", "id", ...}``), empty outside an issue."""
        return self.invocation.issue if self.invocation is not None else {}


def verify_forge(services: Services, modules: Collection[str]) -> ForgeInvocation:
    """Verify the FIT on the current request for one of ``modules``; AuthError (401) with the reason."""
    settings = services.settings
    if not settings.forge_app_id:
        raise NotFoundError("the Forge door is not enabled on this deployment (set FORGE_APP_ID)",
                            code="forge_disabled")
    keys = services.forge_keys
    if keys is None:  # Services built by hand (tests, tools): build the key client on first use
        keys = services.forge_keys = ForgeKeys(settings.forge_jwks_url, lifespan=FORGE_KEYS_LIFESPAN_SECONDS)
    token = bearer_token(request.headers)
    return verify_fit(
        token, get_key=keys, app_id=settings.forge_app_id, modules=modules,
        allowed_api_hosts=settings.forge_allowed_api_hosts,
        leeway=min(float(settings.jwt_leeway_seconds), FIT_MAX_LEEWAY_SECONDS),
    )


def system_token() -> str | None:
    """The app system token Forge sent with this call (``x-forge-oauth-system``), if any usable one."""
    values = request.headers.getlist(SYSTEM_TOKEN_HEADER)
    if not values:
        return None
    token = values[0].strip()
    if len(values) > 1 or not token or len(token) > MAX_SYSTEM_TOKEN_CHARS or any(c.isspace() for c in token):
        log.warning("ignoring a malformed %s header", SYSTEM_TOKEN_HEADER)
        return None
    return token


def forge_call(services: Services, modules: Collection[str]) -> ForgeCall:
    """Verify the request, then create or refresh its site (and the site's system token)."""
    invocation = verify_forge(services, modules)
    tenant, new_site = record_site(
        services.stores.tenants, invocation, system_token=system_token(), app_key=services.settings.app_key
    )
    return ForgeCall(invocation=invocation, tenant=tenant, new_site=new_site)


def verify_forge_ui_call(services: Services) -> UiCaller:
    """Verify a screen's ``invokeRemote`` call: the acting user is ``principal``, the issue is signed."""
    call = forge_call(services, UI_MODULES)
    account_id = call.invocation.principal
    if account_id is None:
        raise AuthError("the Forge invocation token names no user (principal)")
    if not call.tenant.enabled:
        raise ForbiddenError("The app is disabled on this site. A Jira administrator can enable it again.",
                             code="site_disabled")
    return ForgeUiCaller(tenant=call.tenant, account_id=account_id, claims=call.invocation.claims,
                         invocation=call.invocation)
