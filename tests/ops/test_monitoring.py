"""The monitor: health from shared error rates, breakers and the queue; performance; cost analysis."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connect_app.errors import BadRequestError, StorageError
from connect_app.ops.breaker import BreakerRegistry
from connect_app.ops.metrics import Metrics
from connect_app.ops.monitoring import Monitor
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettingsRepo

NOW = datetime(2025, 2, 20, 12, 15, tzinfo=UTC).timestamp()  # February 2025: 28 days
DAY = 86_400


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "kv")
    yield s
    s.close()


@pytest.fixture
def parts(store, clock, settings):
    depth = {"value": 0}
    metrics = Metrics(store, clock=clock)
    ledger = CostLedger(store, clock=clock)
    breakers = BreakerRegistry(store, failure_threshold=1, clock=clock)
    site_settings = SiteSettingsRepo(store)
    monitor = Monitor(metrics, ledger, breakers, lambda: depth["value"], settings, site_settings, clock=clock,
                      queue_warn_depth=10)
    return {"metrics": metrics, "ledger": ledger, "breakers": breakers, "monitor": monitor, "depth": depth,
            "site_settings": site_settings}


def requests(metrics: Metrics, ok: int, failed: int, code: str = "llm_error") -> None:
    for _ in range(ok):
        metrics.record_pipeline_execution(intent="summary", total_ms=50, success=True)
    for _ in range(failed):
        metrics.record_pipeline_execution(intent="summary", total_ms=50, success=False, error_code=code)


# -- health ----------------------------------------------------------------------------------------


def test_healthy_without_traffic(parts):
    health = parts["monitor"].health_status()
    assert health["status"] == "healthy" and health["reasons"] == []
    assert health["checks"] == {"storage": "ok"}
    assert health["error_rate"]["rate"] is None and health["error_rate"]["threshold"] == 0.1
    assert health["queue"] == {"depth": 0, "warn_at": 10, "workers": None}


def test_error_rate_degrades_then_makes_unhealthy(parts):
    requests(parts["metrics"], ok=18, failed=2)  # 10%: at the threshold, not above
    assert parts["monitor"].health_status()["status"] == "healthy"
    requests(parts["metrics"], ok=0, failed=1)  # 3/21 = 14%
    health = parts["monitor"].health_status()
    assert health["status"] == "degraded" and "above the threshold" in health["reasons"][0]
    requests(parts["metrics"], ok=0, failed=3)  # 6/24 = 25%
    assert parts["monitor"].health_status()["status"] == "unhealthy"


def test_few_requests_do_not_decide_the_status(parts):
    requests(parts["metrics"], ok=0, failed=4)
    health = parts["monitor"].health_status()
    assert health["status"] == "healthy" and health["error_rate"]["rate"] == 1.0


def test_the_previous_hour_counts_for_its_share_of_the_last_60_minutes(parts, clock):
    clock.now = NOW - 3600  # 11:15
    requests(parts["metrics"], ok=0, failed=20)
    clock.now = NOW  # 12:15: three quarters of 11:xx is within the last hour
    requests(parts["metrics"], ok=5, failed=0)
    rate = parts["monitor"].health_status()["error_rate"]
    assert rate["requests"] == 20 and rate["failed"] == 15 and rate["rate"] == 0.75
    clock.now = NOW + 3600 * 2
    assert parts["monitor"].health_status()["error_rate"]["requests"] == 0


def test_open_breaker_and_deep_queue_degrade(parts):
    llm = parts["breakers"].get("llm")
    llm.before_call()
    llm.record_failure()
    parts["depth"]["value"] = 12
    health = parts["monitor"].health_status()
    assert health["status"] == "degraded"
    assert "circuit llm is open" in health["reasons"] and "12 jobs are waiting" in health["reasons"]
    assert [b["name"] for b in health["breakers"]] == ["llm"]


def test_jobs_waiting_without_a_live_worker_degrade(parts, settings, clock):
    m = parts
    alive = {"n": 0}
    monitor = Monitor(m["metrics"], m["ledger"], m["breakers"], lambda: m["depth"]["value"], settings,
                      m["site_settings"], live_workers=lambda: alive["n"], clock=clock)
    health = monitor.health_status()
    assert health["status"] == "healthy" and health["queue"]["workers"] == 0  # nothing waits: fine
    m["depth"]["value"] = 2
    health = monitor.health_status()
    assert health["status"] == "degraded"
    assert "2 job(s) waiting and no job worker is running" in health["reasons"]
    alive["n"] = 1
    assert monitor.health_status()["status"] == "healthy"


def test_failing_storage_or_queue_is_unhealthy(parts, settings, clock):
    def down():
        raise StorageError("disk gone")

    def no_queue():
        raise StorageError("queue db locked")

    m = parts
    monitor = Monitor(m["metrics"], m["ledger"], m["breakers"], no_queue, settings, m["site_settings"],
                      pings={"storage": down}, soft_pings={"cache": lambda: True}, clock=clock)
    health = monitor.health_status()
    assert health["status"] == "unhealthy"
    assert health["checks"] == {"storage": "failing", "cache": "ok"}
    assert "storage is failing" in health["reasons"] and health["queue"]["depth"] is None


def test_recent_errors_hold_codes_and_times_only(parts):
    requests(parts["metrics"], ok=0, failed=1, code="jira_forbidden")
    parts["metrics"].record_error("budget_exceeded")
    errors = parts["monitor"].health_status()["recent_errors"]
    assert [e["code"] for e in errors] == ["budget_exceeded", "jira_forbidden"]
    assert errors[0] == {"code": "budget_exceeded", "at": "2025-02-20T12:15:00Z", "intent": None}
    assert errors[1]["intent"] == "summary"


# -- performance -----------------------------------------------------------------------------------


def test_performance_has_percentiles_per_stage_throughput_and_queue(parts, store, clock):
    worker = Metrics(DiskStore(store.directory), clock=clock)  # another process
    for ms in (10, 20, 30, 40):
        worker.record_stage("context", ms, True)
    for ms in (800, 900, 1500, 4000):
        worker.record_stage("generate", ms, True)
    worker.record_api_call(model="gpt-4o-mini", intent="summary", prompt_tokens=1, completion_tokens=1,
                           cost_micros=1, latency_ms=700, success=True)
    requests(worker, ok=3, failed=1)
    clock.now -= 3600
    requests(worker, ok=2, failed=0)
    clock.now += 3600
    parts["depth"]["value"] = 4
    perf = parts["monitor"].performance(hours=3)
    assert set(perf["stages"]) == {"context", "generate"}
    ctx, gen = perf["stages"]["context"], perf["stages"]["generate"]
    assert ctx["count"] == 4 and 10 <= ctx["p50_ms"] <= 25 and ctx["p95_ms"] <= 50
    assert gen["p50_ms"] <= 1000 < gen["p95_ms"] <= 5000
    assert perf["llm"]["count"] == 1 and perf["pipeline"]["count"] == 6
    assert [row["requests"] for row in perf["throughput"]] == [0, 2, 4]
    assert perf["throughput"][-1] == {"hour": "2025-02-20T12:00Z", "requests": 4, "failed": 1, "llm_calls": 1}
    assert perf["requests"] == 6 and perf["requests_per_hour"] == 2.0 and perf["queue_depth"] == 4


# -- cost ------------------------------------------------------------------------------------------


def test_cost_analysis_today_7_and_30_days_budget_projection_savings(parts, clock):
    ledger = parts["ledger"]
    site = "tenant-a"
    parts["site_settings"].update(site, {"daily_limit_usd": 2.0, "alert_percentage": 50})
    for back in range(30):  # 10 000 micros a day for 30 days, two intents, two models
        day = datetime.fromtimestamp(NOW - back * DAY, UTC).strftime("%Y-%m-%d")
        ledger.record_call(tenant_id=site, intent="summary", model="gpt-4o-mini", cost_micros=6_000,
                           prompt_tokens=1000, completion_tokens=100, cached_tokens=0, day=day)
        ledger.record_call(tenant_id=site, intent="email", model="gpt-4o", cost_micros=4_000,
                           prompt_tokens=500, completion_tokens=50, cached_tokens=100, day=day)
    ledger.record_call(tenant_id=site, intent="summary", model="gpt-4o-mini", cost_micros=40_000,
                       prompt_tokens=1, completion_tokens=1, cached_tokens=0, day="2025-01-01")  # outside
    ledger.record_cache_hit(tenant_id=site, intent="summary", model="gpt-4o-mini", saved_micros=6_000,
                            layer="exact")
    ledger.record_cache_miss(tenant_id=site, intent="email", layer="exact")
    ledger.record_refusal(tenant_id=site, intent="email", reason="budget_exceeded")
    ledger.record_alert(tenant_id=site, percent=50.0, spent_micros=1_000_000, limit_micros=2_000_000)
    ledger.record_call(tenant_id="tenant-b", intent="summary", model="gpt-4o", cost_micros=999_999,
                       prompt_tokens=1, completion_tokens=1, cached_tokens=0)  # another site

    report = parts["monitor"].cost_analysis(site)
    assert report["day"] == "2025-02-20"
    assert report["today"]["cost_micros"] == 10_000 and report["today"]["calls"] == 2
    assert report["last_7_days"]["cost_micros"] == 70_000
    assert report["last_30_days"]["cost_micros"] == 300_000 and report["last_30_days"]["calls"] == 60
    assert report["last_30_days"]["by_intent"]["summary"]["cost_micros"] == 180_000
    assert report["last_30_days"]["by_model"]["gpt-4o"]["cost_micros"] == 120_000
    assert report["last_7_days"]["tokens"] == {"cached": 700, "completion": 1050, "prompt": 10_500}
    assert report["budget"] == {"limit_micros": 2_000_000, "limit_usd": 2.0, "spent_micros": 10_000,
                                "left_micros": 1_990_000, "left_usd": 1.99, "used_percent": 0.5,
                                "alert_percentage": 50.0, "alert_at_micros": 1_000_000}
    assert report["projection"] == {"trailing_7_day_avg_micros": 10_000, "days_in_month": 28,
                                    "projected_month_micros": 280_000, "projected_month_usd": 0.28}
    assert report["cache_savings"]["today_micros"] == 6_000 and report["cache_savings"]["last_30_days_micros"] == 6_000
    assert report["today"]["cache_hits"] == 1 and report["today"]["cache_misses"] == 1
    assert report["refusals"]["today"] == 1 and report["refusals"]["by_reason_30_days"] == {"budget_exceeded": 1}
    assert len(report["alerts"]["today"]) == 1 and report["alerts"]["last_30_days"][0]["day"] == "2025-02-20"
    assert len(report["daily"]) == 30 and report["daily"][0]["day"] == "2025-01-22"
    json.dumps(report)  # JSON-ready


def test_cost_analysis_defaults_and_a_quiet_site(parts):
    report = parts["monitor"].cost_analysis("quiet-site")
    assert report["today"]["cost_micros"] == 0 and report["projection"]["projected_month_micros"] == 0
    assert report["budget"]["limit_micros"] == 5_000_000 and report["budget"]["alert_at_micros"] == 4_000_000
    with pytest.raises(BadRequestError):
        parts["monitor"].cost_analysis("  ")
