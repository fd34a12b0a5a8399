"""The durable job queue: huey on a SQLite file under DATA_DIR (or on Redis when REDIS_URL is set).

The web process only enqueues. A worker process (``jira-ai worker``) consumes, running each job
through a *runner* (the pipeline) that it builds once at start-up. Tasks are registered on a huey
instance built here at run time, never at import time.

Two kinds of job travel through it: events (an ``@ai`` comment, an issue done), journalled and
retried until they are answered; and UI jobs (the issue panel drafting or posting an email), which a
person is waiting for: tried once, ahead of events, with the result kept for the browser to poll.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from huey import Huey
from huey.exceptions import RetryTask

from ..errors import AppError, ConfigError, StorageError
from ..models import AiEvent
from ..settings import Settings
from .journal import JobJournal, JobRecord
from .ui_results import UiResults

log = logging.getLogger(__name__)

TASK_NAME = "process_event"
UI_TASK_NAME = "ui_job"
UI_TASK_PRIORITY = 10  # ahead of events: someone is watching a spinner
UI_FAILURE_MESSAGE = "Something went wrong on our side. Please try again."
MAX_WAITS = 12  # waits (open breaker, expired token, unpostable note) that do not use up an attempt


class Runner:
    """What a worker does with a job. The pipeline implements it."""

    def run(self, event: AiEvent, *, job_id: str, journal: JobJournal, final_attempt: bool) -> str:
        """Process ``event``; return a short outcome status. Raise to ask for a retry."""
        raise NotImplementedError

    def give_up(self, event: AiEvent, error: BaseException) -> None:
        """The last attempt failed: leave the user a polite explanation."""
        raise NotImplementedError

    def is_retryable(self, error: BaseException) -> bool:
        """False for errors that another attempt cannot fix."""
        return True

    def wait_before_retry(self, error: BaseException) -> float | None:
        """Seconds to wait before trying again without using an attempt (e.g. a breaker is open)."""
        return None

    def run_ui(
        self, kind: str, payload: dict[str, Any], *, job_id: str, tenant_id: str, account_id: str
    ) -> dict[str, Any]:
        """Do one UI job for ``account_id`` on ``tenant_id``; return its JSON result.

        Raise an :class:`~connect_app.errors.AppError` whose message a person can read when it fails.
        """
        raise NotImplementedError


def make_huey(settings: Settings) -> Huey:
    """The huey instance for these settings (SQLite under DATA_DIR, or Redis)."""
    if settings.redis_url:
        from huey import RedisHuey

        return RedisHuey("jira-ai", url=settings.redis_url, results=False, utc=True)
    from huey import SqliteHuey

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        "jira-ai", filename=str(settings.data_dir / "queue.db"), results=False, utc=True, timeout=30
    )


class JobQueue:
    """Enqueues events as durable jobs, and (in a worker) executes them through a runner."""

    def __init__(
        self,
        settings: Settings,
        journal: JobJournal,
        *,
        huey: Huey | None = None,
        ui_results: UiResults | None = None,
    ) -> None:
        """Build the huey instance and register the tasks on it.

        ``ui_results`` (shared by web and workers) is needed to enqueue and run UI jobs.
        """
        self.settings = settings
        self.journal = journal
        self.huey = huey or make_huey(settings)
        self.ui_results = ui_results
        self.runner: Runner | None = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._task = self.huey.task(
            retries=settings.job_retries,
            retry_delay=settings.job_retry_delay_seconds,
            retry_backoff=2,
            context=True,
            name=TASK_NAME,
        )(self._execute)
        # Plain Redis storage refuses priorities (huey's PriorityRedisHuey would need Redis 5): FIFO there.
        priority = UI_TASK_PRIORITY if getattr(self.huey.storage, "priority", False) else None
        self._ui_task = self.huey.task(retries=0, priority=priority, name=UI_TASK_NAME)(self._execute_ui)

    # ------------------------------------------------------------------ producer side
    def enqueue(self, event: AiEvent) -> str:
        """Record and enqueue ``event``; returns the job id. Raises if the queue is unavailable."""
        job_id = self.journal.new_job_id()
        self.journal.record(job_id, event.to_dict())
        try:
            self._task(job_id, event.to_dict())
        except Exception:
            self.journal.finish(job_id)
            raise
        return job_id

    def enqueue_ui(self, kind: str, payload: dict[str, Any], *, tenant_id: str, account_id: str) -> str:
        """Enqueue a UI job for a person waiting on a screen; returns the job id to poll.

        The job is marked pending before it is sent, so a poll never misses it. Raises if the queue
        is unavailable (nothing is left behind then).
        """
        results = self._results()
        job_id = self.journal.new_job_id()
        results.pending(job_id, kind=kind, tenant_id=tenant_id, account_id=account_id)
        try:
            self._ui_task(job_id, kind, payload, tenant_id, account_id)
        except Exception:
            results.forget(job_id)
            raise
        return job_id

    def ui_result(self, job_id: str, *, tenant_id: str, account_id: str) -> dict[str, Any] | None:
        """A UI job's state for the person who asked for it; None when unknown to them."""
        return self._results().get(job_id, tenant_id=tenant_id, account_id=account_id)

    def _results(self) -> UiResults:
        if self.ui_results is None:
            raise ConfigError("this job queue has no UI results store (build it with ui_results=...)")
        return self.ui_results

    def depth(self) -> int:
        """Jobs accepted and not yet ended."""
        return self.journal.pending()

    def live_workers(self) -> int:
        """Job worker processes alive now (their heartbeats, shared through storage)."""
        return self.journal.live_workers()

    def ping(self) -> bool:
        """True when the queue's storage answers."""
        self.huey.pending_count()
        return True

    # ------------------------------------------------------------------ consumer side
    def _execute(self, job_id: str, event_data: dict[str, Any], task: Any = None) -> None:
        runner = self.runner
        if runner is None:
            raise RuntimeError("this process has no job runner (start a worker with 'jira-ai worker')")
        with self._in_flight_lock:
            self._in_flight.add(job_id)
        try:
            self._run_job(runner, job_id, event_data, task)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(job_id)

    def _run_job(self, runner: Runner, job_id: str, event_data: dict[str, Any], task: Any) -> None:
        record = self.journal.start(job_id, self.owner)
        if record is None:
            log.info("job %s already ended or running elsewhere; skipping", job_id)
            return
        event = AiEvent.from_dict(event_data)
        remaining = getattr(task, "retries", 0) or 0
        try:
            status = runner.run(event, job_id=job_id, journal=self.journal, final_attempt=remaining == 0)
        except Exception as exc:
            wait = runner.wait_before_retry(exc)
            if wait is not None and self._may_wait(job_id):
                log.warning(
                    "job %s waits %.0f s (%s) without using an attempt",
                    job_id,
                    wait,
                    getattr(exc, "code", type(exc).__name__),
                )
                self.journal.release(job_id, self.owner)
                raise RetryTask(delay=wait) from exc
            if remaining > 0 and runner.is_retryable(exc):
                log.warning(
                    "job %s attempt failed (%s: %s); %d retries left",
                    job_id,
                    type(exc).__name__,
                    getattr(exc, "code", ""),
                    remaining,
                )
                self.journal.release(job_id, self.owner)
                raise
            log.error(
                "job %s failed for good (%s: %s)", job_id, type(exc).__name__, getattr(exc, "code", exc)
            )
            try:
                runner.give_up(event, exc)
            except Exception as note_error:
                # The note itself could not be posted (Jira down?): try the whole job again later
                # rather than drop the request silently.
                if self._may_wait(job_id):
                    log.warning(
                        "job %s: the failure note could not be posted (%s); trying again later",
                        job_id,
                        getattr(note_error, "code", type(note_error).__name__),
                    )
                    self.journal.release(job_id, self.owner)
                    raise RetryTask(delay=self.settings.job_retry_delay_seconds * 8 or 1.0) from note_error
                log.exception("job %s: could not leave the failure note; giving up", job_id)
            self.journal.finish(job_id)
            return
        log.info("job %s ended: %s", job_id, status)
        self.journal.finish(job_id)

    def _execute_ui(
        self, job_id: str, kind: str, payload: dict[str, Any], tenant_id: str, account_id: str
    ) -> None:
        """Run one UI job once and record its result or its failure, in plain words."""
        results = self._results()
        scope = {"tenant_id": tenant_id, "account_id": account_id}
        runner = self.runner
        if runner is None:
            log.error("ui job %s: no job runner in this process (start one with 'jira-ai worker')", job_id)
            results.failed(job_id, code="no_worker", message=UI_FAILURE_MESSAGE, **scope)
            return
        started = time.perf_counter()
        try:
            result = runner.run_ui(kind, payload, job_id=job_id, **scope)
        except AppError as exc:
            log.warning("ui job %s (%s) failed: %s", job_id, kind, exc.code)
            results.failed(job_id, code=exc.code, message=exc.message, **scope)
            return
        except Exception:
            log.exception("ui job %s (%s) failed unexpectedly", job_id, kind)
            results.failed(job_id, code="internal_error", message=UI_FAILURE_MESSAGE, **scope)
            return
        results.done(job_id, result, **scope)
        log.info("ui job %s (%s) done in %.0f ms", job_id, kind, (time.perf_counter() - started) * 1000)

    def _may_wait(self, job_id: str) -> bool:
        """Count one more wait for this job; False once it has waited ``MAX_WAITS`` times."""
        record = self.journal.get(job_id)
        waits = int((record.steps or {}).get("waits", 0)) if record else MAX_WAITS
        if waits >= MAX_WAITS:
            return False
        self.journal.step_done(job_id, "waits", waits + 1)
        return True

    def recover(self, *, queued_after: float = 600.0) -> int:
        """Re-enqueue jobs whose worker died mid-job, that this worker could not hand back, or that sat
        queued too long. Returns the count.
        """
        count = 0
        for record in self._orphans() + self.journal.stale(queued_after=queued_after):
            log.warning("recovering job %s (state %s, owner %s)", record.job_id, record.state, record.owner)
            self.journal.requeued(record.job_id)
            self._task(record.job_id, record.event)
            count += 1
        return count

    def _orphans(self) -> list[JobRecord]:
        """Jobs recorded as running here that no thread here runs: their attempt ended while the store
        was failing, so neither its hand-back (``release``) nor its end (``finish``) was recorded, and
        the queue could not take the retry. Being this live worker's, no other worker recovers them.
        """
        with self._in_flight_lock:
            in_flight = set(self._in_flight)
        since = time.time()
        return [
            record
            for record in self.journal.running_under(self.owner)
            if record.job_id not in in_flight and (record.started_at or 0.0) < since
        ]

    def run_worker(
        self,
        runner: Runner,
        *,
        workers: int | None = None,
        stop: threading.Event | None = None,
        recovery_interval: float | None = None,
    ) -> None:
        """Consume jobs until interrupted (SIGINT/SIGTERM), with heartbeats and recovery sweeps."""
        self.runner = runner
        stop = stop or threading.Event()
        try:
            self.journal.heartbeat(self.owner)
        except StorageError as exc:  # start anyway: the maintenance thread beats again
            log.warning("job journal unavailable at start (%s); consuming once it answers", exc.code)
        interval = recovery_interval or max(1.0, self.journal.heartbeat_ttl / 2)
        maintenance = threading.Thread(
            target=self._maintain, args=(stop, interval), daemon=True, name="jobs-maintenance"
        )
        maintenance.start()
        consumer = self.huey.create_consumer(
            workers=workers or self.settings.queue_workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.5,
            max_delay=0.5,
        )
        try:
            consumer.run()
        finally:
            stop.set()

    def _maintain(self, stop: threading.Event, interval: float) -> None:
        beat_every = max(0.25, self.journal.heartbeat_ttl / 4)
        next_sweep = 0.0
        while not stop.is_set():
            try:
                self.journal.heartbeat(self.owner)
                if time.monotonic() >= next_sweep:
                    self.recover()
                    next_sweep = time.monotonic() + interval
            except Exception:
                log.exception("job maintenance failed; will try again")
            stop.wait(beat_every)


RunnerFactory = Callable[[], Runner]
