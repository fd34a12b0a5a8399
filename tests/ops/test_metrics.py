"""Metrics: the original API, exact totals under concurrency, bounded records, shared aggregates."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connect_app.errors import BadRequestError, ConfigError, StorageError
from connect_app.llm.manager import CallRecord
from connect_app.ops.metrics import LATENCY_BUCKETS_MS, Metrics, label, percentile
from connect_app.storage.disk import DiskStore

T0 = datetime(2025, 3, 10, 14, 30, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "kv")
    yield s
    s.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def metrics(store, clock):
    return Metrics(store, max_records=1000, clock=clock)


def sample(m: Metrics, name: str, labels: dict | None = None) -> float | None:
    return m.prom.registry.get_sample_value(name, labels or {})


# -- the original API ------------------------------------------------------------------------------


def test_records_requests_calls_cache_events_and_errors(metrics):
    metrics.record_classification("summary", 0.9, "rules", 1.5)
    metrics.record_classification("email", 0.7, "llm", 420.0)
    metrics.record_api_call(model="gpt-4o-mini", intent="summary", prompt_tokens=1200, completion_tokens=300,
                            cost_micros=360, latency_ms=800, success=True)
    metrics.record_api_call(model="gpt-4o-mini", intent="email", prompt_tokens=0, completion_tokens=0,
                            cost_micros=0, latency_ms=30_000, success=False, error_code="llm_timeout")
    metrics.record_pipeline_execution(intent="summary", total_ms=1500, success=True,
                                      stages={"context": 100.0, "generate": 1200.0})
    metrics.record_pipeline_execution(intent="email", total_ms=31_000, success=False, error_code="llm_timeout")
    metrics.record_cache_event(layer="exact", event="miss")
    metrics.record_cache_event(layer="exact", event="store")
    metrics.record_cache_event(layer="exact", event="hit", saved_micros=360)
    metrics.record_cache_event(layer="semantic", event="miss")
    metrics.record_error("jira_unavailable")
    metrics.record_budget_refusal("tenant-1")
    metrics.record_cost_alert("tenant-1")

    stats = metrics.get_stats()
    assert stats["requests"] == {"total": 2, "succeeded": 1, "failed": 1, "success_rate": 0.5, "error_rate": 0.5,
                                 "by_intent": {"email": 1, "summary": 1}}
    assert stats["errors"]["by_code"] == {"jira_unavailable": 1, "llm_timeout": 1}
    assert [e["code"] for e in stats["errors"]["recent"]] == ["jira_unavailable", "llm_timeout"]
    assert stats["classifications"]["total"] == 2
    assert stats["classifications"]["by_source"] == {"llm": 1, "rules": 1}
    assert stats["classifications"]["avg_confidence"] == 0.8
    api = stats["api_calls"]
    assert (api["total"], api["failed"], api["prompt_tokens"], api["completion_tokens"]) == (2, 1, 1200, 300)
    assert api["cost_micros"] == 360 and api["cost_usd"] == 0.00036
    assert api["errors_by_code"] == {"llm_timeout": 1}
    assert stats["budget_refusals"] == 1 and stats["cost_alerts"] == 1
    assert stats["latency_ms"]["llm"]["count"] == 2
    assert stats["process"]["records"]["pipelines"] == 2

    cache = metrics.get_cache_stats()
    assert cache["hits"] == 1 and cache["misses"] == 2 and cache["stores"] == 1
    assert cache["hit_rate"] == round(1 / 3, 4) and cache["saved_micros"] == 360
    assert cache["layers"]["exact"] == {"hit": 1, "miss": 1, "store": 1, "saved_micros": 360,
                                        "hit_rate": 0.5, "saved_usd": 0.00036}
    assert cache["layers"]["semantic"]["hit_rate"] == 0.0

    daily = metrics.get_daily_cost()
    assert daily["date"] == "2025-03-10" and daily["cost_micros"] == 360 and daily["api_calls"] == 2
    assert daily["by_model"]["gpt-4o-mini"] == {"calls": 2, "cost_micros": 360, "cost_usd": 0.00036}
    assert daily["by_intent"]["summary"]["cost_micros"] == 360

    assert sample(metrics, "jira_ai_requests_total", {"intent": "summary", "status": "ok"}) == 1
    assert sample(metrics, "jira_ai_requests_total", {"intent": "email", "status": "error"}) == 1
    assert sample(metrics, "jira_ai_llm_calls_total", {"model": "gpt-4o-mini", "status": "error"}) == 1
    assert sample(metrics, "jira_ai_llm_cost_usd_total", {"model": "gpt-4o-mini"}) == pytest.approx(0.00036)
    assert sample(metrics, "jira_ai_cache_events_total", {"layer": "exact", "event": "hit"}) == 1
    assert sample(metrics, "jira_ai_errors_total", {"code": "llm_timeout"}) == 1
    assert sample(metrics, "jira_ai_budget_refusals_total") == 1
    assert sample(metrics, "jira_ai_cost_alerts_total") == 1


def test_stage_observer_and_llm_observer(metrics):
    for ms in (10, 20, 30, 40, 900):
        metrics.record_stage("generate", ms, True)
    metrics.record_stage("post", 5, False)
    metrics.observe_llm_call(CallRecord("t1", "summary", "gpt-4o", "openai", ok=True, prompt_tokens=10,
                                        completion_tokens=5, latency_ms=250.0, extra={"cost_micros": 77}))
    lat = metrics.stage_latency()
    assert lat["generate"]["count"] == 5 and lat["generate"]["p50_ms"] == pytest.approx(31.25)  # interpolated in (25, 50]
    assert lat["post"]["count"] == 1
    assert metrics.get_daily_cost()["by_model"]["gpt-4o"]["cost_micros"] == 77
    assert sample(metrics, "jira_ai_stage_seconds_count", {"stage": "generate"}) == 5
    assert metrics.get_stats()["latency_ms"]["llm"]["count"] == 1


def test_hourly_stats_roll_over_by_utc_hour(metrics, clock):
    metrics.record_pipeline_execution(intent="summary", total_ms=100, success=True)
    clock.now += 3600
    metrics.record_pipeline_execution(intent="summary", total_ms=300, success=False, error_code="reply_invalid")
    metrics.record_cache_event(layer="exact", event="hit")
    rows = metrics.get_hourly_stats(3)
    assert [r["hour"] for r in rows] == ["2025-03-10T13:00Z", "2025-03-10T14:00Z", "2025-03-10T15:00Z"]
    assert [r["requests"] for r in rows] == [0, 1, 1]
    assert rows[2]["failed"] == 1 and rows[2]["errors"] == 1 and rows[2]["cache_hits"] == 1
    assert rows[1]["avg_latency_ms"] == 100.0 and rows[0]["avg_latency_ms"] is None
    assert metrics.get_stats(hours=1)["requests"]["total"] == 1


def test_percentiles_from_fixed_buckets():
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    assert percentile(counts, 0.5) is None
    counts[LATENCY_BUCKETS_MS.index(100.0)] = 10  # ten values in (50, 100]
    assert percentile(counts, 0.5) == 75.0
    assert percentile(counts, 0.95) == pytest.approx(97.5)
    counts[-1] = 90  # slower than the largest bound
    assert percentile(counts, 0.95) == LATENCY_BUCKETS_MS[-1]


# -- concurrency and bounds ------------------------------------------------------------------------


def test_totals_are_exact_under_concurrency_and_records_bounded(store, clock):
    m = Metrics(store, max_records=50, clock=clock)
    threads, per_thread = 8, 25

    def work(n):
        for i in range(per_thread):
            m.record_pipeline_execution(intent="summary" if i % 2 else "email", total_ms=10.0 + i,
                                        success=i % 5 != 0, error_code=None if i % 5 else "llm_error")
            m.record_api_call(model="gpt-4o-mini", intent="summary", prompt_tokens=100, completion_tokens=10,
                              cost_micros=7, latency_ms=5.0, success=True)
            m.record_cache_event(layer="exact", event="hit", saved_micros=3)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = threads * per_thread
    stats = m.get_stats()
    assert stats["requests"]["total"] == total
    assert stats["requests"]["failed"] == threads * 5
    assert stats["errors"]["by_code"] == {"llm_error": threads * 5}
    assert stats["api_calls"]["total"] == total and stats["api_calls"]["cost_micros"] == 7 * total
    assert stats["api_calls"]["prompt_tokens"] == 100 * total
    assert stats["cache"]["hits"] == total and stats["cache"]["saved_micros"] == 3 * total
    assert stats["latency_ms"]["pipeline"]["count"] == total
    assert sum(sample(m, "jira_ai_requests_total", {"intent": i, "status": s}) or 0
               for i in ("summary", "email") for s in ("ok", "error")) == total
    assert sample(m, "jira_ai_llm_cost_usd_total", {"model": "gpt-4o-mini"}) == pytest.approx(7 * total / 1e6)
    assert sample(m, "jira_ai_pipeline_seconds_count") == total
    sizes = stats["process"]["records"]
    assert sizes["pipelines"] == 50 and sizes["api_calls"] == 50 and sizes["cache_events"] == 50
    assert len(m.records("pipelines")) == 50


def test_shared_aggregates_are_visible_from_another_instance(store, clock):
    worker = Metrics(store, clock=clock)
    web = Metrics(DiskStore(store.directory), clock=clock)  # another process's handle on the same store
    for ms in (100, 200, 300):
        worker.record_stage("generate", ms, True)
    worker.record_pipeline_execution(intent="summary", total_ms=700, success=False, error_code="jira_forbidden")
    web.record_stage("generate", 2000, True)
    stats = web.get_stats()
    assert stats["requests"]["total"] == 1 and stats["errors"]["by_code"] == {"jira_forbidden": 1}
    assert web.stage_latency()["generate"]["count"] == 4
    assert worker.stage_latency() == web.stage_latency()
    assert web.recent_errors()[0]["code"] == "jira_forbidden"
    assert stats["process"]["records"]["pipelines"] == 0  # the raw records stay in the worker


def test_recent_errors_keep_codes_and_times_only(metrics, clock):
    for i in range(70):
        clock.now += 1
        metrics.record_error(f"code_{i}")
    recent = metrics.recent_errors(5)
    assert [e["code"] for e in recent] == [f"code_{i}" for i in range(69, 64, -1)]
    assert set(recent[0]) == {"code", "at", "intent"} and recent[0]["at"] == clock.now


# -- failures and bad input ------------------------------------------------------------------------


class BrokenStore:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StorageError("disk gone")

        return fail


def test_a_failing_store_never_breaks_recording(clock, caplog):
    m = Metrics(BrokenStore(), clock=clock)
    m.record_pipeline_execution(intent="summary", total_ms=5, success=False, error_code="llm_error")
    m.record_api_call(model="m", intent="summary", prompt_tokens=1, completion_tokens=1, cost_micros=1,
                      latency_ms=1, success=True)
    stats = m._process_stats()
    assert stats["store_failures"] >= 2 and stats["records"]["pipelines"] == 1
    assert sample(m, "jira_ai_requests_total", {"intent": "summary", "status": "error"}) == 1
    assert len([r for r in caplog.records if "shared store" in r.getMessage()]) == 1
    assert m.recent_errors() == []


@pytest.mark.parametrize(("call", "kwargs"), [
    ("record_classification", {"intent": "", "confidence": 0.5, "source": "rules", "latency_ms": 1}),
    ("record_classification", {"intent": "x", "confidence": 1.5, "source": "rules", "latency_ms": 1}),
    ("record_api_call", {"model": "m", "intent": "i", "prompt_tokens": -1, "completion_tokens": 0,
                         "cost_micros": 0, "latency_ms": 1, "success": True}),
    ("record_api_call", {"model": "m", "intent": "i", "prompt_tokens": 1, "completion_tokens": 0,
                         "cost_micros": 0.5, "latency_ms": 1, "success": True}),
    ("record_pipeline_execution", {"intent": "x", "total_ms": float("nan"), "success": True}),
    ("record_cache_event", {"layer": "exact", "event": "evict"}),
    ("record_stage", {"stage": "x", "latency_ms": -1, "ok": True}),
])
def test_bad_input_is_a_clear_error(metrics, call, kwargs):
    with pytest.raises(BadRequestError):
        getattr(metrics, call)(**kwargs)


def test_bad_configuration_and_queries(store):
    with pytest.raises(ConfigError):
        Metrics(store, max_records=0)
    m = Metrics(store)
    with pytest.raises(BadRequestError):
        m.get_hourly_stats(0)
    with pytest.raises(BadRequestError):
        m.get_daily_cost("yesterday")
    with pytest.raises(BadRequestError):
        m.records("nope")


def test_labels_are_bounded_and_safe():
    assert label("gpt-4.1-mini") == "gpt-4.1-mini"
    assert label("a b|c\n") == "a_b_c"
    assert label(None) == "unknown"
    assert len(label("x" * 500)) == 80


# -- Prometheus ------------------------------------------------------------------------------------


def test_exposition_uses_its_own_registry_not_the_global_one(store):
    a, b = Metrics(store), Metrics(store)  # two objects in one process: no duplicate registration
    a.record_pipeline_execution(intent="summary", total_ms=5, success=True)
    body, content_type = a.exposition()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["jira_ai_requests"].samples[0].value == 1
    assert {"jira_ai_stage_seconds", "jira_ai_llm_calls", "jira_ai_cache_events", "jira_ai_errors",
            "jira_ai_budget_refusals", "jira_ai_cost_alerts", "jira_ai_llm_cost_usd"} <= set(families)
    assert b.prom.registry.get_sample_value("jira_ai_requests_total", {"intent": "summary", "status": "ok"}) is None
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("jira_ai") for name in global_names)
    open_metrics, ctype = a.exposition(accept="application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text") and open_metrics.rstrip().endswith(b"# EOF")
