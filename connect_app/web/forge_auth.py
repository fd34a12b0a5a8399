"""Forge request verification for Flask routes: the FIT, the module it was issued for, the site.

Every Forge route verifies ``Authorization: Bearer <FIT>`` against the Forge JWKS and checks that
``app.module.key`` is one the route serves. Calls that carry an app system token
(``x-forge-oauth-system``) refresh the site's stored token. Screens' calls become the same
:class:`~connect_app.web.ui_auth.UiCaller` the Connect screens use, with the issue taken from the
signed ``context.extension.issue`` and the user from ``principal``.

The screens' endpoint also asks for a user token (``appUserToken``): Forge sends it in
``x-forge-oauth-user`` and it calls Jira *as the user who opened the screen*. Where a screen acts for
the user on the request thread (the Jira-administrator check, reading the issue the panel drafts
from) the backend uses that token, so Jira applies the user's own permissions; the token lives in the
request only, is never stored, never queued and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from flask import request

from ..errors import AuthError, ForbiddenError, NotFoundError
from ..jira.client import JiraClient
from ..models import Tenant
from ..platform.forge.fit import (
    SYSTEM_TOKEN_HEADER,
    USER_TOKEN_HEADER,
    ForgeInvocation,
    bearer_token,
    verify_fit,
)
from ..platform.forge.keys import ForgeKeys
from ..platform.forge.site import record_site
from ..services import FORGE_KEYS_LIFESPAN_SECONDS, Services
from .ui_auth import UiCaller, request_jira

log = logging.getLogger(__name__)

FIT_MAX_LEEWAY_SECONDS = 30.0
MAX_OAUTH_TOKEN_CHARS = 16_384

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
    """A screen's call through Forge: the issue comes from the FIT's ``context.extension.issue``.

    ``user_token`` is the call's ``x-forge-oauth-user`` token (None when Forge sent none); it is kept
    out of ``repr`` so it cannot reach a log line through the object.
    """

    invocation: ForgeInvocation | None = None
    user_token: str | None = field(default=None, repr=False)

    @property
    def issue(self) -> dict[str, Any]:
        """The signed ``context.extension.issue`` (``{"key", "id", ...}``), empty outside an issue."""
        return self.invocation.issue if self.invocation is not None else {}

    def user_jira(self, services: Services) -> JiraClient:
        """A request-thread Jira client acting as this user, with the call's user token.

        :class:`ForbiddenError` (``user_token_missing``) when Forge sent no user token: the screens
        never fall back to the app's own, wider, permissions where they act for the user.
        """
        if not self.user_token:
            raise ForbiddenError(
                "This screen acts as you in Jira, but Forge sent no user token (x-forge-oauth-user). "
                "A Jira administrator must upgrade the app: its ui-endpoint needs appUserToken and the "
                "app the read:app-user-token scope.", code="user_token_missing")
        return request_jira(services, self.tenant, user_token=self.user_token)


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


def oauth_token(header: str) -> str | None:
    """The OAuth token Forge sent in ``header`` with this call, if a usable one (never logged)."""
    values = request.headers.getlist(header)
    if not values:
        return None
    token = values[0].strip()
    if len(values) > 1 or not token or len(token) > MAX_OAUTH_TOKEN_CHARS or any(c.isspace() for c in token):
        log.warning("ignoring a malformed %s header", header)
        return None
    return token


def system_token() -> str | None:
    """The app system token Forge sent with this call (``x-forge-oauth-system``), if any usable one."""
    return oauth_token(SYSTEM_TOKEN_HEADER)


def user_token() -> str | None:
    """The user token Forge sent with a screen's call (``x-forge-oauth-user``), if any usable one."""
    return oauth_token(USER_TOKEN_HEADER)


def forge_call(services: Services, modules: Collection[str]) -> ForgeCall:
    """Verify the request, then create or refresh its site (and the site's system token)."""
    invocation = verify_forge(services, modules)
    tenant, new_site = record_site(
        services.stores.tenants, invocation, system_token=system_token(), app_key=services.settings.app_key
    )
    return ForgeCall(invocation=invocation, tenant=tenant, new_site=new_site)


def verify_forge_ui_call(services: Services) -> UiCaller:
    """Verify a screen's ``invokeRemote`` call: the acting user is ``principal``, the issue is signed.

    The user token is taken along when Forge sent one; routes that act as the user require it then
    (:meth:`ForgeUiCaller.user_jira`), others (polling a job) do not.
    """
    call = forge_call(services, UI_MODULES)
    account_id = call.invocation.principal
    if account_id is None:
        raise AuthError("the Forge invocation token names no user (principal)")
    if not call.tenant.enabled:
        raise ForbiddenError("The app is disabled on this site. A Jira administrator can enable it again.",
                             code="site_disabled")
    return ForgeUiCaller(tenant=call.tenant, account_id=account_id, claims=call.invocation.claims,
                         invocation=call.invocation, user_token=user_token())
