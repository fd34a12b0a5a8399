"""Every error the web layer answers is counted once, by its stable code, with nothing secret in the label."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask, request
from prometheus_client.parser import text_string_to_metric_families

from connect_app.errors import AuthError, BadRequestError, StorageError
from connect_app.ops.metrics import Metrics
from connect_app.storage.disk import DiskStore
from connect_app.web.errors import register_error_handlers

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.s1gnatureS3cret"
SECRET = "sk-live-secret-0123456789"


def errors_total(metrics: Metrics) -> dict[str, float]:
    body, _ = metrics.exposition()
    return {
        s.labels["code"]: s.value
        for family in text_string_to_metric_families(body.decode())
        if family.name == "jira_ai_errors"
        for s in family.samples
        if s.name == "jira_ai_errors_total"
    }


def build_app(services) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=100)
    app.extensions["jira_ai"] = services
    register_error_handlers(app)

    @app.post("/auth")
    def auth():
        raise AuthError(f"bad token {request.headers.get('Authorization')}")

    @app.post("/json")
    def body():
        return {"got": request.get_json()}

    @app.post("/typed")
    def typed():
        raise BadRequestError(f"field 'secret' is {SECRET}")

    @app.get("/crash")
    def crash():
        raise RuntimeError(f"boom {SECRET}")

    @app.get("/storage")
    def storage():
        raise StorageError("disk gone")

    @app.get("/weird-code")
    def weird():
        raise AuthError("no", code=f"token {TOKEN}")  # a code built from data never becomes a label

    @app.get("/deep")
    def deep():
        raise RecursionError("not from the JSON decoder")

    return app


@pytest.fixture
def metrics(tmp_path):
    store = DiskStore(tmp_path / "store")
    yield Metrics(store)
    store.close()


@pytest.fixture
def client(metrics):
    return build_app(SimpleNamespace(metrics=metrics)).test_client()


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (lambda c: c.post("/auth", headers={"Authorization": f"JWT {TOKEN}"}), 401, "auth_failed"),
        (lambda c: c.post("/json", data="{not json", content_type="application/json"), 400, "bad_request"),
        (lambda c: c.post("/typed"), 400, "bad_request"),
        (lambda c: c.post("/json", data="x" * 500, content_type="application/json"), 413,
         "payload_too_large"),
        (lambda c: c.get("/crash"), 500, "internal_error"),
        (lambda c: c.get("/deep"), 500, "internal_error"),
        (lambda c: c.get("/storage"), 503, "storage_error"),
        (lambda c: c.get("/nowhere"), 404, "not_found"),
        (lambda c: c.delete("/crash"), 405, "method_not_allowed"),
    ],
    ids=["401", "400-json", "400-typed", "413", "500", "500-recursion", "503", "404", "405"],
)
def test_each_error_is_counted_once_by_its_code(client, metrics, call, status, code):
    res = call(client)
    assert res.status_code == status
    assert res.get_json()["error"] == code  # the body and the metric use the same stable code
    assert errors_total(metrics) == {code: 1.0}
    assert [r["code"] for r in metrics.records("errors")] == [code]


def test_a_nested_json_body_counts_as_bad_request(client, metrics):
    res = client.post("/json", data="[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert res.status_code in (400, 413)
    assert errors_total(metrics) == {res.get_json()["error"]: 1.0}


def test_no_token_or_secret_reaches_the_labels(client, metrics):
    client.post("/auth", headers={"Authorization": f"JWT {TOKEN}"})
    client.post("/typed")
    client.get("/crash")
    res = client.get("/weird-code")
    assert res.status_code == 401 and res.get_json()["error"] == "auth_failed"
    body = metrics.exposition()[0].decode()
    for secret in (TOKEN, SECRET, "eyJ", "s1gnature", "sk-live", "boom", "JWT"):
        assert secret not in body
    assert errors_total(metrics) == {"auth_failed": 2.0, "bad_request": 1.0, "internal_error": 1.0}


def test_counting_that_fails_never_hides_the_error(caplog):
    class Broken:
        def record_error(self, code: str) -> None:
            raise OSError(f"metrics store gone while counting {code}")

    client = build_app(SimpleNamespace(metrics=Broken())).test_client()
    res = client.post("/auth", headers={"Authorization": f"JWT {TOKEN}"})
    assert res.status_code == 401 and res.get_json()["error"] == "auth_failed"
    assert client.get("/crash").status_code == 500
    assert "could not count error auth_failed: OSError" in caplog.text


@pytest.mark.parametrize("services", [None, SimpleNamespace()], ids=["no-services", "no-metrics"])
def test_an_app_without_metrics_still_answers(services):
    app = build_app(services)
    if services is None:
        del app.extensions["jira_ai"]
    res = app.test_client().post("/auth")
    assert res.status_code == 401 and res.get_json()["error"] == "auth_failed"
