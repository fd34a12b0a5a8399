"""Opens the stores the settings ask for. Backends are imported only when configured."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings
from .base import KeyValueStore
from .crypto import SecretBox
from .dedupe import DedupeRepo
from .tenants import TenantRepo


@dataclass
class Stores:
    """The process's stores: ``durable`` never evicts, ``cache`` may."""

    durable: KeyValueStore
    cache: KeyValueStore
    tenants: TenantRepo
    dedupe: DedupeRepo

    def close(self) -> None:
        """Close both backends."""
        self.durable.close()
        self.cache.close()


def open_stores(settings: Settings) -> Stores:
    """Open the durable and cache stores for ``settings`` (diskcache under DATA_DIR, or Redis)."""
    if settings.redis_url:
        from .redis_store import RedisStore

        durable: KeyValueStore = RedisStore(settings.redis_url, namespace="durable")
        cache: KeyValueStore = RedisStore(
            settings.redis_url, namespace="cache", evicting=True, size_limit_mb=settings.cache_size_limit_mb
        )
    else:
        from .disk import DiskStore

        durable = DiskStore(settings.data_dir / "store")
        cache = DiskStore(
            settings.data_dir / "cache", evicting=True, size_limit_mb=settings.cache_size_limit_mb
        )
    box = SecretBox(settings.secret_key_or_dev)
    return Stores(durable=durable, cache=cache, tenants=TenantRepo(durable, box), dedupe=DedupeRepo(durable))
