"""The semantic response cache: reuse an answer to a differently worded but equivalent request.

Scope: one site and one read-only intent (email, comment, summary), and within it the same model
and prompt version. Actions are refused outright (:class:`BadRequestError`), so a caller bug can
never cache or replay one. A candidate must score at least ``threshold`` (cosine similarity of the
request embeddings) *and* pass the guard (:func:`~connect_app.cache.guard.same_request`: same issue
and issue content, recipient, tone, language, polarity, numbers, names and qualifiers).

Storage: each entry is one key in the shared ``cache`` store, ``sem:{site}:{intent}:{seq}``, where
``seq`` comes from an atomic counter, and carries its embedding, so every process sees every
entry without embedding it again. Each process keeps an in-memory :class:`VectorIndex` per site and
intent that catches up with new sequence numbers on each lookup (a full prefix scan when far
behind) and drops expired rows. Before a hit is served the entry is read back from the store, so
an evicted or replaced entry is never served from memory.

Like the exact cache it records no events and never breaks a reply: embedding or storage failures
are logged and read as a miss. Embeddings are made on behalf of the site being served, so a metered
provider embedder charges that site's budget; when the budget refuses, the lookup is skipped.
"""

from __future__ import annotations

import base64
import binascii
import logging
import struct
import sys
import threading
import time
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadRequestError, BudgetExceededError, ConfigError, StorageError
from ..models import READ_ONLY_INTENTS, CacheHint, Completion, Intent
from ..storage.base import KeyValueStore
from .embedders import Embedder, embed_for_site
from .exact import CachedAnswer, require, site_tag
from .guard import Guard, same_request
from .index import VectorIndex

log = logging.getLogger(__name__)

ENTRY_VERSION = 1
DEFAULT_TOP_K = 16  # candidates above the threshold checked by the guard, best first
FULL_SCAN_GAP = 2_000  # further behind than this, reload the shard with one prefix scan
PENDING_WINDOW = 64  # recent sequence numbers that may still be being written
PENDING_GRACE_SECONDS = 5.0
SWEEP_SECONDS = 60.0
VECTOR_MEMO_SIZE = 256
#: Longer requests are not cached semantically: they rarely repeat, embedders truncate them and the
#: guard should not have to vouch for a pasted log.
MAX_REQUEST_CHARS = 1_000


@dataclass(frozen=True)
class _Row:
    seq: int
    key: str
    entry_id: str
    model: str
    hint: CacheHint
    expires_at: float


@dataclass
class _Shard:
    """One site + intent: its index and how far it has caught up with the store."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    index: VectorIndex[_Row] | None = None
    synced: int = 0
    known: set[int] = field(default_factory=set)
    pending: dict[int, float] = field(default_factory=dict)
    last_sweep: float = 0.0

    def reset(self) -> None:
        self.index, self.synced, self.known, self.pending = None, 0, set(), {}


@dataclass
class SemanticLookup:
    """The outcome of a lookup with the reasons candidates were turned down (for tests and benches)."""

    answer: CachedAnswer | None
    best_score: float | None = None
    candidates: int = 0
    rejected: list[tuple[float, str]] = field(default_factory=list)


def encode_vector(vector: list[float]) -> str:
    """A vector as base64 of little-endian float32 (compact and JSON-safe)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def decode_vector(blob: str, dim: int) -> array[float]:
    """Inverse of :func:`encode_vector` as a float32 array; ValueError when the size is not ``dim``."""
    raw = base64.b64decode(blob, validate=True)
    if len(raw) != 4 * dim:
        raise ValueError(f"vector of {len(raw)} bytes, expected {4 * dim}")
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


class SemanticCache:
    """Guarded similarity cache of read-only answers, per site and intent, shared through the store."""

    def __init__(
        self,
        store: KeyValueStore,
        embedder: Embedder,
        *,
        threshold: float,
        ttl_seconds: int,
        guard: Guard = same_request,
        top_k: int = DEFAULT_TOP_K,
        index_backend: str = "auto",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``threshold`` in (0, 1]; entries live ``ttl_seconds`` (at least 1).

        ``guard`` is replaceable only so benchmarks can measure the threshold alone.
        """
        if not 0 < threshold <= 1:
            raise ConfigError(f"SEMANTIC_THRESHOLD must be above 0 and at most 1, got {threshold}")
        if ttl_seconds < 1:
            raise ConfigError(f"CACHE_TTL_SECONDS must be at least 1, got {ttl_seconds}")
        self.store = store
        self.embedder = embedder
        self.threshold = float(threshold)
        self.ttl_seconds = int(ttl_seconds)
        self.top_k = max(1, int(top_k))
        self._guard = guard
        self._index_backend = index_backend
        self._clock = clock
        self._shards: dict[tuple[str, str], _Shard] = {}
        self._shards_lock = threading.Lock()
        self._memo: OrderedDict[str, list[float]] = OrderedDict()
        self._memo_lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    @staticmethod
    def accepts(intent: str | Intent) -> bool:
        """True for the read-only intents this cache may hold (email, comment, summary)."""
        try:
            return Intent(intent) in READ_ONLY_INTENTS
        except ValueError:
            return False

    def lookup(self, tenant_id: str, intent: str, model: str, hint: CacheHint) -> CachedAnswer | None:
        """A guarded answer for ``hint``, or None. Raises BadRequestError for an action intent."""
        return self.explain(tenant_id, intent, model, hint).answer

    def explain(self, tenant_id: str, intent: str, model: str, hint: CacheHint) -> SemanticLookup:
        """Like :meth:`lookup`, with the best score and why candidates were rejected."""
        intent = self._check(tenant_id, intent, model)
        vector = self._vector(tenant_id, hint.request)
        if vector is None:
            return SemanticLookup(None)
        shard = self._shard(tenant_id, intent)
        now = self._clock()
        with shard.lock:
            self._sync(shard, tenant_id, intent, now)
            if shard.index is None or shard.index.dim != len(vector):
                return SemanticLookup(None)
            candidates = shard.index.search(vector, k=self.top_k, min_score=self.threshold)
            result = SemanticLookup(None, candidates[0][0] if candidates else None, len(candidates))
            for score, row in candidates:
                reason = self._reject(row, model, hint, now)
                if reason:
                    result.rejected.append((score, reason))
                    continue
                answer = self._read_back(shard, row, score)
                if answer is None:
                    result.rejected.append((score, "gone"))
                    continue
                result.answer = answer
                break
        return result

    def put(self, tenant_id: str, intent: str, model: str, hint: CacheHint, completion: Completion) -> bool:
        """Remember ``completion`` for ``hint``; False when skipped or not stored.

        Skipped: an empty or already-cached answer, a request that cannot be embedded, or the same
        hint already stored for this model. Raises BadRequestError for an action intent.
        """
        intent = self._check(tenant_id, intent, model)
        if completion.cached or not (completion.text or "").strip() or not hint.request.strip():
            return False
        vector = self._vector(tenant_id, hint.request)
        if vector is None:
            return False
        shard = self._shard(tenant_id, intent)
        now = self._clock()
        tag = site_tag(tenant_id)
        with shard.lock:
            self._sync(shard, tenant_id, intent, now)
            if self._already_stored(shard, vector, model, hint, now):
                return False
            try:
                seq = self.store.incr(self._seq_key(tag, intent))
                key = self._entry_key(tag, intent, seq)
                entry = {
                    "v": ENTRY_VERSION, "id": uuid.uuid4().hex, "seq": seq, "tenant": tenant_id,
                    "intent": intent, "model": model, "hint": asdict(hint), "embedder": self.embedder.name,
                    "dim": len(vector), "vec": encode_vector(vector), "text": completion.text,
                    "answer_model": completion.model or model,
                    "cost_micros": max(0, int(completion.cost_micros)),
                    "created_at": now, "expires_at": now + self.ttl_seconds,
                }
                self.store.set(key, entry, ttl=self.ttl_seconds)
            except StorageError as exc:
                log.warning("semantic cache write failed, answer not cached: %s", exc.code)
                return False
            self._add(shard, entry, key, now)
        return True

    def clear_site(self, tenant_id: str) -> int:
        """Forget every semantic entry of a site (for an uninstall); returns how many were removed."""
        tag = site_tag(require("tenant id", tenant_id))
        keys = [key for key, _ in self.store.scan(f"sem:{tag}:")]
        removed = sum(1 for key in keys if self.store.delete(key))
        with self._shards_lock:
            for (shard_tenant, _), shard in self._shards.items():
                if shard_tenant == tenant_id:
                    with shard.lock:
                        shard.index = None
                        shard.known.clear()
        return removed

    def size(self, tenant_id: str, intent: str) -> int:
        """How many live entries this process's index holds for a site and intent."""
        shard = self._shards.get((tenant_id, str(Intent(intent).value)))
        return len(shard.index) if shard is not None and shard.index is not None else 0

    # ------------------------------------------------------------------ checks
    def _check(self, tenant_id: str, intent: str, model: str) -> str:
        require("tenant id", tenant_id)
        require("model", model)
        if not self.accepts(intent):
            raise BadRequestError(
                f"intent {intent!r} may not use the semantic cache (read-only intents only)",
                code="cache_intent_refused",
            )
        return Intent(intent).value

    def _reject(self, row: _Row, model: str, hint: CacheHint, now: float) -> str | None:
        if row.expires_at <= now:
            return "expired"
        if row.model != model:
            return "other_model"
        ok, reason = self._guard(row.hint, hint)
        return None if ok else reason

    # ------------------------------------------------------------------ embeddings
    def _vector(self, tenant_id: str, text: str) -> list[float] | None:
        """The request's embedding (memoised), charged to ``tenant_id`` if the embedder bills; None: skip."""
        text = " ".join((text or "").split())
        if not text or len(text) > MAX_REQUEST_CHARS:
            return None
        memo_key = f"{self.embedder.name}\n{text}"
        with self._memo_lock:
            if memo_key in self._memo:
                self._memo.move_to_end(memo_key)
                return self._memo[memo_key]
        try:
            vector = [float(x) for x in embed_for_site(self.embedder, tenant_id, [text])[0]]
        except BudgetExceededError:
            log.info("semantic cache skipped: the site's daily budget cannot cover the embedding")
            return None
        except Exception as exc:  # a pluggable dependency: a failure is a miss, never a failed reply
            log.warning("semantic cache embedding failed (%s), treated as a miss", type(exc).__name__)
            return None
        if not any(vector):
            return None
        with self._memo_lock:
            self._memo[memo_key] = vector
            while len(self._memo) > VECTOR_MEMO_SIZE:
                self._memo.popitem(last=False)
        return vector

    # ------------------------------------------------------------------ shards and syncing
    @staticmethod
    def _seq_key(tag: str, intent: str) -> str:
        return f"semseq:{tag}:{intent}"

    @staticmethod
    def _entry_key(tag: str, intent: str, seq: int) -> str:
        return f"sem:{tag}:{intent}:{seq}"

    def _shard(self, tenant_id: str, intent: str) -> _Shard:
        with self._shards_lock:
            shard = self._shards.get((tenant_id, intent))
            if shard is None:
                shard = self._shards[(tenant_id, intent)] = _Shard()
            return shard

    def _sync(self, shard: _Shard, tenant_id: str, intent: str, now: float) -> None:
        """Catch up with entries other processes stored since the last sync (lock held)."""
        tag = site_tag(tenant_id)
        try:
            current = int(self.store.get(self._seq_key(tag, intent)) or 0)
            if current < shard.synced:  # the counter was evicted and restarted: rebuild
                shard.reset()
            if current - shard.synced > FULL_SCAN_GAP:
                for key, entry in list(self.store.scan(f"sem:{tag}:{intent}:")):
                    self._add(shard, entry, key, now, tenant_id=tenant_id, intent=intent)
            else:
                wanted = sorted(set(shard.pending) | set(range(shard.synced + 1, current + 1)))
                for seq in wanted:
                    if seq in shard.known:
                        shard.pending.pop(seq, None)
                        continue
                    key = self._entry_key(tag, intent, seq)
                    if self._add(shard, self.store.get(key), key, now, tenant_id=tenant_id, intent=intent):
                        shard.pending.pop(seq, None)
                    elif seq in shard.pending:
                        if now - shard.pending[seq] > PENDING_GRACE_SECONDS:
                            del shard.pending[seq]
                    elif current - seq < PENDING_WINDOW:
                        shard.pending[seq] = now  # perhaps still being written by another process
            shard.synced = max(shard.synced, current)
        except StorageError as exc:
            log.warning("semantic cache sync failed: %s", exc.code)
        if shard.index is not None and now - shard.last_sweep >= SWEEP_SECONDS:
            shard.last_sweep = now
            shard.index.remove_if(lambda row: row.expires_at <= now)
            shard.known = {row.seq for row in shard.index.payloads()} | set(shard.pending)

    def _add(
        self, shard: _Shard, entry: Any, key: str, now: float, *, tenant_id: str | None = None,
        intent: str | None = None,
    ) -> bool:
        """Index a stored entry when it is valid, live, ours and new (lock held). True when usable."""
        if not isinstance(entry, dict) or entry.get("v") != ENTRY_VERSION:
            return False
        if tenant_id is not None and (entry.get("tenant"), entry.get("intent")) != (tenant_id, intent):
            return False
        if entry.get("embedder") != self.embedder.name:
            return False
        try:
            seq = int(entry["seq"])
            if seq in shard.known:
                return True
            expires_at = float(entry["expires_at"])
            if expires_at <= now:
                return False
            dim = int(entry["dim"])
            vector = decode_vector(entry["vec"], dim)
            hint = CacheHint(**entry["hint"])
            row = _Row(seq, key, str(entry["id"]), str(entry["model"]), hint, expires_at)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            log.warning("semantic cache entry %s is unreadable: %s", key, type(exc).__name__)
            return False
        if shard.index is None:
            shard.index = VectorIndex(dim, backend=self._index_backend)
        if shard.index.dim != dim:
            return False
        shard.index.add(vector, row)
        shard.known.add(seq)
        return True

    def _already_stored(
        self, shard: _Shard, vector: list[float], model: str, hint: CacheHint, now: float
    ) -> bool:
        if shard.index is None or shard.index.dim != len(vector):
            return False
        for _, row in shard.index.search(vector, k=4, min_score=0.9999):
            if row.model == model and row.hint == hint and row.expires_at > now:
                return True
        return False

    def _read_back(self, shard: _Shard, row: _Row, score: float) -> CachedAnswer | None:
        """The stored entry behind ``row`` when it is still there and unchanged (lock held)."""
        try:
            entry = self.store.get(row.key)
        except StorageError as exc:
            log.warning("semantic cache read failed, treated as a miss: %s", exc.code)
            return None
        if not isinstance(entry, dict) or entry.get("id") != row.entry_id:
            shard.index.remove_if(lambda r: r.seq == row.seq)  # type: ignore[union-attr]
            shard.known.discard(row.seq)
            return None
        try:
            return CachedAnswer(
                text=str(entry["text"]), model=str(entry["answer_model"]),
                cost_micros=int(entry["cost_micros"]), created_at=float(entry["created_at"]),
                layer="semantic", similarity=round(score, 4),
            )
        except (KeyError, TypeError, ValueError):
            return None
