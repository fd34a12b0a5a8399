"""The daily budget is a hard limit: reserve worst case atomically, settle to the real cost, never over.

The concurrency tests run 50 threads, then two spawned processes with their own DiskStore on the same
directory, all reserving and settling against one small limit.
"""

import calendar
import multiprocessing
import random
import threading
import time

import pytest

from connect_app.errors import BadRequestError, BudgetExceededError
from connect_app.llm.budget import (
    RESERVATION_TTL_SECONDS,
    BudgetGuard,
    usd_to_micros,
    worst_case_prompt_tokens,
)
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger

DAY = "2026-11-23"
NOON = calendar.timegm(time.strptime(DAY, "%Y-%m-%d")) + 12 * 3600
LIMIT = 20_000


class TtlRecordingStore(DiskStore):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ttls = []

    def incr_if_within(self, key, delta, limit, ttl=None):
        self.ttls.append((key, ttl))
        return super().incr_if_within(key, delta, limit, ttl)


@pytest.fixture
def store(tmp_path):
    s = TtlRecordingStore(tmp_path / "durable")
    yield s
    s.close()


@pytest.fixture
def ledger(store):
    return CostLedger(store, clock=lambda: NOON)


@pytest.fixture
def guard(store, ledger):
    return BudgetGuard(store, ledger)


def test_reserve_settle_and_release(guard, store):
    first = guard.reserve("site-a", 1_000, LIMIT, intent="comment_request")
    assert (first.day, first.micros, first.committed) == (DAY, 1_000, 1_000)
    assert guard.settle(first, 300) == 300  # the unused 700 comes back
    second = guard.reserve("site-a", 2_000, LIMIT)
    assert guard.spent_today("site-a") == 2_300
    guard.release(second)
    assert guard.spent_today("site-a") == 300
    assert guard.spent_on("site-a", DAY) == 300
    assert store.ttls[0] == ("budget:site-a:2026-11-23", RESERVATION_TTL_SECONDS)
    assert guard.spent_today("site-b") == 0


def test_settle_and_release_count_once(guard):
    res = guard.reserve("site-a", 1_000, LIMIT)
    assert guard.settle(res, 400) == 400
    assert guard.settle(res, 900) == 400  # a second settle is ignored
    guard.release(res)  # and so is a release after it
    assert guard.spent_today("site-a") == 400


def test_refusal_raises_and_is_counted(guard, ledger):
    guard.reserve("site-a", LIMIT - 100, LIMIT)
    with pytest.raises(BudgetExceededError) as err:
        guard.reserve("site-a", 101, LIMIT, intent="email_request")
    assert err.value.code == "budget_exceeded"
    assert "$0.02" in err.value.message  # names the limit
    assert guard.spent_today("site-a") == LIMIT - 100  # nothing was added
    guard.reserve("site-a", 100, LIMIT)  # exactly up to the limit is fine
    day = ledger.day("site-a", DAY)
    assert day.refusals == 1 and day.by_intent["email_request"]["refusals"] == 1
    assert day.refusals_by_reason == {"budget_exceeded": 1}


def test_a_zero_limit_refuses_every_paid_call(guard):
    with pytest.raises(BudgetExceededError):
        guard.reserve("site-a", 1, 0)
    guard.reserve("site-a", 0, 0)


def test_bad_amounts_are_refused(guard):
    with pytest.raises(BadRequestError):
        guard.reserve("site-a", -5, LIMIT)
    with pytest.raises(BadRequestError):
        guard.reserve("site-a", 5, 1.5)
    res = guard.reserve("site-a", 5, LIMIT)
    with pytest.raises(BadRequestError):
        guard.settle(res, -1)


def test_site_keys_with_separators_do_not_collide(guard):
    guard.reserve("ari:cloud:ecosystem::installation/1", 500, LIMIT)
    assert guard.spent_today("ari:cloud:ecosystem::installation/1") == 500
    assert guard.spent_today("ari") == 0


def test_worst_case_prompt_tokens_is_an_upper_bound():
    english = [{"role": "user", "content": "Summarise this issue please."}]
    assert worst_case_prompt_tokens(english) >= len(english[0]["content"])
    cjk = [{"role": "user", "content": "この課題を要約してください" * 10}]
    # byte-level BPE: never more tokens than UTF-8 bytes; a chars/4 rule would under-count CJK text
    assert worst_case_prompt_tokens(cjk) >= len(cjk[0]["content"].encode())
    schema = {"type": "object", "properties": {"intent": {"type": "string"}}}
    assert worst_case_prompt_tokens(english, schema) > worst_case_prompt_tokens(english) + 50
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    assert worst_case_prompt_tokens(parts) > 5


def test_usd_to_micros_rounds_down():
    assert usd_to_micros(5.0) == 5_000_000
    assert usd_to_micros(0.1) == 100_000
    assert usd_to_micros(0.0000019) == 1


# ---------------------------------------------------------------------- concurrency
def _hammer(guard, site, attempts, rng, barrier):
    """Reserve a random worst case, 'call', settle a random real cost; returns (settled, ok, refused)."""
    settled = ok = refused = 0
    barrier.wait()
    for _ in range(attempts):
        worst = rng.randint(300, 1_500)
        try:
            res = guard.reserve(site, worst, LIMIT, intent="comment_request")
        except BudgetExceededError:
            refused += 1
            continue
        actual = rng.randint(0, worst)
        if rng.random() < 0.1:
            guard.release(res)  # the call failed
            continue
        guard.settle(res, actual)
        settled += actual
        ok += 1
    return settled, ok, refused


class Sampler(threading.Thread):
    """Reads the committed spend while the others write; it must never be over the limit."""

    def __init__(self, guard, site):
        super().__init__(daemon=True)
        self.guard, self.site, self.stop, self.highest = guard, site, threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            self.highest = max(self.highest, self.guard.spent_on(self.site, DAY))


def test_fifty_threads_never_push_the_day_over_the_limit(guard, ledger):
    barrier = threading.Barrier(50)
    results = []
    lock = threading.Lock()

    def worker(seed):
        outcome = _hammer(guard, "site-a", 6, random.Random(seed), barrier)
        with lock:
            results.append(outcome)

    sampler = Sampler(guard, "site-a")
    sampler.start()
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sampler.stop.set()
    sampler.join()

    settled = sum(r[0] for r in results)
    refused = sum(r[2] for r in results)
    final = guard.spent_on("site-a", DAY)
    assert final <= LIMIT and sampler.highest <= LIMIT
    assert final == settled  # every reservation was settled or released exactly
    assert refused > 0 and sum(r[1] for r in results) > 0  # the limit really was contended
    assert ledger.day("site-a", DAY).refusals == refused


def _process_worker(path, seed, queue):
    store = DiskStore(path)
    guard = BudgetGuard(store, CostLedger(store, clock=lambda: NOON))
    barrier = threading.Barrier(25)
    outcomes = []

    def worker(n):
        outcomes.append(_hammer(guard, "site-a", 6, random.Random(seed * 100 + n), barrier))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    queue.put(tuple(sum(o[i] for o in outcomes) for i in range(3)))


def test_two_processes_never_push_the_day_over_the_limit(tmp_path):
    path = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(path, seed, queue)) for seed in (1, 2)]
    for p in procs:
        p.start()
    store = DiskStore(path)
    guard = BudgetGuard(store, CostLedger(store, clock=lambda: NOON))
    sampler = Sampler(guard, "site-a")
    sampler.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    sampler.stop.set()
    sampler.join()

    final = guard.spent_on("site-a", DAY)
    assert all(p.exitcode == 0 for p in procs)
    assert final <= LIMIT and sampler.highest <= LIMIT
    assert final == sum(r[0] for r in results)
    refused = sum(r[2] for r in results)
    assert refused > 0 and sum(r[1] for r in results) > 0
    assert CostLedger(store, clock=lambda: NOON).day("site-a", DAY).refusals == refused
    store.close()
