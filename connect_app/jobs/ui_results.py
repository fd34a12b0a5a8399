"""Results of UI jobs (an email draft, a posted comment), kept a short while for the browser to poll.

A result belongs to the site and the user who asked for it: polling the id with another site's or
another user's token finds nothing. Results expire after ``RESULT_TTL_SECONDS``; a job still pending
after ``STALE_AFTER_SECONDS`` (its worker died) is reported as failed so the screen can say so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from ..errors import BadRequestError
from ..storage.base import KeyValueStore

RESULT_TTL_SECONDS = 600.0
STALE_AFTER_SECONDS = 180.0
PENDING, DONE, FAILED = "pending", "done", "failed"
LOST_MESSAGE = "This request took too long and was given up. Please try again."

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def valid_job_id(job_id: object) -> bool:
    """True for ids the queue hands out (32 lowercase hex digits)."""
    return isinstance(job_id, str) and bool(_JOB_ID.match(job_id))


class UiResults:
    """Scoped, expiring job results in a key-value store (the evicting ``cache`` store will do)."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        ttl: float = RESULT_TTL_SECONDS,
        stale_after: float = STALE_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``store`` must be shared by the web and worker processes."""
        self._store = store
        self._ttl = ttl
        self._stale_after = stale_after
        self._clock = clock

    def pending(self, job_id: str, *, kind: str, tenant_id: str, account_id: str) -> None:
        """Record that the job was accepted (call before enqueueing it)."""
        self._write(job_id, {"status": PENDING, "kind": kind}, tenant_id, account_id)

    def done(self, job_id: str, result: dict[str, Any], *, tenant_id: str, account_id: str) -> None:
        """Record the job's result."""
        self._write(job_id, {"status": DONE, "result": result}, tenant_id, account_id)

    def failed(self, job_id: str, *, code: str, message: str, tenant_id: str, account_id: str) -> None:
        """Record that the job failed; ``message`` is shown to the person as it is."""
        error = {"code": code, "message": message}
        self._write(job_id, {"status": FAILED, "error": error}, tenant_id, account_id)

    def forget(self, job_id: str) -> None:
        """Drop a job's record (it could not be enqueued)."""
        if valid_job_id(job_id):
            self._store.delete(self._key(job_id))

    def get(self, job_id: str, *, tenant_id: str, account_id: str) -> dict[str, Any] | None:
        """The job's public state, or None when unknown, expired or asked for by someone else.

        ``{"status": "pending"}``, ``{"status": "done", "result": {...}}`` or
        ``{"status": "failed", "error": {"code", "message"}}``.
        """
        if not valid_job_id(job_id):
            return None
        record = self._store.get(self._key(job_id))
        if not isinstance(record, dict):
            return None
        if record.get("tenant") != tenant_id or record.get("account") != account_id:
            return None
        status = record.get("status")
        if status == DONE:
            return {"status": DONE, "result": record.get("result") or {}}
        if status == FAILED:
            return {"status": FAILED, "error": record.get("error") or {}}
        if self._clock() - float(record.get("at") or 0) > self._stale_after:
            return {"status": FAILED, "error": {"code": "job_lost", "message": LOST_MESSAGE}}
        return {"status": PENDING}

    @staticmethod
    def _key(job_id: str) -> str:
        return f"ui-job:{job_id}"

    def _write(self, job_id: str, fields: dict[str, Any], tenant_id: str, account_id: str) -> None:
        if not valid_job_id(job_id):
            raise BadRequestError(f"not a job id: {job_id[:40]!r}")
        record = {**fields, "tenant": tenant_id, "account": account_id, "at": self._clock()}
        self._store.set(self._key(job_id), record, ttl=self._ttl)
