"""Prometheus multiprocess mode: real processes write to one directory, one scrape sums them all.

Also serves a tiny app factory (:func:`create_test_app`) that the gunicorn test runs in two workers.
This module imports no prometheus_client at import time: spawned children import it, and must be
free to choose multiprocess mode first.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from connect_app.errors import ConfigError
from connect_app.ops import prometheus as prom
from connect_app.ops.metrics import HourlyAggregates, Metrics
from connect_app.storage.disk import DiskStore

ROOT = Path(__file__).resolve().parents[2]
STORE_ENV = "JIRA_AI_TEST_METRICS_STORE"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# -- children ----------------------------------------------------------------------------------------


def _record(mp_dir: str, store_dir: str, n: int, import_first: bool, out) -> None:
    if import_first:
        import prometheus_client  # noqa: F401 - the library chose its value class before the variable

    store = DiskStore(store_dir)
    first = Metrics(store, multiproc_dir=mp_dir)
    second = Metrics(store, multiproc_dir=mp_dir)  # a second object in the same process shares families
    for i in range(n):
        m = first if i % 2 else second
        m.record_pipeline_execution(intent="summary", total_ms=20.0, success=True)
        m.record_api_call(model="gpt-4o-mini", intent="summary", prompt_tokens=10, completion_tokens=2,
                          cost_micros=1000, latency_ms=15.0, success=True)
    out.put((os.getpid(), first.prom is second.prom, prom.multiprocess_active()))
    store.close()


def _scrape(mp_dir: str, store_dir: str, out) -> None:
    metrics = Metrics(DiskStore(store_dir), multiproc_dir=mp_dir)
    body, content_type = metrics.exposition()
    out.put((body.decode(), content_type))


def _run(ctx, target, *args, timeout: float = 30):
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get(timeout=timeout)
    proc.join(timeout=timeout)
    assert proc.exitcode == 0
    return result


def _record_in_two_processes(ctx, mp_dir, store_dir, *, import_first: tuple[bool, bool]):
    out = ctx.Queue()
    procs = [ctx.Process(target=_record, args=(str(mp_dir), str(store_dir), n, first, out))
             for n, first in zip((7, 5), import_first, strict=True)]
    for p in procs:
        p.start()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


@pytest.mark.parametrize("exported", [True, False], ids=["exported-by-start-script", "set-by-the-app"])
def test_two_processes_one_directory_one_sum(tmp_path, monkeypatch, exported):
    mp_dir, store_dir = tmp_path / "prom", tmp_path / "kv"
    if exported:  # the documented way: the start-up script exports it for every child
        mp_dir.mkdir()
        monkeypatch.setenv(prom.ENV_VAR, str(mp_dir))
    else:
        monkeypatch.delenv(prom.ENV_VAR, raising=False)
    ctx = multiprocessing.get_context("spawn")
    results = _record_in_two_processes(ctx, mp_dir, store_dir, import_first=(not exported, False))
    assert len({pid for pid, _, _ in results}) == 2
    assert all(shared and active for _, shared, active in results)
    assert len(list(mp_dir.glob("counter_*.db"))) == 2  # one file per process

    text, content_type = _run(ctx, _scrape, str(mp_dir), str(store_dir))
    assert content_type.startswith("text/plain")
    got = samples(text)
    assert got[("jira_ai_requests_total", (("intent", "summary"), ("status", "ok")))] == 12
    assert got[("jira_ai_llm_calls_total", (("model", "gpt-4o-mini"), ("status", "ok")))] == 12
    assert got[("jira_ai_llm_cost_usd_total", (("model", "gpt-4o-mini"),))] == pytest.approx(0.012)
    assert got[("jira_ai_pipeline_seconds_count", ())] == 12
    assert got[("jira_ai_pipeline_seconds_bucket", (("le", "0.025"),))] == 12
    assert got[("jira_ai_llm_tokens_total", (("kind", "prompt"), ("model", "gpt-4o-mini")))] == 120

    totals = HourlyAggregates(DiskStore(store_dir)).totals(HourlyAggregates(DiskStore(store_dir)).hours(2))
    assert totals["requests"] == 12 and totals["cost_micros"] == 12_000


def test_a_different_exported_directory_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv(prom.ENV_VAR, str(tmp_path / "other"))
    with pytest.raises(ConfigError, match="same directory"):
        prom.activate_multiprocess(tmp_path / "mine")


def test_gunicorn_hooks_wipe_the_directory_and_mark_dead_workers(tmp_path, monkeypatch):
    for name in ("counter_123.db", "histogram_123.db", "gauge_livesum_123.db", "gauge_all_123.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv(prom.ENV_VAR, str(tmp_path))
    prom.gunicorn_child_exit(None, SimpleNamespace(pid=123))
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_123.db", "gauge_all_123.db",
                                                            "histogram_123.db"]
    prom.wipe_directory(tmp_path)
    assert list(tmp_path.glob("*.db")) == []


# -- two real gunicorn workers -------------------------------------------------------------------------


def create_test_app():  # the app factory gunicorn serves in the test below
    """A tiny app: ``/hit`` counts a request, ``/metrics`` is the product's route."""
    from flask import Flask, jsonify

    from connect_app.web.errors import register_error_handlers
    from connect_app.web.ops import build_ops_blueprint

    metrics = Metrics(DiskStore(os.environ[STORE_ENV]), multiproc_dir=os.environ[prom.ENV_VAR])
    app = Flask(__name__)
    app.extensions["jira_ai"] = SimpleNamespace(metrics=metrics)
    register_error_handlers(app)
    app.register_blueprint(build_ops_blueprint())

    @app.before_request
    def slow_down():
        time.sleep(0.05)  # keeps one worker busy so the other answers too

    @app.get("/hit")
    def hit():
        metrics.record_pipeline_execution(intent="summary", total_ms=1.0, success=True)
        return jsonify(pid=os.getpid())

    @app.after_request
    def worker_pid(response):
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response

    return app


GUNICORN_CONFIG = """
from connect_app.ops.prometheus import gunicorn_child_exit as child_exit
from connect_app.ops.prometheus import gunicorn_on_starting as on_starting
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_pid(url: str) -> str | None:
    try:
        return requests.get(url, timeout=5, headers={"Connection": "close"}).headers.get("X-Worker-Pid")
    except (requests.ConnectionError, requests.Timeout):
        return None


def test_two_gunicorn_workers_scrape_the_same_total(tmp_path):
    mp_dir = tmp_path / "prom"
    mp_dir.mkdir()
    (mp_dir / "counter_99999.db").write_bytes(b"left over from a previous run")  # on_starting wipes it
    config = tmp_path / "gunicorn_conf.py"
    config.write_text(GUNICORN_CONFIG)
    port = _free_port()
    env = {**os.environ, prom.ENV_VAR: str(mp_dir), STORE_ENV: str(tmp_path / "kv")}
    cmd = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "-c", str(config),
           "--pythonpath", f"{ROOT},{Path(__file__).parent}", "--graceful-timeout", "2",
           "test_prometheus_multiprocess:create_test_app()"]
    server = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, booted = time.monotonic() + 30, set()
        while len(booted) < 2:  # both workers answer before the counting starts
            assert server.poll() is None, server.stdout.read().decode()
            assert time.monotonic() < deadline, "gunicorn did not start two workers"
            with ThreadPoolExecutor(4) as pool:
                booted |= set(filter(None, pool.map(_worker_pid, [f"{base}/healthz"] * 4)))
            time.sleep(0.05)

        hits = 40

        def get(path):
            response = requests.get(f"{base}{path}", timeout=30, headers={"Connection": "close"})
            assert response.status_code == 200
            return response

        with ThreadPoolExecutor(8) as pool:
            hit_pids = {r.json()["pid"] for r in pool.map(get, ["/hit"] * hits)}
        assert len(hit_pids) == 2  # both workers counted requests

        scrape_pids: set[str] = set()
        for _ in range(5):
            with ThreadPoolExecutor(4) as pool:
                scrapes = list(pool.map(get, ["/metrics"] * 4))
            for r in scrapes:
                total = samples(r.text)[("jira_ai_requests_total", (("intent", "summary"), ("status", "ok")))]
                assert total == hits, f"worker {r.headers['X-Worker-Pid']} scraped {total}"
                scrape_pids.add(r.headers["X-Worker-Pid"])
            if len(scrape_pids) == 2:
                break
        assert len(scrape_pids) == 2  # the same total whichever worker answered
    finally:
        server.terminate()
        output = server.communicate(timeout=15)[0].decode()
    assert "Traceback" not in output, output
