"""Prometheus multiprocess mode: real processes write to one directory, one scrape sums them all.

The last test runs the shipped deployment (the ``Procfile``'s gunicorn config with two workers and a
``jira-ai worker``) with nothing but ``DATA_DIR`` set. This module imports no prometheus_client at
import time: spawned children import it, and must be free to choose multiprocess mode first.
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

import pytest
import requests

from connect_app.errors import ConfigError
from connect_app.ops import prometheus as prom
from connect_app.ops.metrics import HourlyAggregates, Metrics
from connect_app.settings import Settings
from connect_app.storage.disk import DiskStore


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
    # What a server entry point does: the directory comes from Settings, which exports it (a no-op
    # when the start-up script already did).
    Settings.from_env({}, env_file=None, prometheus_multiproc_dir=Path(mp_dir)).export_prometheus_multiproc_dir()
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
    Settings.from_env({}, env_file=None, prometheus_multiproc_dir=Path(mp_dir)).export_prometheus_multiproc_dir()
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


@pytest.mark.parametrize("exported", [True, False], ids=["exported-by-start-script", "exported-by-settings"])
def test_two_processes_one_directory_one_sum(tmp_path, monkeypatch, exported):
    mp_dir, store_dir = tmp_path / "prom", tmp_path / "kv"
    import prometheus_client.parser  # noqa: F401 - this process parses; imported before the variable is set
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
    settings = Settings.from_env({}, env_file=None, prometheus_multiproc_dir=tmp_path / "mine")
    with pytest.raises(ConfigError, match="same directory"):
        settings.export_prometheus_multiproc_dir()


def test_activating_without_the_exported_variable_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv(prom.ENV_VAR, raising=False)
    if prom.multiprocess_active():
        pytest.skip("this test process is already in multiprocess mode")
    with pytest.raises(ConfigError, match="export it from Settings"):
        prom.activate_multiprocess(tmp_path)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_prepare_keeps_live_processes_files_and_removes_the_rest(tmp_path):
    live, dead = os.getpid(), _dead_pid()
    kinds = ("counter", "histogram", "gauge_livesum", "gauge_all")
    for pid in (live, dead):
        for kind in kinds:
            (tmp_path / f"{kind}_{pid}.db").write_bytes(b"")
    (tmp_path / "counter_notapid.db").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not ours")
    assert prom.prepare_directory(tmp_path) == tmp_path.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{kind}_{live}.db" for kind in kinds] + ["notes.txt"]
    )
    prom.mark_process_dead(live, tmp_path)  # gunicorn's child_exit: the live gauges of a gone worker
    assert not (tmp_path / f"gauge_livesum_{live}.db").exists()
    assert (tmp_path / f"counter_{live}.db").exists()
    assert prom.prepare_directory(tmp_path / "new" / "dir").is_dir()


def test_share_directory_defaults_to_data_dir_and_exports_it(tmp_path, monkeypatch):
    monkeypatch.setenv(prom.ENV_VAR, "")  # restored after the test: share_directory exports it
    monkeypatch.delenv(prom.ENV_VAR)
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data")}, env_file=None)
    assert settings.prometheus_multiproc_dir is None  # nothing but the servers defaults it
    shared = prom.share_directory(settings)
    expected = (tmp_path / "data" / "prometheus").resolve()
    assert shared.prometheus_multiproc_dir == expected and expected.is_dir()
    assert os.environ[prom.ENV_VAR] == str(expected)
    assert prom.share_directory(shared).prometheus_multiproc_dir == expected  # idempotent


# -- the shipped deployment: two gunicorn workers and a job worker ---------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in procs:
            assert proc.poll() is None, f"{what}: a process exited: {proc.args}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _pids_with_files(mp_dir: Path) -> set[int]:
    return {int(p.stem.rpartition("_")[2]) for p in mp_dir.glob("counter_*.db")}


def _auth_failures_by_pid(mp_dir: Path) -> dict[int, float]:
    """``jira_ai_errors_total{code="auth_failed"}`` in each process's own file."""
    from prometheus_client.multiprocess import MultiProcessCollector

    out: dict[int, float] = {}
    for path in mp_dir.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):
            for s in family.samples:
                if s.name == "jira_ai_errors_total" and s.labels.get("code") == "auth_failed":
                    out[int(path.stem.rpartition("_")[2])] = s.value
    return out


def _start_job_worker(env, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "connect_app.cli", "worker", "--workers", "1"], env=env,
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.e2e
def test_procfile_web_and_worker_share_one_directory_by_default(tmp_path):
    """``web: gunicorn -c python:connect_app.gunicorn_conf ...`` and ``worker: jira-ai worker``, nothing
    set but DATA_DIR: one scrape of either web worker sums both web workers (and the job worker's
    files sit beside theirs). The job worker starts first and is restarted while the web runs."""
    data = tmp_path / "data"
    mp_dir = data / "prometheus"
    mp_dir.mkdir(parents=True)
    (mp_dir / f"counter_{_dead_pid()}.db").write_bytes(b"left over from a previous run")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "LLM_", "REDIS_", prom.ENV_VAR))}
    env.update({"DATA_DIR": str(data), "WEB_WORKERS": "2", "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    job_worker = _start_job_worker(env, tmp_path)
    web = None
    try:
        _wait(lambda: job_worker.pid in _pids_with_files(mp_dir), 60, "the job worker's metric files",
              [job_worker])
        assert len(list(mp_dir.glob("counter_*.db"))) == 1  # the stale file went, the live one stays
        stale = mp_dir / f"counter_{_dead_pid()}.db"
        stale.write_bytes(b"left over too")  # gunicorn's on_starting removes this one

        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:connect_app.gunicorn_conf", "--bind",
             f"127.0.0.1:{port}", "--graceful-timeout", "2", "connect_app:create_app()"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        _wait(lambda: len(_pids_with_files(mp_dir) - {job_worker.pid}) >= 2, 60, "two gunicorn workers",
              [web, job_worker])
        assert not stale.exists() and job_worker.pid in _pids_with_files(mp_dir)

        def unauthorised(_: int) -> int:
            return requests.get(f"{base}/api/ui/panel", timeout=30, headers={"Connection": "close"}).status_code

        hits = 0
        while len(_auth_failures_by_pid(mp_dir)) < 2:  # until both web workers have counted some
            assert hits < 2000, f"one worker answered everything: {_auth_failures_by_pid(mp_dir)}"
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(unauthorised, range(40)))
            assert set(statuses) == {401}
            hits += len(statuses)
        per_pid = _auth_failures_by_pid(mp_dir)
        assert sum(per_pid.values()) == hits and job_worker.pid not in per_pid

        def scraped_total() -> float:
            text = requests.get(f"{base}/metrics", timeout=30, headers={"Connection": "close"}).text
            return samples(text)[("jira_ai_errors_total", (("code", "auth_failed"),))]

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(lambda _: scraped_total(), range(12))) == {hits}  # whichever worker answers

        # A job worker restarted while the web runs: its predecessor's files go, the web's stay.
        old = job_worker.pid
        _stop(job_worker)
        job_worker = _start_job_worker(env, tmp_path)
        _wait(lambda: job_worker.pid in _pids_with_files(mp_dir), 60, "the new job worker's files", [job_worker])
        assert old not in _pids_with_files(mp_dir)
        assert sum(_auth_failures_by_pid(mp_dir).values()) == hits
        assert scraped_total() == hits
    finally:
        _stop(job_worker)
        output = ""
        if web is not None:
            _stop(web)
            output = web.stdout.read().decode(errors="replace")
    assert "Traceback" not in output, output
