"""The exact response cache: the same request, on the same issue content, for the same site and model.

The generator's cache key already contains the intent, prompt version, normalised request, tone,
language and a hash of the issue content, so an edited issue gets a new key and never a stale
answer. This class scopes that key by site and model and keeps entries in the evicting ``cache``
store with a time-to-live; the store's size limit bounds it. It records no events: the model
manager does (ledger, metrics).

A cache must never break a reply: storage failures are logged and read as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequestError, ConfigError, StorageError
from ..models import Completion, Usage
from ..storage.base import KeyValueStore

log = logging.getLogger(__name__)

ENTRY_VERSION = 1
LAYERS = ("exact", "semantic")


@dataclass(frozen=True)
class CachedAnswer:
    """A reusable answer. ``cost_micros`` is what the original call cost: the saving of this hit."""

    text: str
    model: str
    cost_micros: int
    created_at: float
    layer: str  # "exact" | "semantic"
    similarity: float | None = None  # semantic hits only

    def to_completion(self) -> Completion:
        """The answer as a :class:`Completion` that cost nothing (``cached=True``)."""
        return Completion(
            text=self.text, model=self.model, provider=f"cache:{self.layer}", usage=Usage(),
            latency_ms=0.0, cost_micros=0, cached=True, finish_reason="cached",
        )


def site_tag(tenant_id: str) -> str:
    """A short, fixed-length tag for a site in cache keys (site ids may contain ':' and '/')."""
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:16]


def require(name: str, value: str) -> str:
    """``value`` when it is a non-empty string, else BadRequestError naming ``name``."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"a cache {name} must be a non-empty string, got {value!r}")
    return value


class ExactCache:
    """Answers keyed by site + model + the generator's cache key, in the evicting ``cache`` store."""

    def __init__(
        self, store: KeyValueStore, *, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        """Entries live ``ttl_seconds`` (at least 1) in ``store``."""
        if ttl_seconds < 1:
            raise ConfigError(f"CACHE_TTL_SECONDS must be at least 1, got {ttl_seconds}")
        self.store = store
        self.ttl_seconds = int(ttl_seconds)
        self._clock = clock

    @staticmethod
    def key(tenant_id: str, model: str, cache_key: str) -> str:
        """The store key of an entry: ``exact:{site tag}:{digest of model and cache key}``."""
        digest = hashlib.sha256(json.dumps([model, cache_key]).encode()).hexdigest()[:40]
        return f"exact:{site_tag(tenant_id)}:{digest}"

    def get(self, tenant_id: str, model: str, cache_key: str) -> CachedAnswer | None:
        """The cached answer, or None (missing, expired, evicted, unreadable or storage down)."""
        key = self.key(require("tenant id", tenant_id), require("model", model), require("key", cache_key))
        try:
            entry = self.store.get(key)
        except StorageError as exc:
            log.warning("exact cache read failed, treated as a miss: %s", exc.code)
            return None
        answer = self._answer(entry, tenant_id, model, cache_key)
        if entry is not None and answer is None:
            self._forget(key)
        return answer

    def put(self, tenant_id: str, model: str, cache_key: str, completion: Completion) -> bool:
        """Remember ``completion``; False when skipped (empty, itself a cached answer) or not stored."""
        key = self.key(require("tenant id", tenant_id), require("model", model), require("key", cache_key))
        if completion.cached or not (completion.text or "").strip():
            return False
        entry = {
            "v": ENTRY_VERSION, "tenant": tenant_id, "model": model, "key": cache_key,
            "text": completion.text, "answer_model": completion.model or model,
            "cost_micros": max(0, int(completion.cost_micros)), "created_at": self._clock(),
        }
        try:
            self.store.set(key, entry, ttl=self.ttl_seconds)
        except StorageError as exc:
            log.warning("exact cache write failed, answer not cached: %s", exc.code)
            return False
        return True

    def delete(self, tenant_id: str, model: str, cache_key: str) -> bool:
        """Forget one entry; True if it existed."""
        return self._forget(self.key(tenant_id, model, cache_key))

    def clear_site(self, tenant_id: str) -> int:
        """Forget every entry of a site (for an uninstall); returns how many were removed."""
        prefix = f"exact:{site_tag(require('tenant id', tenant_id))}:"
        keys = [key for key, _ in self.store.scan(prefix)]
        return sum(1 for key in keys if self.store.delete(key))

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _answer(entry: Any, tenant_id: str, model: str, cache_key: str) -> CachedAnswer | None:
        if not isinstance(entry, dict) or entry.get("v") != ENTRY_VERSION:
            return None
        if (entry.get("tenant"), entry.get("model"), entry.get("key")) != (tenant_id, model, cache_key):
            return None  # a digest collision or a foreign entry: never serve it
        try:
            return CachedAnswer(
                text=str(entry["text"]), model=str(entry["answer_model"]),
                cost_micros=int(entry["cost_micros"]), created_at=float(entry["created_at"]), layer="exact",
            )
        except (KeyError, TypeError, ValueError):
            return None

    def _forget(self, key: str) -> bool:
        try:
            return self.store.delete(key)
        except StorageError as exc:
            log.warning("exact cache delete failed: %s", exc.code)
            return False
