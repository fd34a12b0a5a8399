"""Who is calling the screens: the Connect token, its user and issue, and the Jira administrator check.

API calls carry a context token (``qsh`` = ``context-qsh``, from ``AP.context.getToken()``); page
loads carry a token hashed for the page URL. Both name the user (``sub``); the issue comes from the
signed ``context`` claim only. The administrator check is the one Jira call made on a request thread:
short timeout, no retries, its answer cached for five minutes per site and user.

Where a door hands the app a token that acts as the user (Forge's ``x-forge-oauth-user``, see
:meth:`UiCaller.user_jira`), the administrator check asks Jira as that user (``getMyPermissions``)
and the issue a screen works on is read as that user, so someone who cannot browse an issue cannot
draft from it. A Connect app has no such token: it asks as the app about the user
(``getBulkPermissions`` with the ``accountId``) and the issue is the one Jira signed into the
user's context token.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from ..errors import AuthError, BadRequestError, CircuitOpenError, ForbiddenError, JiraError, StorageError
from ..jira.client import JiraClient
from ..models import Tenant
from ..services import Services, jira_client_for
from .connect_auth import verify_connect

log = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 300
ISSUE_CACHE_SECONDS = 300
REQUEST_JIRA_TIMEOUT_SECONDS = 5.0
ADMIN_PERMISSION = "ADMINISTER"


@dataclass(frozen=True)
class UiCaller:
    """A verified call from one of our screens: the site, the Jira user and the token's claims."""

    tenant: Tenant
    account_id: str
    claims: dict[str, Any]

    @property
    def issue(self) -> dict[str, Any]:
        """The ``context.jira.issue`` claim (``{"key", "id", ...}``), empty outside an issue."""
        context = self.claims.get("context")
        jira = context.get("jira") if isinstance(context, dict) else None
        issue = jira.get("issue") if isinstance(jira, dict) else None
        return issue if isinstance(issue, dict) else {}

    @property
    def issue_key(self) -> str | None:
        """The issue the token was issued for (its key, else its id), or None."""
        for name in ("key", "id"):
            value = self.issue.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
        return None

    @property
    def issue_id(self) -> str:
        """The issue's numeric id when the token carries it, else ``""``."""
        value = self.issue.get("id")
        return str(value) if isinstance(value, str | int) and str(value).isdigit() else ""

    def user_jira(self, services: Services) -> JiraClient | None:
        """A request-thread Jira client that acts as this user, or None when the door has no user token.

        Connect has none (None: the app asks about the user); the Forge caller overrides this.
        """
        return None

    def require_issue(self) -> str:
        """The issue key; BadRequestError when the token was not issued inside an issue."""
        key = self.issue_key
        if key is None:
            raise BadRequestError("This can only be done from an issue: open the panel on an issue.")
        return key


def _caller(services: Services, *, context_token: bool) -> UiCaller:
    verified = verify_connect(services, allow_context_qsh=context_token)
    account_id = verified.account_id
    if account_id is None:
        raise AuthError("the token names no user (sub)")
    if not verified.tenant.enabled:
        raise ForbiddenError("The app is disabled on this site. A Jira administrator can enable it again.",
                             code="site_disabled")
    return UiCaller(tenant=verified.tenant, account_id=account_id, claims=verified.claims)


def verify_ui_call(services: Services) -> UiCaller:
    """Verify an API call from a screen (a context token, or a token hashed for this very request)."""
    return _caller(services, context_token=True)


def verify_page_load(services: Services) -> UiCaller:
    """Verify a page load by Jira: the token's ``qsh`` must hash this page's URL (never ``context-qsh``)."""
    return _caller(services, context_token=False)


def request_jira(services: Services, tenant: Tenant, *, user_token: str | None = None) -> JiraClient:
    """A Jira client fit for a request thread: short timeout, no retries, behind the site's breaker.

    With ``user_token`` (Forge) it acts as that user instead of the app.
    """
    return jira_client_for(services.settings, tenant, services.breakers, tenants=services.stores.tenants,
                           timeout=REQUEST_JIRA_TIMEOUT_SECONDS, max_retries=0, user_token=user_token)


def admin_cache_key(tenant_id: str, account_id: str) -> str:
    """Where the administrator check's answer is cached (ids hashed: they may hold any character)."""
    digest = hashlib.sha256(f"{tenant_id}\0{account_id}".encode()).hexdigest()[:32]
    return f"ui-admin:{digest}"


def issue_cache_key(tenant_id: str, account_id: str, issue_key: str) -> str:
    """Where "this user can see this issue" is remembered (ids hashed, like the administrator check's)."""
    digest = hashlib.sha256(f"{tenant_id}\0{account_id}\0{issue_key}".encode()).hexdigest()[:32]
    return f"ui-issue:{digest}"


def _cached(services: Services, key: str) -> object:
    try:
        return services.stores.cache.get(key)
    except StorageError:
        return None


def _remember(services: Services, key: str, value: bool, ttl: int, what: str) -> None:
    try:
        services.stores.cache.set(key, value, ttl=ttl)
    except StorageError:
        log.warning("could not cache the %s", what)


def refuse_for_user(exc: JiraError) -> None:
    """Turn Jira refusing *the user* into the screen's answer; other errors are left to the caller.

    401: the user token no longer works (reload for a fresh one). 403/404 on an issue read as the
    user: Jira does not show the user this issue.
    """
    if exc.status == 401:
        raise AuthError("Jira refused your user token (x-forge-oauth-user); reload the page",
                        code="user_token_rejected") from None
    if exc.status in (403, 404):
        raise ForbiddenError("You cannot see this issue in Jira, so the assistant will not work on it "
                             "for you.", code="issue_not_visible") from None


def is_jira_admin(services: Services, caller: UiCaller) -> bool:
    """True when Jira says the caller holds the global ADMINISTER permission (cached five minutes).

    As the user (``getMyPermissions``) where the door gives a user token, else as the app about the
    user (``getBulkPermissions``). A Forge call without its user token is refused before the cache is
    read: the page never opens on the app's own permissions.
    """
    user_jira = caller.user_jira(services)
    key = admin_cache_key(caller.tenant.tenant_id, caller.account_id)
    cached = _cached(services, key)
    if isinstance(cached, bool):
        if user_jira is not None:
            user_jira.close()
        return cached
    jira = user_jira if user_jira is not None else request_jira(services, caller.tenant)
    try:
        if user_jira is not None:
            granted = jira.get_my_permissions([ADMIN_PERMISSION])
        else:
            granted = jira.user_has_permissions(caller.account_id, global_permissions=[ADMIN_PERMISSION])
    except (JiraError, CircuitOpenError) as exc:
        log.warning("administrator check failed: %s", exc.code)
        if user_jira is not None and isinstance(exc, JiraError) and exc.status == 401:
            refuse_for_user(exc)
        raise JiraError("Jira could not confirm that you are a Jira administrator. Please try again in a "
                        "minute.", code="admin_check_failed") from None
    finally:
        jira.close()
    answer = bool(granted.get(ADMIN_PERMISSION))
    _remember(services, key, answer, ADMIN_CACHE_SECONDS, "administrator check")
    return answer


def remember_issue_visible(services: Services, caller: UiCaller, issue_key: str) -> None:
    """Note that Jira showed ``issue_key`` to the caller (as the user), for five minutes."""
    key = issue_cache_key(caller.tenant.tenant_id, caller.account_id, issue_key)
    _remember(services, key, True, ISSUE_CACHE_SECONDS, "issue visibility check")


def require_issue_visible(services: Services, caller: UiCaller, issue_key: str) -> None:
    """ForbiddenError unless Jira shows ``issue_key`` to the caller, asked as the user.

    Only where the door gives a user token (Forge; without the token: ``user_token_missing``). The
    panel's own issue read answers it for five minutes; otherwise one short read as the user. When
    Jira cannot answer the work is refused (it could not go ahead without Jira anyway). Connect: the
    issue is the one Jira signed into the user's context token, nothing to ask.
    """
    user_jira = caller.user_jira(services)
    if user_jira is None:
        return
    try:
        if _cached(services, issue_cache_key(caller.tenant.tenant_id, caller.account_id, issue_key)) is True:
            return
        try:
            user_jira.get_issue(issue_key, fields=["summary"])
        except (JiraError, CircuitOpenError) as exc:
            log.warning("issue visibility check failed: %s", exc.code)
            if isinstance(exc, JiraError):
                refuse_for_user(exc)
            raise JiraError("Jira could not confirm that you can see this issue. Please try again in a "
                            "minute.", code="issue_check_failed") from None
    finally:
        user_jira.close()
    remember_issue_visible(services, caller, issue_key)


def require_admin(services: Services, caller: UiCaller) -> None:
    """ForbiddenError unless the caller is a Jira administrator (UI conditions only hide things)."""
    if not is_jira_admin(services, caller):
        raise ForbiddenError("Only Jira administrators can see and change the AI assistant's settings.",
                             code="not_admin")
