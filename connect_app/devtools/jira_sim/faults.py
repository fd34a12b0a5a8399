"""Fault injection and the call log: make the next matching requests fail or hang, and remember every call."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ...errors import BadRequestError


@dataclass
class Fault:
    """Answer the next ``remaining`` requests whose path matches with ``status`` after ``delay`` seconds.

    ``status`` None only delays (then the request is served normally).
    """

    pattern: re.Pattern[str]
    status: int | None
    remaining: int
    retry_after: float | None = None
    delay: float = 0.0
    method: str | None = None
    hits: int = 0


class FaultInjector:
    """Faults waiting for requests; thread-safe. ``sim.faults.add(r"/comment$", 429, retry_after=1)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, path_regex: str, status: int | None = 500, count: int = 1, retry_after: float | None = None,
            delay: float = 0.0, *, method: str | None = None) -> Fault:
        """Make the next ``count`` requests matching ``path_regex`` (``re.search`` on the path, and
        ``method`` if given) wait ``delay`` seconds and answer ``status`` (429 gets ``Retry-After``).
        """
        if count < 1:
            raise BadRequestError("count must be at least 1")
        if status is not None and not 400 <= status <= 599:
            raise BadRequestError("status must be an HTTP error status (400-599) or None for a pure delay")
        if delay < 0:
            raise BadRequestError("delay must not be negative")
        fault = Fault(re.compile(path_regex), status, count, retry_after, delay,
                      method.upper() if method else None)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault matching the request, with one use consumed; None if none matches."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.method in (None, method)) and fault.pattern.search(path):
                    fault.remaining -= 1
                    fault.hits += 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        """How many fault uses are left."""
        with self._lock:
            return sum(f.remaining for f in self._faults)


@dataclass
class Call:
    """One request the simulator answered."""

    method: str
    path: str
    query: str
    status: int
    body: Any
    account_id: str | None
    latency_ms: float
    at: float = field(default_factory=time.time)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A plain copy for assertions."""
        return {"method": self.method, "path": self.path, "query": self.query, "status": self.status,
                "body": self.body, "account_id": self.account_id, "latency_ms": self.latency_ms,
                "at": self.at, "note": self.note}


class CallLog:
    """Every request, in arrival order; thread-safe and bounded."""

    def __init__(self, limit: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._limit = limit

    def add(self, call: Call) -> None:
        """Remember a call (the oldest are dropped past the limit)."""
        with self._lock:
            self._calls.append(call)
            if len(self._calls) > self._limit:
                del self._calls[: len(self._calls) - self._limit]

    def find(self, path_contains: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Calls whose path contains ``path_contains`` and whose method is ``method`` (if given)."""
        with self._lock:
            calls = list(self._calls)
        return [c.to_dict() for c in calls
                if (path_contains is None or path_contains in c.path)
                and (method is None or c.method == method.upper())]

    def clear(self) -> None:
        """Forget every call."""
        with self._lock:
            self._calls.clear()
