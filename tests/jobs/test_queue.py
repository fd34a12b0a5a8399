"""The durable queue and its journal, driven step by step through huey's own dequeue/execute."""

from __future__ import annotations

import datetime
import time

import pytest

from connect_app.errors import JiraError, ValidationFailedError
from connect_app.jobs.journal import JobJournal
from connect_app.jobs.queue import JobQueue, Runner
from connect_app.models import AiEvent
from connect_app.storage.disk import DiskStore


class ScriptedRunner(Runner):
    def __init__(self, failures=()):
        self.failures = list(failures)
        self.runs: list[tuple[str, bool]] = []
        self.gave_up: list[BaseException] = []

    def run(self, event, *, job_id, journal, final_attempt):
        self.runs.append((event.comment_id, final_attempt))
        if self.failures:
            raise self.failures.pop(0)
        return "posted"

    def give_up(self, event, error):
        self.gave_up.append(error)

    def is_retryable(self, error):
        return not isinstance(error, ValidationFailedError)


@pytest.fixture
def queue(settings):
    store = DiskStore(settings.data_dir / "store")
    q = JobQueue(settings.replace(job_retries=2, job_retry_delay_seconds=0), JobJournal(store))
    yield q
    store.close()


def event(cid="c1"):
    return AiEvent(tenant_id="site", door="connect", kind="comment", delivery_id="d", issue_key="SUP-1",
                   comment_id=cid, text="summarize")


def drain(q: JobQueue, limit=20):
    for _ in range(limit):
        task = q.huey.dequeue()
        if task is None:
            return
        q.huey.execute(task)


def test_job_runs_once_and_the_journal_empties(queue):
    runner = ScriptedRunner()
    queue.runner = runner
    job_id = queue.enqueue(event())
    assert queue.journal.get(job_id).state == "queued" and queue.depth() == 1
    drain(queue)
    assert runner.runs == [("c1", False)]
    assert queue.journal.get(job_id) is None and queue.depth() == 0


def test_transient_failures_are_retried_then_succeed(queue):
    runner = ScriptedRunner([JiraError("down", status=503), JiraError("down", status=503)])
    queue.runner = runner
    queue.enqueue(event())
    drain(queue)
    assert [final for _, final in runner.runs] == [False, False, True]
    assert runner.gave_up == []


def test_final_failure_leaves_a_note_once(queue):
    runner = ScriptedRunner([JiraError("down", status=503)] * 5)
    queue.runner = runner
    job_id = queue.enqueue(event())
    drain(queue)
    assert len(runner.runs) == 3
    assert len(runner.gave_up) == 1
    assert queue.journal.get(job_id) is None


def test_non_retryable_failure_gives_up_at_once(queue):
    runner = ScriptedRunner([ValidationFailedError("bad reply")])
    queue.runner = runner
    queue.enqueue(event())
    drain(queue)
    assert len(runner.runs) == 1 and len(runner.gave_up) == 1


def test_a_job_held_by_a_dead_worker_is_recovered(queue):
    runner = ScriptedRunner()
    queue.runner = runner
    job_id = queue.enqueue(event())
    queue.huey.dequeue()  # the dead worker took the message ...
    assert queue.journal.start(job_id, "dead-worker") is not None  # ... and began, then died
    assert queue.huey.dequeue() is None
    assert queue.recover() == 1
    drain(queue)
    assert runner.runs == [("c1", False)]
    assert queue.journal.get(job_id) is None


def test_a_job_held_by_a_live_worker_is_not_run_twice(queue):
    runner = ScriptedRunner()
    queue.runner = runner
    job_id = queue.enqueue(event())
    queue.journal.heartbeat("live-worker")
    queue.journal.start(job_id, "live-worker")
    assert queue.recover() == 0
    drain(queue)
    assert runner.runs == []


def test_live_workers_are_counted_by_heartbeat_until_the_lease_ends(settings):
    store = DiskStore(settings.data_dir / "beats")
    try:
        q = JobQueue(settings, JobJournal(store, heartbeat_ttl=0.3))
        assert q.live_workers() == 0
        q.journal.heartbeat("a")
        q.journal.heartbeat("b")
        q.journal.heartbeat("a")
        assert q.live_workers() == 2
        time.sleep(0.4)
        assert q.live_workers() == 0
    finally:
        store.close()


def test_enqueue_failure_leaves_no_journal_entry(queue, monkeypatch):
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(queue, "_task", boom)
    with pytest.raises(OSError):
        queue.enqueue(event())
    assert queue.depth() == 0


def test_retry_delays_grow_with_each_failed_attempt(settings):
    """Each retry is scheduled further out than the last (huey's retry_backoff, needs huey >= 3.3)."""
    store = DiskStore(settings.data_dir / "store")
    q = JobQueue(settings.replace(job_retries=3, job_retry_delay_seconds=2.0), JobJournal(store))
    try:
        q.runner = ScriptedRunner([JiraError("down", status=503)] * 3)
        q.enqueue(event())
        task = q.huey.dequeue()
        waits, carried = [], []
        for _ in range(3):
            before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # huey runs with utc=True
            q.huey.execute(task, timestamp=task.eta)  # run it as if its time had come: no sleeping
            [scheduled] = q.huey.scheduled()
            waits.append(round((scheduled.eta - before).total_seconds()))
            carried.append(scheduled.retry_delay)
            [task] = q.huey.read_schedule(scheduled.eta)
        assert waits == [2.0, 4.0, 8.0]
        assert carried == [4.0, 8.0, 16.0]
        q.huey.execute(task, timestamp=task.eta)  # the last attempt succeeds: nothing more is scheduled
        assert q.huey.scheduled() == [] and q.depth() == 0
    finally:
        store.close()
