"""The tenant repository: one record per installed site, secrets encrypted at rest."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from ..models import Tenant
from .base import KeyValueStore
from .crypto import SecretBox

_PREFIX = "tenant:"
_SECRET_FIELDS = ("shared_secret", "system_token")


class TenantRepo:
    """Stores :class:`~connect_app.models.Tenant` records in a durable key-value store."""

    def __init__(self, store: KeyValueStore, box: SecretBox) -> None:
        """``store`` must be durable (never evicting); ``box`` seals the secrets."""
        self._store = store
        self._box = box

    def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with this id (Connect clientKey or Forge installationId), or None."""
        raw = self._store.get(_PREFIX + tenant_id)
        return self._decode(raw) if raw else None

    def save(self, tenant: Tenant) -> Tenant:
        """Insert or replace ``tenant``; ``installed_at`` is kept from an existing record."""
        now = time.time()
        existing = self._store.get(_PREFIX + tenant.tenant_id)
        if not tenant.installed_at:
            tenant.installed_at = (existing or {}).get("installed_at") or now
        tenant.updated_at = now
        self._store.set(_PREFIX + tenant.tenant_id, self._encode(tenant))
        return tenant

    def set_enabled(self, tenant_id: str, enabled: bool) -> Tenant | None:
        """Flip the enabled flag; returns the updated tenant or None when unknown."""
        tenant = self.get(tenant_id)
        if tenant is None:
            return None
        tenant.enabled = enabled
        return self.save(tenant)

    def delete(self, tenant_id: str) -> bool:
        """Forget a tenant (uninstall)."""
        return self._store.delete(_PREFIX + tenant_id)

    def all(self) -> Iterator[Tenant]:
        """Every stored tenant."""
        for _key, raw in self._store.scan(_PREFIX):
            yield self._decode(raw)

    def raw(self, tenant_id: str) -> dict[str, Any] | None:
        """The record exactly as stored (secrets sealed); for tests and diagnostics."""
        return self._store.get(_PREFIX + tenant_id)

    def _encode(self, tenant: Tenant) -> dict[str, Any]:
        data = dataclasses.asdict(tenant)
        for name in _SECRET_FIELDS:
            if data.get(name):
                data[name] = {"sealed": self._box.seal(data[name])}
        return data

    def _decode(self, data: dict[str, Any]) -> Tenant:
        data = dict(data)
        for name in _SECRET_FIELDS:
            value = data.get(name)
            if isinstance(value, dict) and "sealed" in value:
                data[name] = self._box.open(value["sealed"])
        names = {f.name for f in dataclasses.fields(Tenant)}
        return Tenant(**{k: v for k, v in data.items() if k in names})
