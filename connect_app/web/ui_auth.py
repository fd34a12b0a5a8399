"""Who is calling the screens: the Connect token, its user and issue, and the Jira administrator check.

API calls carry a context token (``qsh`` = ``context-qsh``, from ``AP.context.getToken()``); page
loads carry a token hashed for the page URL. Both name the user (``sub``); the issue comes from the
signed ``context`` claim only. The administrator check is the one Jira call made on a request thread:
short timeout, no retries, its answer cached for five minutes per site and user.
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


def request_jira(services: Services, tenant: Tenant) -> JiraClient:
    """A Jira client fit for a request thread: short timeout, no retries, behind the site's breaker."""
    return jira_client_for(services.settings, tenant, services.breakers, tenants=services.stores.tenants,
                           timeout=REQUEST_JIRA_TIMEOUT_SECONDS, max_retries=0)


def admin_cache_key(tenant_id: str, account_id: str) -> str:
    """Where the administrator check's answer is cached (ids hashed: they may hold any character)."""
    digest = hashlib.sha256(f"{tenant_id}\0{account_id}".encode()).hexdigest()[:32]
    return f"ui-admin:{digest}"


def is_jira_admin(services: Services, caller: UiCaller) -> bool:
    """True when Jira says the caller holds the global ADMINISTER permission (cached five minutes)."""
    cache = services.stores.cache
    key = admin_cache_key(caller.tenant.tenant_id, caller.account_id)
    try:
        cached = cache.get(key)
    except StorageError:
        cached = None
    if isinstance(cached, bool):
        return cached
    jira = request_jira(services, caller.tenant)
    try:
        granted = jira.user_has_permissions(caller.account_id, global_permissions=[ADMIN_PERMISSION])
    except (JiraError, CircuitOpenError) as exc:
        log.warning("administrator check failed: %s", exc.code)
        raise JiraError("Jira could not confirm that you are a Jira administrator. Please try again in a "
                        "minute.", code="admin_check_failed") from None
    finally:
        jira.close()
    answer = bool(granted.get(ADMIN_PERMISSION))
    try:
        cache.set(key, answer, ttl=ADMIN_CACHE_SECONDS)
    except StorageError:
        log.warning("could not cache the administrator check")
    return answer


def require_admin(services: Services, caller: UiCaller) -> None:
    """ForbiddenError unless the caller is a Jira administrator (UI conditions only hide things)."""
    if not is_jira_admin(services, caller):
        raise ForbiddenError("Only Jira administrators can see and change the AI assistant's settings.",
                             code="not_admin")
