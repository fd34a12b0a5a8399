"""UI job results (scoped, expiring) and UI jobs through the real huey queue, driven step by step."""

from __future__ import annotations

import time

import pytest

from connect_app.errors import ConfigError, ForbiddenError
from connect_app.jobs.journal import JobJournal
from connect_app.jobs.queue import UI_FAILURE_MESSAGE, JobQueue, Runner
from connect_app.jobs.ui_results import UiResults, valid_job_id
from connect_app.models import AiEvent
from connect_app.storage.disk import DiskStore

JOB = "0123456789abcdef0123456789abcdef"
SCOPE = {"tenant_id": "site-a", "account_id": "user-1"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "cache", evicting=True)
    yield s
    s.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def results(store, clock):
    return UiResults(store, clock=clock)


def test_pending_then_done_for_the_owner(results):
    results.pending(JOB, kind="draft", **SCOPE)
    assert results.get(JOB, **SCOPE) == {"status": "pending"}
    results.done(JOB, {"subject": "Hi"}, **SCOPE)
    assert results.get(JOB, **SCOPE) == {"status": "done", "result": {"subject": "Hi"}}


def test_failed_carries_code_and_message(results):
    results.failed(JOB, code="jira_not_found", message="This issue no longer exists.", **SCOPE)
    assert results.get(JOB, **SCOPE) == {
        "status": "failed", "error": {"code": "jira_not_found", "message": "This issue no longer exists."}}


@pytest.mark.parametrize("other", [
    {"tenant_id": "site-b", "account_id": "user-1"},
    {"tenant_id": "site-a", "account_id": "user-2"},
])
def test_another_site_or_user_sees_nothing(results, other):
    results.done(JOB, {"subject": "secret plans"}, **SCOPE)
    assert results.get(JOB, **other) is None


@pytest.mark.parametrize("job_id", ["", "../etc", "0123", "X" * 32, JOB.upper(), None])
def test_malformed_ids_are_unknown(results, job_id):
    assert results.get(job_id, **SCOPE) is None
    assert not valid_job_id(job_id)


def test_results_expire(store, clock):
    results = UiResults(store, ttl=0.05, clock=clock)
    results.done(JOB, {"x": 1}, **SCOPE)
    time.sleep(0.1)
    assert results.get(JOB, **SCOPE) is None


def test_a_job_pending_too_long_is_reported_lost(results, clock):
    results.pending(JOB, kind="draft", **SCOPE)
    clock.now += 181
    state = results.get(JOB, **SCOPE)
    assert state["status"] == "failed" and state["error"]["code"] == "job_lost"
    assert "try again" in state["error"]["message"].lower()


def test_forget_drops_the_record(results):
    results.pending(JOB, kind="draft", **SCOPE)
    results.forget(JOB)
    assert results.get(JOB, **SCOPE) is None


# ---------------------------------------------------------------------- through the queue
class UiRunner(Runner):
    def __init__(self, outcome=None):
        self.outcome = outcome
        self.calls: list[tuple] = []
        self.events: list[str] = []

    def run(self, event, *, job_id, journal, final_attempt):
        self.events.append(event.comment_id)
        return "posted"

    def run_ui(self, kind, payload, *, job_id, tenant_id, account_id):
        self.calls.append((kind, payload, tenant_id, account_id))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return {"kind": kind, "echo": payload}


@pytest.fixture
def queue(settings, store):
    durable = DiskStore(settings.data_dir / "store")
    q = JobQueue(settings, JobJournal(durable), ui_results=UiResults(store))
    yield q
    durable.close()


def drain(q: JobQueue, limit=20):
    for _ in range(limit):
        task = q.huey.dequeue()
        if task is None:
            return
        q.huey.execute(task)


def test_a_ui_job_runs_and_its_result_waits_for_the_owner(queue):
    queue.runner = UiRunner()
    job_id = queue.enqueue_ui("draft", {"form": {"tone": "formal"}}, **SCOPE)
    assert queue.ui_result(job_id, **SCOPE) == {"status": "pending"}
    drain(queue)
    assert queue.runner.calls == [("draft", {"form": {"tone": "formal"}}, "site-a", "user-1")]
    assert queue.ui_result(job_id, **SCOPE) == {
        "status": "done", "result": {"kind": "draft", "echo": {"form": {"tone": "formal"}}}}
    assert queue.ui_result(job_id, tenant_id="site-a", account_id="someone-else") is None
    assert queue.depth() == 0  # UI jobs are not journalled events


def test_an_app_error_fails_the_job_with_its_plain_message_and_no_retry(queue):
    queue.runner = UiRunner(ForbiddenError("You can't comment here.", code="comment_forbidden"))
    job_id = queue.enqueue_ui("comment", {}, **SCOPE)
    drain(queue)
    assert len(queue.runner.calls) == 1
    assert queue.ui_result(job_id, **SCOPE)["error"] == {
        "code": "comment_forbidden", "message": "You can't comment here."}


def test_an_unexpected_error_says_nothing_internal(queue, caplog):
    queue.runner = UiRunner(RuntimeError("stack details /srv/app.py line 3"))
    job_id = queue.enqueue_ui("draft", {}, **SCOPE)
    drain(queue)
    error = queue.ui_result(job_id, **SCOPE)["error"]
    assert error == {"code": "internal_error", "message": UI_FAILURE_MESSAGE}


def test_ui_jobs_go_ahead_of_queued_events(queue):
    runner = UiRunner()
    queue.runner = runner
    queue.enqueue(AiEvent(tenant_id="site-a", door="connect", kind="comment", delivery_id="d", issue_key="SUP-1",
                          comment_id="c1", text="summarize"))
    job_id = queue.enqueue_ui("draft", {}, **SCOPE)
    task = queue.huey.dequeue()
    queue.huey.execute(task)
    assert runner.calls and not runner.events
    assert queue.ui_result(job_id, **SCOPE)["status"] == "done"
    drain(queue)
    assert runner.events == ["c1"]


def test_a_queue_without_a_results_store_refuses_ui_jobs(settings, store):
    durable = DiskStore(settings.data_dir / "store2")
    try:
        q = JobQueue(settings, JobJournal(durable))
        with pytest.raises(ConfigError):
            q.enqueue_ui("draft", {}, **SCOPE)
    finally:
        durable.close()


def test_a_failed_enqueue_leaves_no_pending_record(queue, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("queue database is locked")

    monkeypatch.setattr(queue, "_ui_task", broken)
    seen = []
    monkeypatch.setattr(queue.journal, "new_job_id", lambda: seen.append(JOB) or JOB)
    with pytest.raises(OSError):
        queue.enqueue_ui("draft", {}, **SCOPE)
    assert queue.ui_result(JOB, **SCOPE) is None


@pytest.mark.redis
def test_ui_jobs_on_redis_where_huey_has_no_priorities(settings, store, redis_url):
    from connect_app.storage.redis_store import RedisStore

    url = redis_url.rsplit("/", 1)[0] + "/5"
    durable = RedisStore(url, namespace="durable")
    q = JobQueue(settings.replace(redis_url=url), JobJournal(durable), ui_results=UiResults(store))
    try:
        q.huey.flush()
        q.runner = UiRunner()
        job_id = q.enqueue_ui("draft", {"n": 1}, **SCOPE)
        drain(q)
        assert q.ui_result(job_id, **SCOPE)["status"] == "done"
    finally:
        q.huey.flush()
        durable.close()
