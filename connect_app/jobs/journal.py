"""The job journal: a durable record of every accepted job until it ends.

huey removes a message from its queue when a worker takes it, so a worker killed mid-job would
lose it. The journal closes that gap: the web door records the job before enqueueing it, the
worker marks it running under a lease (its owner's heartbeat), and a recovery sweep re-enqueues
jobs whose owner stopped beating or that sat queued far too long. Exactly-once replies then rest
on the reply marker the pipeline checks before posting.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..storage.base import KeyValueStore

HEARTBEAT_TTL = 10.0


@dataclass
class JobRecord:
    """One journal entry."""

    job_id: str
    event: dict[str, Any]
    state: str  # queued | running
    enqueued_at: float
    attempts: int = 0
    owner: str | None = None
    started_at: float | None = None
    steps: dict[str, Any] | None = None


class JobJournal:
    """Durable job records with leases, in the durable key-value store."""

    def __init__(self, store: KeyValueStore, *, heartbeat_ttl: float = HEARTBEAT_TTL) -> None:
        """``store`` must be durable and shared by web and worker processes."""
        self._store = store
        self.heartbeat_ttl = heartbeat_ttl

    @staticmethod
    def new_job_id() -> str:
        """A fresh, unguessable job id."""
        return uuid.uuid4().hex

    def record(self, job_id: str, event: dict[str, Any]) -> None:
        """Remember an accepted job before it is enqueued."""
        self._store.set(
            f"job:{job_id}",
            {"event": event, "state": "queued", "enqueued_at": time.time(), "attempts": 0, "steps": {}},
        )

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None once it has ended."""
        raw = self._store.get(f"job:{job_id}")
        if not raw:
            return None
        return JobRecord(
            job_id=job_id,
            event=raw["event"],
            state=raw["state"],
            enqueued_at=raw["enqueued_at"],
            attempts=raw.get("attempts", 0),
            owner=raw.get("owner"),
            started_at=raw.get("started_at"),
            steps=raw.get("steps") or {},
        )

    def start(self, job_id: str, owner: str) -> JobRecord | None:
        """Take the job's lock for ``owner``; None when it has ended or another live worker runs it."""
        raw = self._store.get(f"job:{job_id}")
        if not raw:
            return None
        if not self._store.add(f"joblock:{job_id}", owner):
            holder = self._store.get(f"joblock:{job_id}")
            if holder == owner or self.alive(holder):
                return None
            self._store.delete(f"joblock:{job_id}")
            if not self._store.add(f"joblock:{job_id}", owner):
                return None
        raw.update(state="running", owner=owner, started_at=time.time(), attempts=raw.get("attempts", 0) + 1)
        self._store.set(f"job:{job_id}", raw)
        return self.get(job_id)

    def step_done(self, job_id: str, step: str, value: Any = True) -> None:
        """Record that a side effect of the job happened (e.g. the transition), so a rerun skips it."""
        raw = self._store.get(f"job:{job_id}")
        if raw:
            raw.setdefault("steps", {})[step] = value
            self._store.set(f"job:{job_id}", raw)

    def release(self, job_id: str, owner: str) -> None:
        """Give the lock back (the attempt failed and huey will retry)."""
        raw = self._store.get(f"job:{job_id}")
        if raw:
            raw.update(state="queued", owner=None)
            self._store.set(f"job:{job_id}", raw)
        if self._store.get(f"joblock:{job_id}") == owner:
            self._store.delete(f"joblock:{job_id}")

    def finish(self, job_id: str) -> None:
        """The job has ended (replied, skipped or reported as failed): forget it."""
        self._store.delete(f"job:{job_id}")
        self._store.delete(f"joblock:{job_id}")

    def heartbeat(self, owner: str) -> None:
        """Say that worker ``owner`` is alive (call every few seconds)."""
        self._store.set(f"worker:{owner}", time.time(), ttl=self.heartbeat_ttl)

    def alive(self, owner: Any) -> bool:
        """True when worker ``owner`` beat recently."""
        return isinstance(owner, str) and self._store.get(f"worker:{owner}") is not None

    def live_workers(self) -> int:
        """How many workers beat within the last lease (``heartbeat_ttl``) seconds."""
        return sum(1 for _ in self._store.scan("worker:"))

    def stale(self, *, queued_after: float) -> list[JobRecord]:
        """Jobs to re-enqueue: running under a dead owner, or queued longer than ``queued_after`` s."""
        now = time.time()
        out = []
        for key, _raw in self._store.scan("job:"):
            record = self.get(key[len("job:") :])
            if record is None:
                continue
            if (record.state == "running" and not self.alive(record.owner)) or (
                record.state == "queued" and now - record.enqueued_at > queued_after
            ):
                out.append(record)
        return out

    def running_under(self, owner: str) -> list[JobRecord]:
        """Jobs recorded as running under worker ``owner``."""
        out = []
        for key, _raw in self._store.scan("job:"):
            record = self.get(key[len("job:") :])
            if record is not None and record.state == "running" and record.owner == owner:
                out.append(record)
        return out

    def requeued(self, job_id: str) -> None:
        """Mark a stale job as queued again (its dead owner's lock removed)."""
        raw = self._store.get(f"job:{job_id}")
        if raw:
            raw.update(state="queued", owner=None, enqueued_at=time.time())
            self._store.set(f"job:{job_id}", raw)
        self._store.delete(f"joblock:{job_id}")

    def pending(self) -> int:
        """How many jobs are recorded and not yet ended (the queue depth seen by users)."""
        return sum(1 for _ in self._store.scan("job:"))
