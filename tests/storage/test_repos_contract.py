"""The typed repos and store-backed components, run against every backend: diskcache and a real Redis.

Same key-value contract, same typed repos: each scenario here also runs in its component's own test
file on diskcache; this suite proves it holds on Redis too. A second handle on the same store (a second
DiskStore on the directory, a second Redis client) stands for a second process.
"""

from __future__ import annotations

import calendar
import logging
import random
import threading
import time

import pytest

from connect_app.cache.exact import ExactCache
from connect_app.errors import BudgetExceededError, CircuitOpenError
from connect_app.jobs.journal import JobJournal
from connect_app.llm.budget import BudgetGuard
from connect_app.models import Completion, Usage
from connect_app.ops.breaker import BreakerRegistry
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettingsRepo
from tests.storage.backends import open_evicting_store, open_store

# The ``backend`` and ``store`` fixtures live in tests/storage/conftest.py.

DAY1 = "2026-11-22"
DAY2 = "2026-11-23"
NOON_DAY2 = calendar.timegm(time.strptime(DAY2, "%Y-%m-%d")) + 12 * 3600
MODEL = "gpt-4o-mini"


@pytest.fixture
def other(backend):
    """A second handle on the same store, as another process has."""
    s = open_store(*backend)
    yield s
    s.close()


class NoScan:
    """The ledger must read a day through its index keys, never by scanning the store."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name):
        if name == "scan":
            raise AssertionError("the ledger scanned the store")
        return getattr(self._store, name)


def run_threads(target, args_list) -> None:
    threads = [threading.Thread(target=target, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---------------------------------------------------------------------- CostLedger
def record(ledger: CostLedger, **overrides) -> None:
    values = {"tenant_id": "site-a", "intent": "comment_request", "model": MODEL, "cost_micros": 100,
              "prompt_tokens": 400, "completion_tokens": 100, "cached_tokens": 0}
    values.update(overrides)
    ledger.record_call(**values)


def test_ledger_aggregates_days_sites_caches_refusals_and_alerts(store, other):
    ledger = CostLedger(NoScan(store), clock=lambda: NOON_DAY2)
    record(ledger)
    record(ledger, intent="summary_request", model="gpt-4.1", cost_micros=900, prompt_tokens=2000,
           completion_tokens=500, cached_tokens=200)
    record(ledger, tenant_id="ari:cloud:ecosystem::installation/1234", cost_micros=7)
    record(ledger, tenant_id="site-c", day=DAY1, cost_micros=11)
    ledger.record_cache_hit(tenant_id="site-a", intent="comment_request", model=MODEL, saved_micros=80,
                            layer="exact")
    ledger.record_cache_miss(tenant_id="site-a", intent="comment_request", layer="semantic")
    ledger.record_refusal(tenant_id="site-a", intent="email_request", reason="budget_exceeded")
    assert ledger.record_alert(tenant_id="site-a", percent=80.0, spent_micros=800, limit_micros=1000)
    assert not ledger.record_alert(tenant_id="site-a", percent=90.0, spent_micros=900, limit_micros=1000)

    reader = CostLedger(NoScan(other), clock=lambda: NOON_DAY2)  # another process reads it back
    day = reader.day("site-a")
    assert (day.cost_micros, day.calls) == (1000, 2)
    assert day.tokens == {"prompt": 2400, "completion": 600, "cached": 200}
    assert day.by_model["gpt-4.1"]["cost_micros"] == 900 and day.by_model[MODEL]["saved_micros"] == 80
    assert day.cache == {"exact": {"hits": 1, "misses": 0, "saved_micros": 80},
                         "semantic": {"hits": 0, "misses": 1, "saved_micros": 0}}
    assert day.refusals_by_reason == {"budget_exceeded": 1}
    assert len(day.alerts) == 1 and day.alerts[0]["spent_micros"] == 800
    assert reader.day("ari:cloud:ecosystem::installation/1234").cost_micros == 7
    assert reader.tenants_with_activity() == ["ari:cloud:ecosystem::installation/1234", "site-a"]
    assert reader.tenants_with_activity(DAY1) == ["site-c"]
    assert [d.cost_micros for d in reader.range("site-c", 2, end=DAY2)] == [11, 0]


def test_ledger_concurrent_writers_on_two_handles_never_lose_a_count(store, other):
    ledgers = [CostLedger(s, clock=lambda: NOON_DAY2) for s in (store, other)]

    def work(i: int) -> None:
        for _ in range(5):
            record(ledgers[i % 2], intent=f"intent-{i % 3}", model=f"model-{i % 4}", cost_micros=7)

    run_threads(work, [(i,) for i in range(12)])
    day = ledgers[0].day("site-a")
    assert day.calls == 60 and day.cost_micros == 420
    assert set(day.by_intent) == {"intent-0", "intent-1", "intent-2"}
    assert set(day.by_model) == {"model-0", "model-1", "model-2", "model-3"}


# ---------------------------------------------------------------------- SiteSettingsRepo
def test_site_settings_round_trip_between_handles(store, other):
    repo = SiteSettingsRepo(store)
    assert repo.get("site").default_email_tone == "formal" and repo.get("site").project_enabled("ANY")
    repo.update("site", {"daily_limit_usd": 2, "enabled_projects": ["sup", "OPS"], "semantic_cache": False,
                         "default_email_tone": "friendly", "extra_instructions": "  Sign as Support.  "})
    seen = SiteSettingsRepo(other).get("site")
    assert seen.daily_limit_usd == 2.0 and seen.enabled_projects == ["OPS", "SUP"]
    assert seen.semantic_cache is False and seen.default_email_tone == "friendly"
    assert seen.extra_instructions == "Sign as Support."
    assert SiteSettingsRepo(other).update("site", {"alert_percentage": 50}).daily_limit_usd == 2.0
    assert repo.get("site").alert_percentage == 50.0
    assert repo.get("other-site").daily_limit_usd is None
    repo.delete("site")
    assert SiteSettingsRepo(other).get("site").daily_limit_usd is None


# ---------------------------------------------------------------------- BudgetGuard
LIMIT = 20_000


def test_budget_reserve_settle_release_and_refusal(store):
    ledger = CostLedger(store, clock=lambda: NOON_DAY2)
    guard = BudgetGuard(store, ledger)
    first = guard.reserve("site-a", 1_000, LIMIT, intent="comment_request")
    assert (first.day, first.committed) == (DAY2, 1_000)
    assert guard.settle(first, 300) == 300
    assert guard.settle(first, 900) == 300  # a second settle is ignored
    second = guard.reserve("site-a", 2_000, LIMIT)
    guard.release(second)
    guard.release(second)  # and a second release
    assert guard.spent_today("site-a") == 300
    guard.reserve("site-a", LIMIT - 400, LIMIT)
    with pytest.raises(BudgetExceededError) as err:
        guard.reserve("site-a", 101, LIMIT, intent="email_request")
    assert err.value.code == "budget_exceeded"
    assert guard.spent_on("site-a", DAY2) == LIMIT - 100  # nothing was added
    guard.reserve("site-a", 100, LIMIT)  # exactly up to the limit is fine
    assert ledger.day("site-a").refusals_by_reason == {"budget_exceeded": 1}
    guard.reserve("ari:cloud:ecosystem::installation/1", 500, LIMIT)
    assert guard.spent_today("ari") == 0


def test_budget_threads_on_two_handles_never_push_the_day_over_the_limit(store, other):
    guards = [BudgetGuard(s, CostLedger(s, clock=lambda: NOON_DAY2)) for s in (store, other)]
    barrier = threading.Barrier(20)
    lock = threading.Lock()
    totals = {"settled": 0, "ok": 0, "refused": 0}
    highest = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            highest[0] = max(highest[0], guards[1].spent_on("site-a", DAY2))

    def worker(seed: int) -> None:
        guard, rng = guards[seed % 2], random.Random(seed)
        settled = ok = refused = 0
        barrier.wait()
        for _ in range(5):
            worst = rng.randint(800, 3_000)
            try:
                res = guard.reserve("site-a", worst, LIMIT, intent="comment_request")
            except BudgetExceededError:
                refused += 1
                continue
            if rng.random() < 0.1:
                guard.release(res)  # the call failed
                continue
            actual = rng.randint(0, worst)
            guard.settle(res, actual)
            settled, ok = settled + actual, ok + 1
        with lock:
            totals["settled"] += settled
            totals["ok"] += ok
            totals["refused"] += refused

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run_threads(worker, [(seed,) for seed in range(20)])
    stop.set()
    sampler.join()
    final = guards[0].spent_on("site-a", DAY2)
    assert final <= LIMIT and highest[0] <= LIMIT
    assert final == totals["settled"]  # every reservation settled or released exactly once
    assert totals["refused"] > 0 and totals["ok"] > 0  # the limit really was contended
    assert guards[1]._ledger.day("site-a", DAY2).refusals == totals["refused"]


# ---------------------------------------------------------------------- BreakerRegistry
class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fail(breaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def registry(store, clock: Clock) -> BreakerRegistry:
    return BreakerRegistry(store, overrides={"jira:": {"failure_threshold": 1}}, failure_threshold=3,
                           window_seconds=60, reset_timeout=30, clock=clock)


def test_breaker_state_is_shared_between_two_processes(store, other, caplog):
    caplog.set_level(logging.WARNING, logger="connect_app.ops.breaker")
    clock = Clock()
    web, worker = registry(store, clock), registry(other, clock)
    fail(worker.get("llm"), 2)
    assert web.get("llm").snapshot()["failures"] == 2 and web.get("llm").state() == "closed"
    fail(web.get("llm"))
    assert worker.get("llm").state() == "open"
    with pytest.raises(CircuitOpenError):
        worker.get("llm").before_call()
    clock.now += 30
    assert web.get("llm").state() == "half_open"
    web.get("llm").before_call()  # the probe
    with pytest.raises(CircuitOpenError, match="probe"):
        worker.get("llm").before_call()
    web.get("llm").record_failure()  # a failed probe re-opens for another reset timeout
    assert worker.get("llm").snapshot()["next_probe_at"] == clock.now + 30
    clock.now += 30
    worker.get("llm").before_call()
    worker.get("llm").record_success()
    assert web.get("llm").state() == "closed" and web.get("llm").snapshot()["failures"] == 0
    fail(worker.get("jira:tenant-1"))  # the override: one failure opens a Jira breaker
    snaps = {s["name"]: s for s in registry(other, clock).snapshots()}
    assert set(snaps) == {"llm", "jira:tenant-1"}
    assert snaps["jira:tenant-1"]["state"] == "open" and snaps["llm"]["state"] == "closed"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("llm opened" in m for m in messages) == 1 and sum("llm closed" in m for m in messages) == 1


def test_breaker_concurrent_probes_on_separate_handles_only_one_passes(backend, store):
    clock = Clock()
    fail(registry(store, clock).get("llm"), 3)
    clock.now += 30
    handles = [open_store(*backend) for _ in range(6)]
    breakers = [registry(h, clock).get("llm") for h in handles]
    barrier, after = threading.Barrier(len(breakers)), threading.Barrier(len(breakers))
    passed = []

    def probe(b) -> None:
        barrier.wait()
        try:
            b.before_call()
            won = True
        except CircuitOpenError:
            won = False
        after.wait()  # everyone has tried before the probe reports
        if won:
            passed.append(b)
            b.record_success()

    try:
        run_threads(probe, [(b,) for b in breakers])
    finally:
        for h in handles:
            h.close()
    assert len(passed) == 1
    assert registry(store, clock).get("llm").state() == "closed"


# ---------------------------------------------------------------------- JobJournal
EVENT = {"tenant_id": "site", "kind": "comment", "issue_key": "SUP-1", "comment_id": "c1", "text": "summarize"}


def test_journal_record_start_release_finish_between_web_and_worker(store, other):
    web, worker = JobJournal(store), JobJournal(other)
    job_id = web.new_job_id()
    web.record(job_id, EVENT)
    assert worker.get(job_id).state == "queued" and worker.pending() == 1
    worker.heartbeat("w1")
    started = worker.start(job_id, "w1")
    assert (started.state, started.owner, started.attempts, started.event) == ("running", "w1", 1, EVENT)
    assert web.start(job_id, "w2") is None  # held by a live worker
    assert [r.job_id for r in web.running_under("w1")] == [job_id]
    worker.step_done(job_id, "transition", {"to": "Done"})
    worker.release(job_id, "w1")  # the attempt failed; huey retries
    record = web.get(job_id)
    assert (record.state, record.owner, record.steps) == ("queued", None, {"transition": {"to": "Done"}})
    web.heartbeat("w2")
    assert web.start(job_id, "w2").attempts == 2
    worker.finish(job_id)
    assert web.get(job_id) is None and web.pending() == 0 and web.start(job_id, "w2") is None


def test_journal_a_dead_owner_is_taken_over_and_stale_jobs_are_found(store, other):
    web, worker = JobJournal(store), JobJournal(other)
    running, waiting, fresh = (web.new_job_id() for _ in range(3))
    for job_id in (running, waiting, fresh):
        web.record(job_id, EVENT)
    worker.start(running, "dead-worker")  # began, then died without a heartbeat
    raw = store.get(f"job:{waiting}")
    store.set(f"job:{waiting}", {**raw, "enqueued_at": raw["enqueued_at"] - 600})  # queued too long
    assert sorted(r.job_id for r in web.stale(queued_after=300)) == sorted([running, waiting])
    web.requeued(running)
    assert web.get(running).state == "queued"
    assert worker.start(running, "dead-worker").attempts == 2  # it ran again, and died again
    web.heartbeat("w2")
    taken = web.start(running, "w2")  # the holder is dead: its lock is taken over
    assert taken is not None and taken.owner == "w2" and taken.attempts == 3
    assert [r.job_id for r in worker.stale(queued_after=300)] == [waiting]  # w2 is alive


def test_journal_live_workers_are_counted_by_heartbeat_until_the_lease_ends(store, other):
    web, worker = JobJournal(store, heartbeat_ttl=0.5), JobJournal(other, heartbeat_ttl=0.5)
    assert web.live_workers() == 0
    worker.heartbeat("a")
    worker.heartbeat("b")
    web.heartbeat("a")
    assert web.live_workers() == 2 and worker.alive("b") and not worker.alive("c")
    time.sleep(0.6)
    assert web.live_workers() == 0 and not web.alive("a")


# ---------------------------------------------------------------------- ExactCache
def completion(text: str = "The issue is about checkout on Safari.", cost: int = 465) -> Completion:
    return Completion(text=text, model="gpt-4o-mini-2024-07-18", provider="openai", usage=Usage(1500, 400),
                      cost_micros=cost)


@pytest.fixture
def caches(backend):
    """Two handles on the evicting cache store of the backend."""
    handles = [open_evicting_store(*backend, size_limit_mb=1) for _ in range(2)]
    yield handles
    for h in handles:
        h.close()


def test_exact_cache_entries_are_shared_scoped_and_cleared(caches):
    writer, reader = (ExactCache(c, ttl_seconds=600, clock=lambda: 1_700_000_000.0) for c in caches)
    assert writer.put("site-a", MODEL, "summary_request:abc", completion())
    answer = reader.get("site-a", MODEL, "summary_request:abc")
    assert answer is not None and answer.cost_micros == 465 and answer.created_at == 1_700_000_000.0
    assert answer.to_completion().cached and answer.to_completion().cost_micros == 0
    assert reader.get("site-b", MODEL, "summary_request:abc") is None
    assert reader.get("site-a", "gpt-4o", "summary_request:abc") is None
    assert not writer.put("site-a", MODEL, "empty", completion(text="  "))
    for key in ("a", "b"):
        writer.put("site-a", MODEL, key, completion())
    writer.put("site-b", MODEL, "a", completion())
    assert reader.clear_site("site-a") == 3
    assert writer.get("site-a", MODEL, "a") is None and writer.get("site-b", MODEL, "a") is not None


def test_exact_cache_a_foreign_entry_is_never_served_and_is_removed(caches):
    cache, store = ExactCache(caches[0], ttl_seconds=600), caches[1]
    key = ExactCache.key("site-a", MODEL, "k")
    store.set(key, {"v": 1, "tenant": "site-b", "model": MODEL, "key": "k", "text": "other site's answer",
                    "answer_model": MODEL, "cost_micros": 1, "created_at": 0})
    assert cache.get("site-a", MODEL, "k") is None
    assert store.get(key) is None


def test_exact_cache_stays_within_the_store_size_limit(caches):
    cache = ExactCache(caches[0], ttl_seconds=600)
    for i in range(30):  # about 3 MB of answers into a 1 MB cache
        cache.put("site-a", MODEL, f"k{i}", completion(text=f"{i} " + "a" * 100_000))
    kept = [i for i in range(30) if cache.get("site-a", MODEL, f"k{i}") is not None]
    assert 5 <= len(kept) <= 10 and kept == list(range(30 - len(kept), 30))  # the newest answers
