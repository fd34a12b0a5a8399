"""Forge sites: the tenant record a verified invocation creates or refreshes.

Sites are keyed by ``app.installationId`` (a reinstall is a new installation, so a new site). Every
call that carries an app system token refreshes the stored token (sealed at rest by the tenant
repository) and its expiry when the new one lasts longer (deliveries can arrive out of order).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import AuthError, ForbiddenError, TokenExpiredError
from ...models import Tenant
from .fit import ForgeInvocation, token_expiry

if TYPE_CHECKING:
    from ...storage.tenants import TenantRepo

log = logging.getLogger(__name__)

FORGE_DOOR = "forge"
TOKEN_MARGIN_SECONDS = 60.0  # a token this close to its expiry is not used for a new call
# A new token replaces the stored one when it lasts this much longer (or the stored one has expired):
# screens poll every second with a fresh token each time, and the record need not be rewritten each time.
TOKEN_MIN_GAIN_SECONDS = 60.0


def merge_site(
    existing: Tenant | None,
    invocation: ForgeInvocation,
    *,
    system_token: str | None,
    now: float,
    app_key: str | None = None,
) -> tuple[Tenant, bool]:
    """The site record after ``invocation``, and whether it differs from ``existing``.

    ``base_url`` is the site's own URL when the token's context names it, else the one already
    stored, else ``apiBaseUrl``. A record of another door with the same id is never taken over.
    """
    if existing is not None and existing.door != FORGE_DOOR:
        raise ForbiddenError("this installation id belongs to a site installed through another door")
    site_url = invocation.site_url
    if existing is None:
        tenant = Tenant(
            tenant_id=invocation.installation_id, door=FORGE_DOOR,
            base_url=site_url or invocation.api_base_url, app_key=app_key,
            cloud_id=invocation.cloud_id, api_base_url=invocation.api_base_url,
        )
        changed = True
    else:
        tenant = dataclasses.replace(existing)
        keep_url = existing.base_url and existing.base_url != existing.api_base_url
        tenant.base_url = site_url or (existing.base_url if keep_url else invocation.api_base_url)
        tenant.api_base_url = invocation.api_base_url
        tenant.cloud_id = invocation.cloud_id or existing.cloud_id
        changed = (tenant.base_url, tenant.api_base_url, tenant.cloud_id) != (
            existing.base_url, existing.api_base_url, existing.cloud_id
        )
    if system_token:
        expires_at = token_expiry(system_token, now=now)
        stored = tenant.system_token_expires_at or 0.0
        better = expires_at > stored + TOKEN_MIN_GAIN_SECONDS or stored <= now < expires_at
        if tenant.system_token != system_token and (not tenant.system_token or better):
            tenant.system_token = system_token
            tenant.system_token_expires_at = expires_at
            changed = True
    return tenant, changed


def record_site(
    tenants: TenantRepo,
    invocation: ForgeInvocation,
    *,
    system_token: str | None,
    app_key: str | None = None,
    now: float | None = None,
) -> tuple[Tenant, bool]:
    """Create or refresh the site for ``invocation``; returns it and whether it was new.

    Writes only when something changed, so a burst of events costs one read each.
    """
    existing = tenants.get(invocation.installation_id)
    tenant, changed = merge_site(
        existing, invocation, system_token=system_token, now=time.time() if now is None else now,
        app_key=app_key,
    )
    if changed:
        tenant = tenants.save(tenant)
        if existing is None:
            log.info("forge site created (module %s)", invocation.module_key)
    return tenant, existing is None


def system_token_provider(
    tenant: Tenant,
    tenants: TenantRepo | None = None,
    *,
    margin: float = TOKEN_MARGIN_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Callable[[], str]:
    """A callable returning the site's current system token, read afresh from ``tenants`` each call.

    A job that runs for a while picks up the token a newer delivery stored. Raises
    :class:`TokenExpiredError` when there is no token or it expires within ``margin`` seconds.
    Without ``tenants`` the token held by ``tenant`` is used.
    """
    tenant_id = tenant.tenant_id

    def current() -> str:
        record = tenants.get(tenant_id) if tenants is not None else tenant
        token = record.system_token if record is not None else None
        expires_at = (record.system_token_expires_at if record is not None else None) or 0.0
        if not token:
            raise TokenExpiredError("this Forge site has not sent an app system token yet; waiting for the "
                                    "next event or the hourly refresh")
        if expires_at - margin <= clock():
            raise TokenExpiredError("this Forge site's app system token has expired; waiting for the next "
                                    "event or the hourly refresh to bring a fresh one")
        return token

    return current


def user_token_provider(
    token: str, *, margin: float = 5.0, clock: Callable[[], float] = time.time
) -> Callable[[], str]:
    """A callable returning the user token (``x-forge-oauth-user``) of the call being served.

    The token acts as the user who opened the screen; it is used on that request's thread only and
    never stored. Raises :class:`AuthError` (the screen reloads and Forge sends a fresh one) when
    it expires within ``margin`` seconds, by its ``exp`` claim.
    """
    expires_at = token_expiry(token, now=clock())

    def current() -> str:
        if expires_at - margin <= clock():
            raise AuthError("the Forge user token (x-forge-oauth-user) has expired; reload the page",
                            code="user_token_expired")
        return token

    current()  # fail before any call when it has already expired
    return current
