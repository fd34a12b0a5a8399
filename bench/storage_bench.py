"""Storage cost per operation: budget reservation and dedupe claims on diskcache and on Redis."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import procs


def percentiles_us(samples_s: list[float]) -> dict[str, float]:
    """p50 and p99 (nearest rank) of durations in seconds, in microseconds, and how many there were."""
    ordered = sorted(samples_s)
    if not ordered:
        return {"p50_us": 0.0, "p99_us": 0.0, "ops": 0}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50_us": round(pick(0.5) * 1e6, 1), "p99_us": round(pick(0.99) * 1e6, 1), "ops": len(ordered)}


def _time_ops(op: Callable[[int], None], count: int, seconds: float) -> dict[str, float]:
    """Run ``op(n)`` up to ``count`` times or ``seconds``; percentiles of each call's duration."""
    samples = []
    deadline = time.monotonic() + seconds
    for n in range(count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        op(n)
        samples.append(time.perf_counter() - started)
    return percentiles_us(samples)


def bench_storage(redis: procs.RedisServer, *, ops: int, seconds: float, raw_requests: int,
                  db: int = 3) -> dict[str, Any]:
    """Budget reserve + settle, and dedupe claim, per operation on diskcache and ``redis`` (database ``db``).

    Each operation runs at most ``ops`` times or ``seconds``; ``raw_requests`` sizes the
    ``redis-benchmark`` run that shows what the same server takes from a C client.
    """
    from connect_app.llm.budget import BudgetGuard
    from connect_app.storage.dedupe import DedupeRepo
    from connect_app.storage.disk import DiskStore
    from connect_app.storage.ledger import CostLedger
    from connect_app.storage.redis_store import RedisStore

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as directory:
        backends: dict[str, Callable[[], Any]] = {
            "diskcache": lambda: DiskStore(Path(directory) / "store"),
            "Redis": lambda: RedisStore(redis.url(db), namespace="bench-storage"),
        }
        for name, open_store in backends.items():
            store = open_store()
            try:
                budget = BudgetGuard(store, CostLedger(store))
                out[name] = _storage_ops(budget, DedupeRepo(store), ops, seconds)
            finally:
                store.close()
    out["redis_benchmark_ops_per_s"] = redis.raw_ops_per_s(raw_requests)
    client = redis.client(db)
    try:
        key = next(iter(client.scan_iter(match="jira-ai:bench-storage:dedupe:*", count=100)), None)
        out["redis_dedupe_key_bytes"] = int(client.memory_usage(key) or 0) if key else None
    finally:
        client.close()
    return out


def _storage_ops(budget: Any, dedupe: Any, ops: int, seconds: float) -> dict[str, Any]:
    """Time ``reserve`` + ``settle`` on one site's day counter, then claims of fresh dedupe keys."""
    run = uuid.uuid4().hex[:8]

    def reserve_settle(_n: int) -> None:
        budget.settle(budget.reserve("bench-site", 2_000, 10**15, intent="summary_request"), 1_500)

    def claim(n: int) -> None:
        if not dedupe.claim(f"bench-site:comment:{run}-{n}"):
            raise RuntimeError("a fresh dedupe key was refused")

    reserve_settle(-1)
    claim(-1)
    return {"reserve_settle": _time_ops(reserve_settle, ops, seconds),
            "dedupe_claim": _time_ops(claim, ops, seconds)}
