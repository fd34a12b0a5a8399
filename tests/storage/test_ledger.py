"""Cost ledger: per site, per UTC day, per intent and model; atomic under threads; indexed, never scanned."""

import calendar
import threading
import time

import pytest

from connect_app.errors import BadRequestError
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger, DaySummary, previous_days, utc_day

DAY1 = "2026-11-22"
DAY2 = "2026-11-23"
NOON_DAY2 = calendar.timegm(time.strptime(DAY2, "%Y-%m-%d")) + 12 * 3600


class NoScanStore(DiskStore):
    """The ledger must read a day through its index keys, never by scanning the store."""

    def scan(self, prefix):
        raise AssertionError(f"the ledger scanned the store for {prefix!r}")


@pytest.fixture
def store(tmp_path):
    s = NoScanStore(tmp_path / "durable")
    yield s
    s.close()


@pytest.fixture
def ledger(store):
    return CostLedger(store, clock=lambda: NOON_DAY2)


def call(ledger, **overrides):
    values = {"tenant_id": "site-a", "intent": "comment_request", "model": "gpt-4o-mini", "cost_micros": 100,
              "prompt_tokens": 400, "completion_tokens": 100, "cached_tokens": 0}
    values.update(overrides)
    ledger.record_call(**values)


def test_day_aggregates_across_intents_and_models(ledger):
    call(ledger)
    call(ledger, cost_micros=250, prompt_tokens=1000, completion_tokens=300, cached_tokens=200)
    call(ledger, intent="summary_request", model="gpt-4.1", cost_micros=900, prompt_tokens=2000,
         completion_tokens=500)
    call(ledger, intent="classification", model="gpt-4.1-nano", cost_micros=3, prompt_tokens=300,
         completion_tokens=20)
    day = ledger.day("site-a")
    assert day.day == DAY2
    assert day.cost_micros == 100 + 250 + 900 + 3
    assert day.calls == 4
    assert day.tokens == {"prompt": 3700, "completion": 920, "cached": 200}
    assert day.by_intent["comment_request"]["cost_micros"] == 350
    assert day.by_intent["comment_request"]["calls"] == 2
    assert day.by_intent["comment_request"]["cached_tokens"] == 200
    assert day.by_model["gpt-4.1"] == {"cost_micros": 900, "calls": 1, "prompt_tokens": 2000,
                                       "completion_tokens": 500, "cached_tokens": 0, "cache_hits": 0,
                                       "saved_micros": 0}
    assert sum(m["cost_micros"] for m in day.by_model.values()) == day.cost_micros
    assert set(day.by_intent) == {"comment_request", "summary_request", "classification"}


def test_days_are_separate_and_range_is_oldest_first_with_quiet_days(ledger):
    call(ledger, day=DAY1, cost_micros=11)
    call(ledger, cost_micros=22)
    days = ledger.range("site-a", 3)
    assert [d.day for d in days] == ["2026-11-21", DAY1, DAY2]
    assert [d.cost_micros for d in days] == [0, 11, 22]
    assert not days[0].active and days[1].active
    assert [d.day for d in ledger.range("site-a", 2, end=DAY1)] == ["2026-11-21", DAY1]


def test_sites_are_separate_and_activity_is_listed_per_day(ledger):
    call(ledger, tenant_id="site-a")
    call(ledger, tenant_id="ari:cloud:ecosystem::installation/1234", cost_micros=7)
    call(ledger, tenant_id="site-c", day=DAY1)
    assert ledger.day("site-a").cost_micros == 100
    assert ledger.day("ari:cloud:ecosystem::installation/1234").cost_micros == 7
    assert ledger.tenants_with_activity() == ["ari:cloud:ecosystem::installation/1234", "site-a"]
    assert ledger.tenants_with_activity(DAY1) == ["site-c"]


def test_cache_hits_misses_savings_refusals_and_alerts(ledger):
    call(ledger)
    ledger.record_cache_hit(tenant_id="site-a", intent="comment_request", model="gpt-4o-mini", saved_micros=80,
                            layer="exact")
    ledger.record_cache_hit(tenant_id="site-a", intent="summary_request", model="gpt-4o-mini", saved_micros=120,
                            layer="semantic")
    ledger.record_cache_miss(tenant_id="site-a", intent="comment_request", layer="exact")
    ledger.record_cache_miss(tenant_id="site-a", intent="comment_request", layer="exact")
    ledger.record_refusal(tenant_id="site-a", intent="email_request", reason="budget_exceeded")
    assert ledger.record_alert(tenant_id="site-a", percent=80.0, spent_micros=4_000_000, limit_micros=5_000_000)
    assert not ledger.record_alert(tenant_id="site-a", percent=80.0, spent_micros=4_500_000,
                                   limit_micros=5_000_000)
    day = ledger.day("site-a")
    assert day.cache == {"exact": {"hits": 1, "misses": 2, "saved_micros": 80},
                         "semantic": {"hits": 1, "misses": 0, "saved_micros": 120}}
    assert (day.cache_hits, day.cache_misses, day.saved_micros) == (2, 2, 200)
    assert day.calls == 1  # cache hits are not model calls
    assert day.by_intent["comment_request"]["cache_misses"] == 2
    assert day.by_model["gpt-4o-mini"]["saved_micros"] == 200
    assert day.refusals == 1 and day.refusals_by_reason == {"budget_exceeded": 1}
    assert day.by_intent["email_request"]["refusals"] == 1
    assert len(day.alerts) == 1 and day.alerts[0]["spent_micros"] == 4_000_000
    data = day.to_dict()
    assert data["cost_usd"] == 0.0001 and data["saved_usd"] == 0.0002 and data["cache_hits"] == 2
    assert data["tokens"] == {"prompt": 400, "completion": 100, "cached": 0}


def test_concurrent_writers_never_lose_a_count(ledger):
    def work(i):
        for _ in range(10):
            call(ledger, intent=f"intent-{i % 3}", model=f"model-{i % 4}", cost_micros=7)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    day = ledger.day("site-a")
    assert day.calls == 120 and day.cost_micros == 840
    assert set(day.by_intent) == {"intent-0", "intent-1", "intent-2"}
    assert set(day.by_model) == {"model-0", "model-1", "model-2", "model-3"}
    assert sum(row["calls"] for row in day.by_model.values()) == 120


def test_index_survives_a_writer_that_died_half_way(ledger, store):
    # a writer that took slot 1 but crashed before writing the name, and one that wrote a duplicate slot
    base = "ledger:site-a:2026-11-23:x:m"
    store.incr(f"{base}:n")
    call(ledger)
    store.set(f"{base}:{store.incr(f'{base}:n')}", "gpt-4o-mini")
    day = ledger.day("site-a")
    assert list(day.by_model) == ["gpt-4o-mini"]
    assert day.by_model["gpt-4o-mini"]["calls"] == 1


def test_bad_input_is_refused(ledger):
    with pytest.raises(BadRequestError):
        call(ledger, cost_micros=-1)
    with pytest.raises(BadRequestError):
        call(ledger, prompt_tokens=1.5)
    with pytest.raises(BadRequestError):
        ledger.day("site-a", "23/11/2026")
    with pytest.raises(BadRequestError):
        ledger.day("site-a", "2026-02-30")
    with pytest.raises(BadRequestError):
        ledger.range("site-a", 0)


def test_day_helpers():
    assert utc_day(NOON_DAY2) == DAY2
    assert previous_days("2026-03-01", 3) == ["2026-02-27", "2026-02-28", "2026-03-01"]
    assert DaySummary("s", DAY1).to_dict()["cost_micros"] == 0
