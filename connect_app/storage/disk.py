"""The diskcache backend of the key-value contract (the default: one directory under DATA_DIR).

Two flavours: a durable store (``eviction_policy='none'``: tenants, ledger, settings, dedupe keys)
and an evicting one with a size bound (response caches). Atomicity across processes comes from
SQLite transactions, which diskcache exposes as ``transact()``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import diskcache

from ..errors import StorageError

PING_TTL_SECONDS = 60.0


class DiskStore:
    """:class:`~connect_app.storage.base.KeyValueStore` on a diskcache directory."""

    def __init__(self, directory: str | Path, *, evicting: bool = False, size_limit_mb: int = 256) -> None:
        """Open (creating if needed) the store at ``directory``.

        ``evicting`` stores may drop least-recently-used entries past ``size_limit_mb``; durable
        stores never evict.
        """
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if evicting:
                self._cache = diskcache.Cache(
                    str(self.directory),
                    eviction_policy="least-recently-stored",
                    size_limit=size_limit_mb * 1024 * 1024,
                    timeout=30,
                )
            else:
                self._cache = diskcache.Cache(str(self.directory), eviction_policy="none", timeout=30)
        except (OSError, diskcache.Timeout) as exc:
            raise StorageError(f"cannot open store at {self.directory}: {exc}") from exc
        self.evicting = evicting

    def get(self, key: str, default: Any = None) -> Any:
        """See the contract."""
        return self._guard(self._cache.get, key, default)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """See the contract."""
        self._guard(self._cache.set, key, value, expire=ttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """See the contract."""
        return bool(self._guard(self._cache.add, key, value, expire=ttl))

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        """See the contract."""

        def run() -> int:
            with self._cache.transact():
                current = self._cache.get(key)
                if current is None:
                    self._cache.set(key, int(delta), expire=ttl)
                    return int(delta)
                return int(self._cache.incr(key, delta))

        return self._guard(run)

    def incr_if_within(self, key: str, delta: int, limit: int, ttl: float | None = None) -> tuple[bool, int]:
        """See the contract."""

        def run() -> tuple[bool, int]:
            with self._cache.transact():
                current = self._cache.get(key)
                value = int(current or 0)
                if value + delta > limit:
                    return False, value
                if current is None:
                    self._cache.set(key, value + delta, expire=ttl)
                else:
                    self._cache.incr(key, delta)
                return True, value + delta

        return self._guard(run)

    def delete(self, key: str) -> bool:
        """See the contract."""
        return bool(self._guard(self._cache.delete, key))

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """See the contract."""
        keys = [k for k in self._guard(lambda: list(self._cache.iterkeys())) if isinstance(k, str)]
        for key in keys:
            if key.startswith(prefix):
                value = self._cache.get(key)
                if value is not None:
                    yield key, value

    def ping(self) -> bool:
        """See the contract. It writes: a full or read-only disk still answers reads but loses work."""
        self._guard(self._cache.set, "__ping__", time.time(), expire=PING_TTL_SECONDS)
        return True

    def close(self) -> None:
        """See the contract."""
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)

    @staticmethod
    def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (OSError, diskcache.Timeout) as exc:
            raise StorageError(f"storage failed: {exc}") from exc
        except Exception as exc:  # sqlite3 errors surface as their own types
            if exc.__class__.__module__.startswith("sqlite3"):
                raise StorageError(f"storage failed: {exc}") from exc
            raise
