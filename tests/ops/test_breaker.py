"""Circuit breakers: every transition with an injected clock, shared state, concurrent probes, Jira."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time

import pytest
import requests
import responses
from requests.auth import AuthBase

from connect_app.errors import BadRequestError, CircuitOpenError, ConfigError, JiraError, StorageError
from connect_app.jira.client import JiraClient
from connect_app.ops.breaker import BreakerRegistry, CircuitBreaker
from connect_app.storage.disk import DiskStore


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "kv")
    yield s
    s.close()


@pytest.fixture
def clock():
    return Clock()


def make(store, clock, **kw) -> CircuitBreaker:
    params = {"failure_threshold": 3, "window_seconds": 60, "reset_timeout": 30, "clock": clock}
    params.update(kw)
    return CircuitBreaker(store, "llm", **params)


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


# -- closed -> open --------------------------------------------------------------------------------


def test_starts_closed_and_lets_calls_through(store, clock):
    b = make(store, clock)
    assert b.state() == "closed"
    b.before_call()
    b.record_success()
    snap = b.snapshot()
    assert snap["name"] == "llm" and snap["state"] == "closed" and snap["failures"] == 0
    assert snap["opened_at"] is None and snap["next_probe_at"] is None


def test_opens_after_threshold_failures_within_the_window(store, clock):
    b = make(store, clock)
    fail(b, 2)
    assert b.state() == "closed" and b.snapshot()["failures"] == 2
    clock.advance(10)
    fail(b)
    assert b.state() == "open"
    with pytest.raises(CircuitOpenError) as err:
        b.before_call()
    assert err.value.code == "circuit_open" and err.value.http_status == 503
    snap = b.snapshot()
    assert snap["opened_at"] == clock.now and snap["next_probe_at"] == clock.now + 30


def test_failures_spread_beyond_the_window_do_not_open(store, clock):
    b = make(store, clock)
    for _ in range(6):
        fail(b)
        clock.advance(31)  # never 3 failures within 60 s
    assert b.state() == "closed"
    assert b.snapshot()["failures"] == 1  # only the last one is within 60 s now


def test_successes_while_closed_do_not_hide_failures_within_the_window(store, clock):
    b = make(store, clock)
    fail(b, 2)
    for _ in range(5):
        b.before_call()
        b.record_success()
    fail(b)
    assert b.state() == "open"


# -- open -> half-open -> closed / open ------------------------------------------------------------


def test_half_open_after_reset_timeout_then_a_successful_probe_closes(store, clock):
    b = make(store, clock)
    fail(b, 3)
    clock.advance(29.9)
    assert b.state() == "open"
    with pytest.raises(CircuitOpenError):
        b.before_call()
    clock.advance(0.1)
    assert b.state() == "half_open"
    b.before_call()  # the probe
    other = make(DiskStore(store.directory), clock)  # another process sharing the store
    with pytest.raises(CircuitOpenError, match="probe"):
        other.before_call()
    b.record_success()
    assert b.state() == "closed" and other.state() == "closed"
    assert b.snapshot()["failures"] == 0  # a fresh count after closing
    fail(b, 2)
    assert b.state() == "closed"


def test_a_failed_probe_reopens_for_another_reset_timeout(store, clock):
    b = make(store, clock)
    fail(b, 3)
    clock.advance(30)
    b.before_call()
    b.record_failure()
    assert b.state() == "open"
    assert b.snapshot()["next_probe_at"] == clock.now + 30
    with pytest.raises(CircuitOpenError):
        b.before_call()
    clock.advance(30)
    assert b.state() == "half_open"
    b.before_call()
    b.record_success()
    assert b.state() == "closed"


def test_only_the_probe_holder_resolves_the_half_open_state(store, clock):
    b = make(store, clock)
    fail(b, 3)
    clock.advance(30)
    b.record_success()  # a late success from a call let through before the trip
    b.record_failure()  # and a late failure
    assert b.state() == "half_open"


def test_half_open_max_calls_lets_that_many_probes(store, clock):
    b = make(store, clock, half_open_max_calls=2)
    fail(b, 3)
    clock.advance(30)
    results = []

    def probe():
        try:
            b.before_call()
            results.append("probe")
        except CircuitOpenError:
            results.append("refused")

    threads = [threading.Thread(target=probe) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["probe", "probe", "refused", "refused", "refused"]


def test_a_probe_that_never_reports_frees_its_slot_after_probe_timeout(store, clock):
    b = make(store, clock, probe_timeout=0.2)
    fail(b, 3)
    clock.advance(30)
    b.before_call()  # the probe's caller dies without reporting
    other = make(store, clock, probe_timeout=0.2)
    with pytest.raises(CircuitOpenError):
        other.before_call()
    time.sleep(0.3)
    other.before_call()
    other.record_success()
    assert b.state() == "closed"


# -- logging, concurrency, processes ----------------------------------------------------------------


def test_each_transition_is_logged_once_under_concurrency(store, clock, caplog):
    caplog.set_level(logging.WARNING, logger="connect_app.ops.breaker")
    breakers = [make(DiskStore(store.directory), clock) for _ in range(8)]
    barrier = threading.Barrier(8)

    def hammer(b):
        barrier.wait()
        for _ in range(3):
            try:
                b.before_call()
            except CircuitOpenError:
                continue
            b.record_failure()

    threads = [threading.Thread(target=hammer, args=(b,)) for b in breakers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breakers[0].state() == "open"
    opened = [r for r in caplog.records if "opened" in r.getMessage()]
    assert len(opened) == 1
    assert "llm" in opened[0].getMessage()


def test_concurrent_probes_only_one_passes(store, clock):
    b = make(store, clock)
    fail(b, 3)
    clock.advance(30)
    handles = [make(DiskStore(store.directory), clock) for _ in range(12)]
    barrier = threading.Barrier(len(handles))
    after = threading.Barrier(len(handles))
    passed = []

    def probe(h):
        barrier.wait()
        try:
            h.before_call()
            won = True
        except CircuitOpenError:
            won = False
        after.wait()  # everyone has tried before the probe reports
        if won:
            passed.append(h)
            h.record_success()  # the thread holding the probe reports it

    threads = [threading.Thread(target=probe, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 1
    assert b.state() == "closed"


def _probe_in_process(path, now, results):
    s = DiskStore(path)
    b = CircuitBreaker(s, "llm", failure_threshold=3, reset_timeout=30, clock=lambda: now)
    try:
        b.before_call()
        results.put("probe")
    except CircuitOpenError:
        results.put("refused")
    s.close()


def test_concurrent_probes_across_processes_only_one_passes(store, clock):
    fail(make(store, clock), 3)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_probe_in_process, args=(store.directory, clock.now + 31, results))
             for _ in range(3)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["probe", "refused", "refused"]


def test_a_lost_opened_record_is_healed_by_the_first_reader(store, clock):
    b = make(store, clock)
    fail(b, 3)
    for key, _ in list(store.scan("breaker:llm:opened:")):
        store.delete(key)  # the process that tripped died before writing it
    clock.advance(5)
    assert b.state() == "open"
    assert b.snapshot()["opened_at"] == clock.now


class BrokenStore:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StorageError("disk gone")

        return fail


def test_a_failing_store_fails_open_but_state_reports_it(clock, caplog):
    b = CircuitBreaker(BrokenStore(), "llm", failure_threshold=1, clock=clock)
    b.before_call()  # let through
    b.record_failure()
    b.record_success()
    assert any("store unavailable" in r.getMessage() for r in caplog.records)
    with pytest.raises(StorageError):
        b.state()


# -- registry and validation ------------------------------------------------------------------------


def test_registry_shares_instances_defaults_overrides_and_lists_every_name(store, clock):
    reg = BreakerRegistry(store, overrides={"jira:": {"failure_threshold": 1}}, failure_threshold=4, clock=clock)
    assert reg.get("llm") is reg.get("llm")
    assert reg.get("llm").failure_threshold == 4
    jira = reg.get("jira:tenant-1")
    assert jira.failure_threshold == 1
    fail(jira)
    other = BreakerRegistry(DiskStore(store.directory), clock=clock)  # the web process
    snaps = {s["name"]: s for s in other.snapshots()}
    assert set(snaps) == {"llm", "jira:tenant-1"}
    assert snaps["jira:tenant-1"]["state"] == "open" and snaps["llm"]["state"] == "closed"


def test_bad_names_and_settings_are_refused(store):
    with pytest.raises(BadRequestError):
        CircuitBreaker(store, "")
    with pytest.raises(BadRequestError):
        CircuitBreaker(store, "has space")
    assert CircuitBreaker(store, "jira:ari:cloud:ecosystem::installation/1f2e").state() == "closed"
    with pytest.raises(ConfigError):
        CircuitBreaker(store, "x", failure_threshold=0)
    with pytest.raises(ConfigError):
        CircuitBreaker(store, "x", half_open_max_calls=0)


# -- the Jira client records outcomes on its site's breaker ----------------------------------------

BASE = "https://acme.atlassian.net"


class _NoAuth(AuthBase):
    def __call__(self, r):
        r.headers["Authorization"] = "JWT test"
        return r


@responses.activate
def test_jira_client_counts_5xx_429_and_connection_errors_not_4xx(store, clock):
    breaker = CircuitBreaker(store, "jira:acme", failure_threshold=3, reset_timeout=30, clock=clock)
    client = JiraClient(BASE, _NoAuth(), max_retries=0, breaker=breaker)
    url = f"{BASE}/rest/api/3/myself"
    responses.get(url, status=404, json={"errorMessages": ["nope"]})
    for _ in range(5):
        with pytest.raises(JiraError) as err:
            client.get_myself()
        assert err.value.code == "jira_not_found"
    assert breaker.state() == "closed" and breaker.snapshot()["failures"] == 0

    responses.replace(responses.GET, url, status=500, json={})
    with pytest.raises(JiraError):
        client.get_myself()
    responses.replace(responses.GET, url, status=429, json={})
    with pytest.raises(JiraError):
        client.get_myself()
    responses.replace(responses.GET, url, body=requests.ConnectionError("refused"))
    with pytest.raises(JiraError) as err:
        client.get_myself()
    assert err.value.code == "jira_unavailable"
    assert breaker.state() == "open"

    calls_before = len(responses.calls)
    with pytest.raises(CircuitOpenError):
        client.get_myself()
    assert len(responses.calls) == calls_before  # no request went out
    assert client.ping() is False

    clock.advance(30)
    responses.replace(responses.GET, url, status=200, json={"accountId": "app"})
    assert client.get_myself() == {"accountId": "app"}  # the probe
    assert breaker.state() == "closed"


@responses.activate
def test_jira_client_timeout_counts_as_failure(store, clock):
    breaker = CircuitBreaker(store, "jira:acme", failure_threshold=1, clock=clock)
    client = JiraClient(BASE, _NoAuth(), max_retries=0, breaker=breaker)
    responses.get(f"{BASE}/rest/api/3/myself", body=requests.Timeout("slow"))
    with pytest.raises(JiraError):
        client.get_myself()
    assert breaker.state() == "open"
