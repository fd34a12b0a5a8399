"""/healthz, /readyz (storage, cache, queue, breakers) and /metrics (Prometheus text)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from connect_app.errors import StorageError
from connect_app.ops.breaker import BreakerRegistry
from connect_app.ops.metrics import Metrics
from connect_app.storage.disk import DiskStore
from connect_app.web.errors import register_error_handlers
from connect_app.web.ops import build_ops_blueprint


class Queue:
    def __init__(self) -> None:
        self.fail = False
        self.pending = 3

    def ping(self) -> bool:
        if self.fail:
            raise StorageError("queue db locked")
        return True

    def depth(self) -> int:
        return self.pending

    def live_workers(self) -> int:
        if self.fail:
            raise StorageError("queue db locked")
        return 2


class FlakyStore:
    def __init__(self, inner) -> None:
        self.inner, self.fail = inner, False

    def ping(self) -> bool:
        if self.fail:
            raise StorageError("disk gone")
        return self.inner.ping()


@pytest.fixture
def svc(tmp_path):
    durable = DiskStore(tmp_path / "store")
    cache = DiskStore(tmp_path / "cache", evicting=True)
    services = SimpleNamespace(
        settings=SimpleNamespace(),
        stores=SimpleNamespace(durable=FlakyStore(durable), cache=FlakyStore(cache)),
        queue=Queue(),
        manager=SimpleNamespace(available=True),
        metrics=Metrics(durable),
        breakers=BreakerRegistry(durable, failure_threshold=1),
    )
    yield services
    durable.close()
    cache.close()


@pytest.fixture
def client(svc):
    app = Flask(__name__)
    app.extensions["jira_ai"] = svc
    register_error_handlers(app)
    app.register_blueprint(build_ops_blueprint())
    return app.test_client()


def trip(svc, name: str) -> None:
    breaker = svc.breakers.get(name)
    breaker.before_call()
    breaker.record_failure()


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_ready(client, svc):
    svc.breakers.get("llm")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {"storage": "ok", "cache": "ok", "queue": "ok", "llm": "configured"}
    assert body["breakers"] == {"llm": "closed", "jira": {"closed": 0, "open": 0, "half_open": 0}}
    assert body["workers"] == 2


def test_open_llm_breaker_is_degraded_but_ready(client, svc):
    trip(svc, "llm")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded" and body["checks"]["llm"] == "circuit_open"


def test_open_jira_breakers_are_counted_without_naming_sites(client, svc):
    trip(svc, "jira:secret-tenant-key")
    svc.breakers.get("jira:other-tenant")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["breakers"]["jira"] == {"closed": 1, "open": 1, "half_open": 0}
    assert "secret-tenant-key" not in response.get_data(as_text=True)


def test_offline_llm_is_ready(client, svc):
    svc.manager = SimpleNamespace(available=False)
    trip(svc, "llm")
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["checks"]["llm"] == "offline"


@pytest.mark.parametrize("part", ["durable", "cache", "queue"])
def test_failing_storage_cache_or_queue_is_not_ready(client, svc, part):
    if part == "queue":
        svc.queue.fail = True
    else:
        getattr(svc.stores, part).fail = True
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready"
    assert "failing" in body["checks"].values()
    assert "disk gone" not in response.get_data(as_text=True)


def test_metrics_exposition_with_breakers_and_queue_depth(client, svc):
    svc.metrics.record_pipeline_execution(intent="summary", total_ms=12.5, success=True)
    svc.metrics.record_error("jira_unavailable")
    trip(svc, "llm")
    svc.breakers.get("jira:t1")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(response.get_data(as_text=True)) for s in f.samples}
    assert got[("jira_ai_requests_total", (("intent", "summary"), ("status", "ok")))] == 1
    assert got[("jira_ai_errors_total", (("code", "jira_unavailable"),))] == 1
    assert got[("jira_ai_breaker_state", (("name", "llm"),))] == 2
    assert got[("jira_ai_breaker_state", (("name", "jira:t1"),))] == 0
    assert got[("jira_ai_queue_depth", ())] == 3


def test_metrics_negotiates_openmetrics(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")


def test_metrics_scrape_survives_a_failing_breaker_store(client, svc):
    svc.breakers = SimpleNamespace(snapshots=lambda: (_ for _ in ()).throw(StorageError("gone")))
    svc.queue.depth = lambda: (_ for _ in ()).throw(StorageError("gone"))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"jira_ai_breaker_state" not in response.data and b"jira_ai_requests_total" in response.data
    assert client.get("/readyz").get_json()["checks"]["breakers"] == "failing"


def test_metrics_token_when_configured(client, svc):
    svc.settings = SimpleNamespace(metrics_token="scrape-token-123")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"}).status_code == 200


def test_metrics_not_enabled(client, svc):
    del svc.metrics
    assert client.get("/metrics").status_code == 404


def test_an_unknown_worker_count_is_reported_as_null(client, svc):
    svc.queue.fail = True
    body = client.get("/readyz").get_json()
    assert body["workers"] is None and body["checks"]["queue"] == "failing"
