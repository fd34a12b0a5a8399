"""Circuit breakers whose state lives in the key-value store, so every process shares it.

A breaker guards one dependency ("llm", "jira:<tenant_id>"). It is *closed* while the dependency
behaves, *open* after ``failure_threshold`` failures within ``window_seconds`` (calls are refused
with :class:`CircuitOpenError`), and *half-open* once ``reset_timeout`` has passed: up to
``half_open_max_calls`` probe calls go through. A probe that succeeds closes the breaker; one that
fails re-opens it for another ``reset_timeout``.

How the shared state stays consistent with only the store's atomic operations:

* ``phase`` is an integer that only grows: even means closed, odd means open (or half-open, which
  is "open and the reset timeout has passed", derived from the clock, never written). Every
  transition is a compare-and-increment (``incr_if_within(phase, 1, limit=seen + 1)``), so exactly
  one process wins it and logs it.
* failures are kept in a small ring per phase (``{seq, at}`` per slot); the breaker trips when the
  ``failure_threshold``-th most recent failure is within the window.
* within an open phase, ``round`` counts re-openings (compare-and-increment again); each round
  has its own ``opened_at`` record and its own probe slots, claimed with the atomic ``add``.
  A claimed slot expires after ``probe_timeout`` seconds so a probe that never reports does not
  keep the breaker half-open for ever.

The thread that claimed a probe slot is the one whose :meth:`CircuitBreaker.record_success` or
:meth:`CircuitBreaker.record_failure` resolves the probe (tracked per thread).

A breaker protects; it must not become a dependency: when the store fails, calls go through
(fail open) and outcomes are dropped, with a warning. :meth:`CircuitBreaker.state` and
:meth:`CircuitBreaker.snapshot` do raise :class:`StorageError`, so readiness shows the failure.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BadRequestError, CircuitOpenError, ConfigError, StorageError
from ..storage.base import KeyValueStore

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUES: Mapping[str, int] = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
"""Numeric encoding of a state (used by the ``jira_ai_breaker_state`` gauge)."""

_NAME = re.compile(r"^[^\s\x00-\x1f]{1,200}$")  # "llm", "jira:<clientKey or Forge installation id>"
_PREFIX = "breaker:"
_RECORD_TTL = 7 * 86_400  # opened/round records of past phases clean themselves up
_NAMES_PREFIX = "breaker-names:"


class CircuitBreaker:
    """One named breaker; its state is shared through ``store`` by every process using the name."""

    def __init__(
        self,
        store: KeyValueStore,
        name: str,
        *,
        failure_threshold: int = 5,
        window_seconds: float = 60,
        reset_timeout: float = 30,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.time,
        probe_timeout: float | None = None,
    ) -> None:
        """``probe_timeout`` (default ``max(reset_timeout, 60)``) frees a probe slot never reported."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadRequestError(
                "a breaker name must be 1-200 characters without spaces or control characters"
            )
        if failure_threshold < 1 or window_seconds <= 0 or reset_timeout <= 0 or half_open_max_calls < 1:
            raise ConfigError(
                "a circuit breaker needs failure_threshold >= 1, window_seconds > 0, reset_timeout > 0 "
                "and half_open_max_calls >= 1"
            )
        self.store = store
        self.name = name
        self.failure_threshold = int(failure_threshold)
        self.window_seconds = float(window_seconds)
        self.reset_timeout = float(reset_timeout)
        self.half_open_max_calls = int(half_open_max_calls)
        self.probe_timeout = float(probe_timeout if probe_timeout is not None else max(reset_timeout, 60))
        self._clock = clock
        self._key = _PREFIX + name + ":"
        self._ring = 2 * self.failure_threshold
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r})"

    # ------------------------------------------------------------------ the call protocol
    def before_call(self) -> None:
        """Let the call through, or raise :class:`CircuitOpenError` (``code="circuit_open"``).

        When half-open, this call becomes a probe if it wins one of the probe slots; otherwise it
        is refused like any call while open.
        """
        self._local.probe = None
        try:
            self._admit()
        except StorageError as exc:
            self._local.probe = None
            log.warning("circuit %s: store unavailable (%s); letting the call through", self.name, exc.code)

    def record_success(self) -> None:
        """The call worked. A successful probe closes the breaker (closed: nothing to do)."""
        try:
            self._success()
        except StorageError as exc:
            log.warning("circuit %s: store unavailable (%s); outcome not recorded", self.name, exc.code)

    def record_failure(self) -> None:
        """The call failed. Counts towards tripping when closed; a failed probe re-opens."""
        try:
            self._failure()
        except StorageError as exc:
            log.warning("circuit %s: store unavailable (%s); outcome not recorded", self.name, exc.code)

    # ------------------------------------------------------------------ transitions
    def _admit(self) -> None:
        phase = self._phase()
        if phase % 2 == 0:
            return
        now = self._clock()
        rnd, opened_at = self._round(phase, now)
        next_probe = opened_at + self.reset_timeout
        if now < next_probe:
            raise CircuitOpenError(
                f"{self.name} is failing; calls are paused for {next_probe - now:.0f}s before a retry",
                code="circuit_open",
            )
        for slot in range(self.half_open_max_calls):
            claim = self.store.add(f"{self._key}probe:{phase}:{rnd}:{slot}", now, ttl=self.probe_timeout)
            if claim:
                self._local.probe = (phase, rnd)
                if slot == 0:
                    log.warning("circuit %s half-open: probing with one call", self.name)
                return
        raise CircuitOpenError(
            f"{self.name} is recovering; a probe call is already in flight", code="circuit_open"
        )

    def _success(self) -> None:
        probe = self._take_probe()
        if probe is None:
            return
        phase, _rnd = probe
        applied, _ = self.store.incr_if_within(self._key + "phase", 1, phase + 1)
        if applied:
            log.warning("circuit %s closed: the probe call succeeded", self.name)

    def _failure(self) -> None:
        probe = self._take_probe()
        now = self._clock()
        if probe is not None:
            phase, rnd = probe
            applied, _ = self.store.incr_if_within(f"{self._key}round:{phase}", 1, rnd + 1, ttl=_RECORD_TTL)
            if applied:
                self.store.set(f"{self._key}opened:{phase}:{rnd + 1}", {"opened_at": now}, ttl=_RECORD_TTL)
                log.warning(
                    "circuit %s re-opened: the probe call failed; next probe in %.0fs",
                    self.name,
                    self.reset_timeout,
                )
            return
        phase = self._phase()
        if phase % 2 == 1:
            return  # already open: a late failure of a call let through earlier changes nothing
        seq = self.store.incr(f"{self._key}fails:{phase}", 1, ttl=self._fail_ttl)
        self.store.set(
            f"{self._key}fail:{phase}:{seq % self._ring}", {"seq": seq, "at": now}, ttl=self._fail_ttl
        )
        if seq < self.failure_threshold:
            return
        oldest = self.store.get(f"{self._key}fail:{phase}:{(seq - self.failure_threshold + 1) % self._ring}")
        if not isinstance(oldest, dict) or now - float(oldest.get("at", 0)) > self.window_seconds:
            return
        applied, _ = self.store.incr_if_within(self._key + "phase", 1, phase + 1)
        if applied:
            self.store.add(f"{self._key}opened:{phase + 1}:0", {"opened_at": now}, ttl=_RECORD_TTL)
            log.warning(
                "circuit %s opened: %d failures within %.0fs; next probe in %.0fs",
                self.name,
                self.failure_threshold,
                self.window_seconds,
                self.reset_timeout,
            )

    # ------------------------------------------------------------------ inspection
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` (open and the reset timeout has passed)."""
        phase = self._phase()
        if phase % 2 == 0:
            return CLOSED
        now = self._clock()
        _rnd, opened_at = self._round(phase, now)
        return HALF_OPEN if now >= opened_at + self.reset_timeout else OPEN

    def snapshot(self) -> dict[str, Any]:
        """name, state, failures (in the window, while closed), opened_at, next_probe_at, settings."""
        now = self._clock()
        phase = self._phase()
        out: dict[str, Any] = {
            "name": self.name,
            "state": CLOSED,
            "failures": 0,
            "opened_at": None,
            "next_probe_at": None,
            "failure_threshold": self.failure_threshold,
            "window_seconds": self.window_seconds,
            "reset_timeout": self.reset_timeout,
        }
        if phase % 2 == 0:
            out["failures"] = self._recent_failures(phase, now)
            return out
        _rnd, opened_at = self._round(phase, now)
        out["opened_at"] = opened_at
        out["next_probe_at"] = opened_at + self.reset_timeout
        out["state"] = HALF_OPEN if now >= opened_at + self.reset_timeout else OPEN
        return out

    # ------------------------------------------------------------------ plumbing
    @property
    def _fail_ttl(self) -> float:
        return self.window_seconds * 2 + 60

    def _phase(self) -> int:
        return int(self.store.get(self._key + "phase") or 0)

    def _round(self, phase: int, now: float) -> tuple[int, float]:
        """The current re-open round of an open phase and when it opened.

        A missing record (the process that tripped died before writing it) is healed by the first
        reader with ``add``, so everyone agrees on one ``opened_at``.
        """
        rnd = int(self.store.get(f"{self._key}round:{phase}") or 0)
        key = f"{self._key}opened:{phase}:{rnd}"
        record = self.store.get(key)
        if not isinstance(record, dict):
            self.store.add(key, {"opened_at": now}, ttl=_RECORD_TTL)
            record = self.store.get(key) or {"opened_at": now}
        return rnd, float(record["opened_at"])

    def _recent_failures(self, phase: int, now: float) -> int:
        seq = int(self.store.get(f"{self._key}fails:{phase}") or 0)
        count = 0
        for s in range(seq, max(0, seq - self._ring), -1):
            entry = self.store.get(f"{self._key}fail:{phase}:{s % self._ring}")
            if not isinstance(entry, dict) or entry.get("seq") != s:
                continue
            if now - float(entry["at"]) <= self.window_seconds:
                count += 1
        return count

    def _take_probe(self) -> tuple[int, int] | None:
        probe = getattr(self._local, "probe", None)
        self._local.probe = None
        return probe


class BreakerRegistry:
    """The process's breakers by name, with shared defaults; remembers every name in the store."""

    def __init__(
        self,
        store: KeyValueStore,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        **defaults: Any,
    ) -> None:
        """``defaults`` are :class:`CircuitBreaker` keyword arguments for every breaker.

        ``overrides`` maps a name prefix (e.g. ``"jira:"``) to keyword arguments that apply to
        breakers whose name starts with it (the longest matching prefix wins).
        """
        self.store = store
        self._defaults = dict(defaults)
        self._overrides = {prefix: dict(kw) for prefix, kw in (overrides or {}).items()}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._unrecorded: set[str] = set()
        self._lock = threading.Lock()

    def get(self, name: str) -> CircuitBreaker:
        """The breaker called ``name`` (``"llm"``, ``"jira:<tenant_id>"``), created on first use."""
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is not None:
                return breaker
        kwargs = dict(self._defaults)
        for prefix in sorted(self._overrides, key=len):
            if name.startswith(prefix):
                kwargs.update(self._overrides[prefix])
        breaker = CircuitBreaker(self.store, name, **kwargs)
        with self._lock:
            breaker = self._breakers.setdefault(name, breaker)
        self._record_name(name)
        return breaker

    def names(self) -> list[str]:
        """Every breaker name any process has used, sorted."""
        for name in list(self._unrecorded):
            self._record_name(name)
        return sorted({*(str(v) for _k, v in self.store.scan(_NAMES_PREFIX)), *self._unrecorded})

    def _record_name(self, name: str) -> None:
        """Remember ``name`` in the store; while the store fails, remember it here and try again later
        (a process must start, and a breaker work, while the store is down).
        """
        try:
            self.store.add(_NAMES_PREFIX + name, name)
        except StorageError as exc:
            if name not in self._unrecorded:
                log.warning("circuit %s: store unavailable (%s); its name is recorded later", name, exc.code)
            self._unrecorded.add(name)
        else:
            self._unrecorded.discard(name)

    def snapshots(self) -> list[dict[str, Any]]:
        """A :meth:`CircuitBreaker.snapshot` of every breaker seen by any process, sorted by name."""
        return [self.get(name).snapshot() for name in self.names()]
