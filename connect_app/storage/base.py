"""The one key-value contract every store implements (diskcache now, Redis later).

Values are JSON-compatible Python objects (dict, list, str, int, float, bool, None). Integers
written by :meth:`KeyValueStore.incr` stay integers. Every method is safe to call from many threads
and many processes at once; ``add``, ``incr`` and ``incr_if_within`` are atomic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class KeyValueStore(Protocol):
    """A small key-value contract with expiry and atomic counters."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default`` when missing or expired."""

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` at ``key``; it expires after ``ttl`` seconds when given."""

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent. True when this call stored it (atomic)."""

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        """Atomically add ``delta`` to the integer at ``key`` (0 when absent); return the new value.

        ``ttl`` applies only when the key is created by this call.
        """

    def incr_if_within(self, key: str, delta: int, limit: int, ttl: float | None = None) -> tuple[bool, int]:
        """Atomically add ``delta`` only if the result stays ``<= limit``.

        Returns ``(applied, value)``: the new value when applied, else the unchanged current value.
        """

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """Every live ``(key, value)`` whose key starts with ``prefix`` (no order promised)."""

    def ping(self) -> bool:
        """True when the backend answers; raises :class:`StorageError` otherwise."""

    def close(self) -> None:
        """Release the backend's resources."""
