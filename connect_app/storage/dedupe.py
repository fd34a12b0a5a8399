"""Dedupe keys: the first caller to claim a key wins; retries and replays lose."""

from __future__ import annotations

import time

from .base import KeyValueStore

DEFAULT_TTL = 7 * 24 * 3600
CLAIM_TTL = 120  # a claim whose job never reached the journal frees itself, so the platform's retry gets in


class DedupeRepo:
    """Claims delivery keys atomically in a durable store."""

    def __init__(self, store: KeyValueStore, ttl: float = DEFAULT_TTL) -> None:
        """Keys live ``ttl`` seconds (longer than any redelivery window)."""
        self._store = store
        self._ttl = ttl

    def claim(self, key: str) -> bool:
        """True if this call is the first to claim ``key``.

        The claim is provisional (``CLAIM_TTL``) until :meth:`confirm`: if the process dies between the
        claim and the durable enqueue, the platform's next retry is accepted instead of being lost.
        """
        return self._store.add("dedupe:" + key, {"at": time.time()}, ttl=min(CLAIM_TTL, self._ttl))

    def confirm(self, key: str) -> None:
        """The event is durably handled: keep the claim for the full lifetime (longer than any retry)."""
        self._store.set("dedupe:" + key, {"at": time.time(), "confirmed": True}, ttl=self._ttl)

    def release(self, key: str) -> None:
        """Give a claim back (the enqueue failed, so a redelivery must be accepted)."""
        self._store.delete("dedupe:" + key)

    def seen(self, key: str) -> bool:
        """True if ``key`` was claimed."""
        return self._store.get("dedupe:" + key) is not None
