"""Cache benchmarks: exact-cache latency, semantic index and lookup latency, guarded hit rates, savings.

Each ``bench_*`` function returns a flat dict of numbers (the lead's ``make bench`` runner calls
them); ``load_pairs`` and ``load_mix`` are the data loaders; ``cache_savings`` replays the mix
through the caches with a price per call. Run everything and print a table with
``python -m bench.cache_bench`` (``--quick`` for a smaller run). Everything runs offline on
temporary diskcache directories; the local model is used only when the embeddings extra is
installed, the provider embedder never (it would need the network and a key).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from connect_app.cache.embedders import Embedder, HashingEmbedder, LocalEmbedder
from connect_app.cache.exact import ExactCache, site_tag
from connect_app.cache.guard import same_request
from connect_app.cache.index import VectorIndex, numpy_module
from connect_app.cache.semantic import ENTRY_VERSION, SemanticCache
from connect_app.models import CacheHint, Completion, Intent, Usage
from connect_app.pipeline import prompts
from connect_app.pipeline.classify import extract_tone
from connect_app.pipeline.generators.base import resolve_tone
from connect_app.pipeline.generators.email_format import guess_recipient
from connect_app.pipeline.language import detect_language
from connect_app.storage.disk import DiskStore

PAIRS_FILE = Path(__file__).resolve().parents[1] / "tests" / "cache" / "data" / "semantic_pairs.jsonl"
MODEL = "gpt-4o-mini"
DEFAULT_ISSUE = "SUP-42"
DEFAULT_CONTENT = "content-0001"
# gpt-4o-mini list prices (USD per million tokens) when the price table is not importable.
FALLBACK_INPUT_PER_M, FALLBACK_OUTPUT_PER_M = 0.15, 0.60


# ------------------------------------------------------------------------------------- helpers
def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p99 and mean of latency samples in milliseconds."""
    ordered = sorted(samples_ms)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "mean_ms": 0.0}
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered), "p99_ms": p99, "mean_ms": statistics.fmean(ordered)}


@contextlib.contextmanager
def temp_store() -> Iterator[DiskStore]:
    """An evicting diskcache store in a temporary directory, closed and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cache-bench-") as directory:
        store = DiskStore(directory, evicting=True, size_limit_mb=1024)
        try:
            yield store
        finally:
            store.close()


def hint_for(intent: str, text: str, **overrides: Any) -> CacheHint:
    """The hint production would build for ``text`` (tone, language and recipient from its words)."""
    kind = Intent(intent)
    fields: dict[str, Any] = {
        "request": " ".join(text.split()),
        "issue_key": DEFAULT_ISSUE,
        "content_hash": DEFAULT_CONTENT,
        "prompt_version": prompts.PROMPT_VERSIONS[kind],
        "tone": resolve_tone(kind, extract_tone(text), None),
        "language": detect_language(text),
        "recipient": guess_recipient(text),
    }
    fields.update(overrides)
    return CacheHint(**fields)


# ------------------------------------------------------------------------------ labelled pairs
@dataclass(frozen=True)
class LabelledPair:
    """Two requests and whether the second may reuse the first one's answer."""

    id: str
    category: str
    intent: str
    should_hit: bool
    a: CacheHint
    b: CacheHint
    split: str = "tuning"  # "tuning": seen while writing the guard; "holdout": written after it was frozen


def load_pairs(path: Path = PAIRS_FILE) -> list[LabelledPair]:
    """The labelled pairs, with hints built as production builds them (plus each line's overrides)."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            pairs.append(LabelledPair(
                id=row["id"], category=row["category"], intent=row["intent"],
                should_hit=bool(row["should_hit"]),
                a=hint_for(row["intent"], row["a"], **row.get("a_hint", {})),
                b=hint_for(row["intent"], row["b"], **row.get("b_hint", {})),
                split=row.get("split", "tuning"),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: bad pair ({exc})") from exc
    return pairs


def _accept_all(a: CacheHint, b: CacheHint) -> tuple[bool, str]:
    return True, "threshold only"


class PrecomputedEmbedder:
    """An embedder that serves vectors computed up front in one batch (falls back to the real one).

    Same name and size as the wrapped embedder, so cached entries are interchangeable; it only
    saves the per-text model calls when the same texts are replayed many times.
    """

    def __init__(self, embedder: Embedder, texts: list[str]) -> None:
        self.name, self._inner = embedder.name, embedder
        unique = sorted({" ".join(t.split()) for t in texts})
        self._vectors = dict(zip(unique, embedder.embed(unique), strict=True)) if unique else {}
        self.dim = embedder.dim

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Vectors from the batch, or from the wrapped embedder for texts not seen before."""
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self._inner.embed(missing), strict=True))
        return [self._vectors[t] for t in texts]


def evaluate_pairs(
    embedder: Embedder, pairs: list[LabelledPair], *, threshold: float, guarded: bool = True,
    store: DiskStore | None = None,
) -> dict[str, Any]:
    """Store each pair's first request in a SemanticCache and look up its second; count the outcomes.

    Each pair gets its own site, so pairs never see each other. Returns counts, the hit rate on
    should-hit pairs, wrong hits (a hit on a should-not-hit pair) and the wrong hits per category.
    """
    if not isinstance(embedder, PrecomputedEmbedder):
        embedder = PrecomputedEmbedder(embedder, [p.a.request for p in pairs] + [p.b.request for p in pairs])
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(temp_store())
        cache = SemanticCache(store, embedder, threshold=threshold, ttl_seconds=3600,
                              guard=same_request if guarded else _accept_all)
        hits = wrong = should = 0
        wrong_by_category: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        for number, pair in enumerate(pairs):
            site = f"pair-site-{number}"
            answer = Completion(text=f"answer to {pair.id}", model=MODEL, provider="bench", cost_micros=1000)
            cache.put(site, pair.intent, MODEL, pair.a, answer)
            outcome = cache.explain(site, pair.intent, MODEL, pair.b)
            rejected.update(reason for _, reason in outcome.rejected)
            if pair.should_hit:
                should += 1
                hits += outcome.answer is not None
            elif outcome.answer is not None:
                wrong += 1
                wrong_by_category[pair.category] += 1
    traps = len(pairs) - should
    return {
        "pairs": len(pairs), "should_hit": should, "traps": traps, "hits": hits,
        "hit_rate": hits / should if should else 0.0, "wrong_hits": wrong,
        "wrong_hit_rate": wrong / traps if traps else 0.0,
        "wrong_by_category": dict(wrong_by_category), "rejections": dict(rejected),
    }


def pair_scores(embedder: Embedder, pairs: list[LabelledPair]) -> list[float]:
    """Cosine similarity of each pair's two requests under ``embedder``."""
    texts = sorted({p.a.request for p in pairs} | {p.b.request for p in pairs})
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))

    def cosine(x: list[float], y: list[float]) -> float:
        dot = sum(a * b for a, b in zip(x, y, strict=True))
        nx = sum(a * a for a in x) ** 0.5
        ny = sum(b * b for b in y) ** 0.5
        return dot / (nx * ny) if nx and ny else 0.0

    return [cosine(vectors[p.a.request], vectors[p.b.request]) for p in pairs]


SWEEP_THRESHOLDS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def threshold_sweep(
    embedder: Embedder, pairs: list[LabelledPair], thresholds: tuple[float, ...] = SWEEP_THRESHOLDS
) -> list[dict[str, float]]:
    """Hit rate and wrong hits at each threshold, with and without the guard (scores computed once)."""
    scores = pair_scores(embedder, pairs)
    verdicts = [same_request(p.a, p.b)[0] for p in pairs]
    should = sum(p.should_hit for p in pairs) or 1
    out = []
    for t in thresholds:
        row: dict[str, float] = {"threshold": t}
        for label, use_guard in (("alone", False), ("guarded", True)):
            hit = [s >= t and (v or not use_guard) for s, v in zip(scores, verdicts, strict=True)]
            labelled = list(zip(hit, pairs, strict=True))
            row[f"hit_rate_{label}"] = sum(h for h, p in labelled if p.should_hit) / should
            row[f"wrong_{label}"] = sum(h for h, p in labelled if not p.should_hit)
        out.append(row)
    return out


def available_embedders() -> dict[str, Embedder]:
    """The embedders this machine can run offline: hashing always, the local model when installed."""
    embedders: dict[str, Embedder] = {"hashing": HashingEmbedder()}
    if LocalEmbedder.installed():
        embedders["local"] = LocalEmbedder()
    return embedders


def bench_pairs(threshold: float = 0.9) -> dict[str, dict[str, Any]]:
    """Guarded and threshold-only results on the labelled pairs, for each available embedder.

    Keys are ``"{embedder}"`` (all pairs, with a threshold sweep) and ``"{embedder}/{split}"``: the
    ``tuning`` pairs were seen while the guard was written, ``holdout`` ones after a first freeze
    (its misses then led to a larger everyday vocabulary), ``holdout2`` ones after the final freeze.
    """
    pairs = load_pairs()
    splits = sorted({p.split for p in pairs})
    results: dict[str, dict[str, Any]] = {}
    for name, real in available_embedders().items():
        embedder = PrecomputedEmbedder(real, [p.a.request for p in pairs] + [p.b.request for p in pairs])
        for split in [None, *splits]:
            subset = [p for p in pairs if split is None or p.split == split]
            guarded = evaluate_pairs(embedder, subset, threshold=threshold, guarded=True)
            alone = evaluate_pairs(embedder, subset, threshold=threshold, guarded=False)
            row: dict[str, Any] = {
                "embedder": embedder.name, "threshold": threshold, "pairs": guarded["pairs"],
                "should_hit": guarded["should_hit"], "traps": guarded["traps"],
                "hit_rate_guarded": guarded["hit_rate"], "wrong_hits_guarded": guarded["wrong_hits"],
                "hit_rate_alone": alone["hit_rate"], "wrong_hits_alone": alone["wrong_hits"],
                "wrong_alone_by_category": alone["wrong_by_category"],
            }
            if split is None:
                row["sweep"] = threshold_sweep(embedder, subset)
            results[name if split is None else f"{name}/{split}"] = row
    return results


# ------------------------------------------------------------------------------------ latency
def bench_exact(n: int = 2000) -> dict[str, float]:
    """Exact-cache hit and miss latency on diskcache (``n`` entries, ``n`` gets of each kind)."""
    with temp_store() as store:
        cache = ExactCache(store, ttl_seconds=3600)
        keys = [f"summary_request:{i:08x}" for i in range(n)]
        answer = Completion(text="A cached summary. " * 40, model=MODEL, provider="bench", cost_micros=450)
        for key in keys:
            cache.put("bench-site", MODEL, key, answer)
        rng = random.Random(1)
        hits, misses = [], []
        for _ in range(n):
            key = rng.choice(keys)
            started = time.perf_counter()
            found = cache.get("bench-site", MODEL, key)
            hits.append((time.perf_counter() - started) * 1000)
            assert found is not None
            started = time.perf_counter()
            cache.get("bench-site", MODEL, key + "-absent")
            misses.append((time.perf_counter() - started) * 1000)
    hit, miss = percentiles(hits), percentiles(misses)
    return {"entries": n, "hit_p50_ms": hit["p50_ms"], "hit_p99_ms": hit["p99_ms"],
            "miss_p50_ms": miss["p50_ms"], "miss_p99_ms": miss["p99_ms"]}


def _random_unit_rows(count: int, dim: int, seed: int) -> Any:
    np = numpy_module()
    if np is None:
        rng = random.Random(seed)
        return [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(count)]
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def bench_index(
    sizes: tuple[int, ...] = (10_000, 100_000), dim: int = 384, queries: int = 200, python_queries: int = 5,
    python_sizes: tuple[int, ...] = (10_000,),
) -> dict[str, float]:
    """Search latency of the vector index (synthetic unit vectors) at each size, per backend.

    Queries are stored vectors plus noise (so some rows pass the 0.9 threshold). The pure-Python
    backend (what runs without numpy) is measured only at ``python_sizes`` with fewer queries: it
    scales linearly, and building 100k rows in it takes about 20 s.
    """
    out: dict[str, float] = {"dim": dim}
    for size in sorted(set(sizes) | set(python_sizes)):
        rows = _random_unit_rows(size, dim, seed=size)
        backends = ["numpy"] if numpy_module() is not None and size in sizes else []
        backends += ["python"] if size in python_sizes else []
        for backend in backends:
            index: VectorIndex[int] = VectorIndex(dim, backend=backend)
            started = time.perf_counter()
            for i in range(size):
                index.add(rows[i], i)
            out[f"{backend}_build_{size}_s"] = time.perf_counter() - started
            rng = random.Random(size)
            count = queries if backend == "numpy" else python_queries
            samples = []
            for _ in range(min(5, count)):  # warm up (page faults, BLAS threads)
                index.search(rows[rng.randrange(size)], k=16, min_score=0.9)
            for _ in range(count):
                base = rows[rng.randrange(size)]
                query = [float(x) + rng.gauss(0, 0.01) for x in base]
                started = time.perf_counter()
                found = index.search(query, k=16, min_score=0.9)
                samples.append((time.perf_counter() - started) * 1000)
                assert found, "the perturbed row itself must be found"
            stats = percentiles(samples)
            out[f"{backend}_search_{size}_p50_ms"] = stats["p50_ms"]
            out[f"{backend}_search_{size}_p99_ms"] = stats["p99_ms"]
            del index
    return out


_SUBJECTS = ("the checkout bug", "the login outage", "the invoice export", "the Safari crash",
             "the API timeout", "the data migration", "the release plan", "the billing change",
             "the search index", "the mobile app crash", "the SSO setup", "the report delay")
_ASKS = ("summarize {s}", "what is the status of {s}?", "give me a recap of {s}",
         "what are the next steps on {s}?", "what was decided about {s}?", "catch me up on {s}",
         "list the open questions about {s}", "what is blocking {s}?")


def synthetic_requests(count: int, seed: int = 3) -> list[tuple[str, str]]:
    """``count`` distinct (issue key, request) pairs for filling a cache."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        ask = rng.choice(_ASKS).format(s=rng.choice(_SUBJECTS))
        out.append((f"SUP-{i}", f"{ask} ({rng.choice(('please', 'thanks', 'asap', 'today', ''))}) #{i}"))
    return out


def _entry(tenant: str, intent: str, seq: int, hint: CacheHint, vector: Any, embedder: str,
           now: float, ttl: int) -> dict[str, Any]:
    """A stored semantic entry exactly as ``SemanticCache.put`` writes it (``vector``: a float32 row)."""
    return {
        "v": ENTRY_VERSION, "id": uuid.uuid4().hex, "seq": seq, "tenant": tenant, "intent": intent,
        "model": MODEL, "hint": asdict(hint), "embedder": embedder, "dim": len(vector),
        "vec": base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii"),
        "text": f"summary of {hint.issue_key}", "answer_model": MODEL,
        "cost_micros": 400, "created_at": now, "expires_at": now + ttl,
    }


def _bulk(store: DiskStore) -> contextlib.AbstractContextManager[Any]:
    """One diskcache transaction for a batch of writes (a plain no-op for another store)."""
    inner = getattr(store, "_cache", None)
    return inner.transact() if inner is not None and hasattr(inner, "transact") else contextlib.nullcontext()


def embed_for_bench(embedder: Embedder, texts: list[str], limit: int | None) -> tuple[Any, int]:
    """Vectors for ``texts``: the first ``limit`` (all when None) from ``embedder`` in batches of 512,
    the rest copies of those with a little noise (cosine about 0.99 to their source), so a slow model
    can still fill a 100k index with rows as dense as real ones. Returns a float32 matrix (numpy
    needed) and how many rows are real.
    """
    np = numpy_module()
    if np is None:
        raise RuntimeError("the end-to-end semantic benchmark needs numpy")
    real = len(texts) if limit is None else min(limit, len(texts))
    base = np.concatenate([np.asarray(embedder.embed(texts[start:min(real, start + 512)]), dtype=np.float32)
                           for start in range(0, real, 512)])
    if real == len(texts):
        return base, real
    picks = base[np.arange(len(texts) - real) % real]
    noisy = picks + np.random.default_rng(7).standard_normal(picks.shape).astype(np.float32) * (
        0.1 / math.sqrt(base.shape[1]))
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return np.concatenate([base, noisy]), real


def bench_semantic(
    entries: int = 10_000, lookups: int = 300, *, embedder: Embedder | None = None,
    vectors: Any = None, embedded: int | None = None, puts: int = 100, build_seconds: float = 120.0,
    hints: list[CacheHint] | None = None,
) -> dict[str, Any]:
    """End-to-end semantic lookup (embedding + index + diskcache read-back) with ``entries`` for one site.

    The entries are written to the store as ``SemanticCache.put`` writes them, in bulk (one diskcache
    transaction per 1,000; at most ``build_seconds``, else fewer entries and the row says how many);
    a fresh ``SemanticCache`` then loads them the way a cold process does, through its full prefix
    scan into the real ``VectorIndex`` (timed: ``cold_first_lookup_ms``). Lookups are reworded
    requests of stored entries, embedded by ``embedder`` at lookup time, so each one pays for the
    embedding, the index search, the guard and the read-back. ``vectors`` (precomputed for the
    stored texts; ``embedded`` of them real, the rest noisy copies) saves re-embedding per size.
    Finally ``puts`` real ``put`` calls of new requests give the put rate at that size.
    """
    embedder = embedder or HashingEmbedder()
    requests = synthetic_requests(entries)
    if vectors is None:
        vectors, embedded = embed_for_bench(embedder, [text for _, text in requests], None)
    embedded = len(vectors) if embedded is None else embedded
    tenant, intent, ttl = "bench-site", "summary_request", 3600
    if hints is None:
        hints = [hint_for(intent, text, issue_key=issue) for issue, text in requests]
    with temp_store() as store:
        started = time.perf_counter()
        now, tag, stored = time.time(), site_tag(tenant), 0
        for start in range(0, entries, 1000):
            with _bulk(store):
                for seq in range(start + 1, min(entries, start + 1000) + 1):
                    entry = _entry(tenant, intent, seq, hints[seq - 1], vectors[seq - 1], embedder.name,
                                   now, ttl)
                    store.set(f"sem:{tag}:{intent}:{seq}", entry, ttl=ttl)
                stored = min(entries, start + 1000)
                store.set(f"semseq:{tag}:{intent}", stored, ttl=ttl)
            if time.perf_counter() - started > build_seconds:
                break
        build_s = time.perf_counter() - started
        cache = SemanticCache(store, embedder, threshold=0.9, ttl_seconds=ttl)
        usable = min(embedded, stored)
        issue, text = requests[0]
        started = time.perf_counter()
        cache.lookup(tenant, intent, MODEL, hint_for(intent, text.replace("#", "# "), issue_key=issue))
        cold_ms = (time.perf_counter() - started) * 1000
        rng = random.Random(5)
        samples, hits, candidates = [], 0, 0
        for _ in range(lookups):
            issue, text = requests[rng.randrange(usable)]
            hint = hint_for(intent, text.replace("#", "# "), issue_key=issue)
            started = time.perf_counter()
            outcome = cache.explain(tenant, intent, MODEL, hint)
            samples.append((time.perf_counter() - started) * 1000)
            hits += outcome.answer is not None
            candidates += outcome.candidates
        started = time.perf_counter()
        for n in range(puts):
            hint = hint_for(intent, f"summarize the new report number {n} please", issue_key=f"NEW-{n}")
            cache.put(tenant, intent, MODEL, hint,
                      Completion(text=f"new {n}", model=MODEL, provider="bench", cost_micros=400))
        put_s = time.perf_counter() - started
        indexed = cache.size(tenant, intent)
    stats = percentiles(samples)
    return {"embedder": embedder.name, "entries": stored, "requested_entries": entries,
            "embedded_entries": min(embedded, stored), "indexed": indexed, "build_s": build_s,
            "build_entries_per_s": stored / build_s if build_s else 0.0,
            "lookup_p50_ms": stats["p50_ms"], "lookup_p99_ms": stats["p99_ms"],
            "lookup_hit_rate": hits / lookups if lookups else 0.0,
            "candidates_per_lookup": candidates / lookups if lookups else 0.0,
            "cold_first_lookup_ms": cold_ms, "puts_per_s": puts / put_s if put_s else 0.0}


#: The local model embeds about 200 short texts a second on the 2-core bench box: past this many
#: stored entries its rows are noisy copies of embedded ones (lookups still embed with the model).
LOCAL_EMBED_LIMIT = 4_000


def bench_semantic_sizes(
    sizes: tuple[int, ...] = (10_000, 100_000), lookups: int = 300, local_limit: int = LOCAL_EMBED_LIMIT,
) -> dict[str, dict[str, Any]]:
    """:func:`bench_semantic` at each size for each available embedder (``"{embedder}/{size}"``).

    Each embedder embeds the largest size's texts once (the smaller sizes are prefixes of it).
    """
    out: dict[str, dict[str, Any]] = {}
    requests = synthetic_requests(max(sizes))
    texts = [text for _, text in requests]
    hints = [hint_for("summary_request", text, issue_key=issue) for issue, text in requests]
    for name, embedder in available_embedders().items():
        limit = None if name == "hashing" else local_limit
        started = time.perf_counter()
        vectors, real = embed_for_bench(embedder, texts, limit)
        embed_s = time.perf_counter() - started
        for size in sorted(sizes):
            row = bench_semantic(size, lookups, embedder=embedder, vectors=vectors[:size], embedded=real,
                                 hints=hints[:size])
            row["embed_s_all_sizes"] = embed_s
            out[f"{name}/{size}"] = row
    return out


# --------------------------------------------------------------------------------- replay mix
@dataclass(frozen=True)
class MixRequest:
    """One request of a replayed day: who asked what, and what the call would cost uncached."""

    tenant_id: str
    intent: str
    model: str
    cache_key: str | None  # None for actions (never cached)
    hint: CacheHint | None
    prompt_tokens: int
    completion_tokens: int
    meaning: str  # requests with the same meaning may share an answer; a hit across meanings is wrong


_MIX_GROUPS: dict[str, list[list[str]]] = {
    "summary_request": [
        ["summarize this", "summarize this please", "Summarize this issue", "give me a summary of this issue",
         "can you summarise this ticket?"],
        ["what is the current status?", "what's the status of this issue right now?", "status?"],
        ["what are the next steps?", "what are the next steps on this ticket?"],
        ["summarize this, but not the comments"],
        ["give me a detailed summary"],
    ],
    "comment_request": [
        ["reply to the reporter's question", "answer the reporter's question",
         "Reply to the reporter's question"],
        ["write a comment with a status update", "post a status update comment"],
        ["explain the root cause in a comment", "write a comment explaining the root cause"],
    ],
    "email_request": [
        ["draft an email to the customer about the delay", "write an email to the customer about the delay",
         "Draft an email to the customer about the delay."],
        ["email the vendor about the delay", "write an email to the vendor about the delay"],
        ["write a friendly email to the customer about the fix",
         "draft a friendly email to the customer about the fix"],
    ],
    "task_completion": [["mark this as done"], ["close this ticket, the fix is deployed"]],
}
_MIX_WEIGHTS = {
    "summary_request": 0.45, "comment_request": 0.25, "email_request": 0.2, "task_completion": 0.1,
}
_TOKENS = {"summary_request": (2400, 350), "comment_request": (2000, 300), "email_request": (2100, 380),
           "task_completion": (1500, 150)}


def load_mix(requests: int = 600, *, sites: int = 3, issues: int = 40, edit_rate: float = 0.08,
             seed: int = 11) -> list[MixRequest]:
    """A deterministic day of requests: popular issues asked about repeatedly, in different words.

    Issues are picked with a skew (a few hot ones), intents by weight, wording from groups of
    equivalent requests; an issue is sometimes edited (new content hash: earlier answers are stale).
    """
    rng = random.Random(seed)
    versions: dict[tuple[int, int], int] = {}
    out = []
    intents = list(_MIX_WEIGHTS)
    for _ in range(requests):
        site = rng.randrange(sites)
        issue = min(int(rng.paretovariate(1.2)) - 1, issues - 1)
        if rng.random() < edit_rate:
            versions[(site, issue)] = versions.get((site, issue), 0) + 1
        version = versions.get((site, issue), 0)
        intent = rng.choices(intents, weights=[_MIX_WEIGHTS[i] for i in intents])[0]
        group_no = rng.randrange(len(_MIX_GROUPS[intent]))
        text = rng.choice(_MIX_GROUPS[intent][group_no])
        prompt, completion = _TOKENS[intent]
        prompt += rng.randrange(-300, 600)
        completion += rng.randrange(-100, 150)
        tenant = f"site-{site}"
        issue_key, content = f"SUP-{issue + 1}", f"content-{issue}-{version}"
        meaning = f"{tenant}|{issue_key}|{content}|{intent}|{group_no}"
        if intent == "task_completion":
            out.append(MixRequest(tenant, intent, MODEL, None, None, prompt, completion, meaning))
            continue
        hint = hint_for(intent, text, issue_key=issue_key, content_hash=content)
        key = prompts.cache_key(intent, hint.prompt_version, prompts.normalise_request(text), hint.tone,
                                hint.language, content, "new", "")
        out.append(MixRequest(tenant, intent, MODEL, key, hint, prompt, completion, meaning))
    return out


def default_cost() -> Callable[[str, int, int], int]:
    """Micro-dollars of a call from the product's price table, else gpt-4o-mini list prices."""
    try:
        from connect_app.llm.prices import PriceTable
        from connect_app.settings import Settings

        table = PriceTable.load(Settings())
        table.cost_micros(MODEL, Usage(1000, 100))
    except Exception:  # the table is another part's; the bench still runs without it
        def fallback(model: str, prompt: int, completion: int) -> int:
            return math.ceil(prompt * FALLBACK_INPUT_PER_M + completion * FALLBACK_OUTPUT_PER_M)

        return fallback
    return lambda model, prompt, completion: table.cost_micros(model, Usage(prompt, completion))


def cache_savings(
    mix: list[MixRequest], *, embedder: Embedder | None = None, threshold: float = 0.9,
    cost: Callable[[str, int, int], int] | None = None,
) -> dict[str, Any]:
    """Replay ``mix`` through the exact cache (and the semantic one with ``embedder``); count dollars.

    A miss "calls the model" (its cost is spent and the answer stored); a hit costs nothing and
    saves what the stored call cost. A hit whose answer came from a request of another meaning is
    counted as wrong.
    """
    cost = cost or default_cost()
    with temp_store() as store:
        exact = ExactCache(store, ttl_seconds=86_400)
        semantic = (
            SemanticCache(store, embedder, threshold=threshold, ttl_seconds=86_400) if embedder else None
        )
        spent = baseline = saved = 0
        counts: Counter[str] = Counter()
        for req in mix:
            price = cost(req.model, req.prompt_tokens, req.completion_tokens)
            baseline += price
            answer = None
            if req.cache_key is not None:
                answer = exact.get(req.tenant_id, req.model, req.cache_key)
                if answer is None and semantic is not None and req.hint is not None:
                    answer = semantic.lookup(req.tenant_id, req.intent, req.model, req.hint)
            if answer is not None:
                counts[f"{answer.layer}_hits"] += 1
                saved += answer.cost_micros
                counts["wrong_hits"] += answer.text != req.meaning
                continue
            spent += price
            counts["calls"] += 1
            if req.cache_key is None:
                continue
            completion = Completion(text=req.meaning, model=req.model, provider="bench", cost_micros=price)
            exact.put(req.tenant_id, req.model, req.cache_key, completion)
            if semantic is not None and req.hint is not None:
                semantic.put(req.tenant_id, req.intent, req.model, req.hint, completion)
    return {
        "requests": len(mix), "model_calls": counts["calls"], "exact_hits": counts["exact_hits"],
        "semantic_hits": counts["semantic_hits"], "wrong_hits": counts["wrong_hits"],
        "no_cache_usd": baseline / 1e6, "spent_usd": spent / 1e6, "saved_usd": saved / 1e6,
        "saved_percent": 100.0 * saved / baseline if baseline else 0.0,
    }


def bench_savings(requests: int = 600) -> dict[str, dict[str, Any]]:
    """Dollars saved on the replayed mix: exact cache only, then exact + semantic per embedder."""
    mix = load_mix(requests)
    out = {"exact only": cache_savings(mix)}
    texts = [req.hint.request for req in mix if req.hint is not None]
    for name, embedder in available_embedders().items():
        out[f"exact + semantic ({name})"] = cache_savings(mix, embedder=PrecomputedEmbedder(embedder, texts))
    return out


# ------------------------------------------------------------------------------------ runner
def machine() -> dict[str, Any]:
    """Where the numbers came from."""
    np = numpy_module()
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numpy": getattr(np, "__version__", None), "local_model": LocalEmbedder.installed(),
            "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def run_all(quick: bool = False, full: bool = False) -> dict[str, Any]:
    """Every cache benchmark; ``quick`` shrinks sizes for a smoke run, ``full`` adds pure Python at 100k."""
    python_sizes = (2_000,) if quick else (10_000, 100_000) if full else (10_000,)
    return {
        "machine": machine(),
        "exact": bench_exact(500 if quick else 2000),
        "index": bench_index((2_000, 10_000) if quick else (10_000, 100_000), queries=50 if quick else 200,
                             python_queries=2 if quick else 5, python_sizes=python_sizes),
        "semantic": bench_semantic_sizes((1_000, 5_000) if quick else (10_000, 100_000),
                                         lookups=50 if quick else 300,
                                         local_limit=500 if quick else LOCAL_EMBED_LIMIT),
        "pairs": bench_pairs(),
        "savings": bench_savings(200 if quick else 600),
    }


def format_report(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    where = ", ".join(f"{k}={v}" for k, v in results["machine"].items())
    lines = ["Cache benchmarks", f"machine: {where}", ""]
    ex = results["exact"]
    lines.append(f"exact cache ({ex['entries']} entries, diskcache): hit p50 {ex['hit_p50_ms']:.3f} ms, "
                 f"p99 {ex['hit_p99_ms']:.3f} ms; miss p50 {ex['miss_p50_ms']:.3f} ms")
    ix = results["index"]
    lines.append(f"vector index search, dim {ix['dim']}, k=16, threshold 0.9:")
    for key in sorted(k for k in ix if k.endswith("_p50_ms")):
        backend, _, size, _, _ = key.split("_")
        p99 = ix[key.replace("p50", "p99")]
        lines.append(f"  {backend:<6} {int(size):>7,} entries: p50 {ix[key]:8.3f} ms   p99 {p99:8.3f} ms")
    lines.append("semantic lookup end to end (embedding + index search + guard + diskcache read-back; "
                 "one site, threshold 0.9):")
    lines.append("  embedder            entries  embedded | lookup p50 ms  p99 ms | hits | candidates | "
                 "cold first lookup s | bulk build s | puts/s")
    for name, se in results["semantic"].items():
        label = {"hashing": "hashing", "local": "local MiniLM"}.get(name.split("/")[0], name.split("/")[0])
        lines.append(f"  {label:<16} {se['entries']:>10,} {se['embedded_entries']:>9,} | "
                     f"{se['lookup_p50_ms']:13.2f} {se['lookup_p99_ms']:7.2f} | "
                     f"{se['lookup_hit_rate']:4.0%} | "
                     f"{se['candidates_per_lookup']:10.1f} | {se['cold_first_lookup_ms'] / 1000:19.1f} | "
                     f"{se['build_s']:12.1f} | {se['puts_per_s']:6.0f}")
    if any(se["embedded_entries"] < se["entries"] for se in results["semantic"].values()):
        lines.append("  (embedded = stored entries embedded by that model; the rest are noisy copies of "
                     "them (cosine ~0.99), so the index is as dense; every lookup embeds its request "
                     "with the model)")
    lines.append("")
    lines.append("labelled pairs (threshold 0.9): embedder | hit rate guarded | wrong guarded | "
                 "hit rate threshold alone | wrong threshold alone")
    for name, row in results["pairs"].items():
        lines.append(f"  {name:<17} {row['hit_rate_guarded']:6.1%} (of {row['should_hit']:3d}) | "
                     f"{row['wrong_hits_guarded']:3d} / {row['traps']:3d} | {row['hit_rate_alone']:6.1%} | "
                     f"{row['wrong_hits_alone']:3d} / {row['traps']:3d}")
    for name, row in results["pairs"].items():
        if "sweep" in row:
            sweep = "  ".join(
                f"{r['threshold']:.2f}: {r['hit_rate_guarded']:.0%}/{r['wrong_guarded']:.0f} "
                f"(alone {r['hit_rate_alone']:.0%}/{r['wrong_alone']:.0f})" for r in row["sweep"]
            )
            lines.append(f"  {name} sweep, guarded hit rate/wrong (threshold alone): {sweep}")
    lines.append("")
    lines.append("replayed mix: setup | requests | model calls | exact hits | semantic hits | wrong | "
                 "no-cache $ | spent $ | saved $ (%)")
    for name, row in results["savings"].items():
        lines.append(f"  {name:<26} {row['requests']:5d} {row['model_calls']:5d} {row['exact_hits']:5d} "
                     f"{row['semantic_hits']:5d} {row['wrong_hits']:3d}   {row['no_cache_usd']:.4f}  "
                     f"{row['spent_usd']:.4f}  {row['saved_usd']:.4f} ({row['saved_percent']:.1f}%)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the table (``--json`` for the raw numbers)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--full", action="store_true", help="also time the pure-Python index at 100k (+30 s)")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_all(quick=args.quick, full=args.full)
    results["runtime_s"] = time.perf_counter() - started
    print(json.dumps(results, indent=2, default=str) if args.json else format_report(results))
    print(f"\n(total runtime {results['runtime_s']:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
