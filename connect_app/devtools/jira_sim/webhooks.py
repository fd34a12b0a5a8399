"""Webhook delivery like Jira Cloud's: signed, on background threads, retried, recorded.

Each delivery is POSTed with ``Authorization: JWT`` (HS256 with the installation's shared secret,
``iss`` = clientKey, ``qsh`` of the exact URL), ``X-Atlassian-Webhook-Identifier`` (the same on
every retry) and, on retries, ``X-Atlassian-Webhook-Retry`` (the retry count). Retries follow Jira's
policy: on 408, 409, 425, 429, any 5xx, connection errors and timeouts, up to ``max_retries`` times
with exponential backoff. Nothing here blocks the request that raised the event.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ...errors import NotFoundError
from ...platform.connect.jwt import encode_hs256, query_string_hash

RETRY_STATUSES = frozenset({408, 409, 425, 429})
TOKEN_TTL_SECONDS = 180
USER_AGENT = "Atlassian Webhook HTTP Client"

# (client key, shared secret, app base URL) of an installation that may receive webhooks, or None.
Credentials = Callable[[str], "tuple[str, str, str] | None"]


@dataclass
class Attempt:
    """One HTTP attempt of a delivery."""

    retry: int
    replay: int
    status: int | None
    error: str | None
    latency_ms: float
    at: float
    response: str = ""


@dataclass
class Delivery:
    """A webhook to one app URL, with every attempt made so far."""

    identifier: str
    event: str
    app_key: str
    url: str
    payload: dict[str, Any] | None
    state: str = "pending"  # pending | delivered | failed
    replays: int = 0
    created: float = field(default_factory=time.time)
    attempts: list[Attempt] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy for assertions."""
        return {
            "identifier": self.identifier, "event": self.event, "app_key": self.app_key, "url": self.url,
            "payload": copy.deepcopy(self.payload), "state": self.state, "replays": self.replays,
            "created": self.created,
            "attempts": [vars(a).copy() for a in self.attempts],
        }


class WebhookDispatcher:
    """A queue of deliveries served by ``workers`` threads, with pause/resume and idle waiting."""

    def __init__(self, credentials: Credentials, *, timeout: float = 10.0, max_retries: int = 5,
                 retry_base_delay: float = 5.0, max_retry_delay: float = 600.0, workers: int = 4,
                 keep: int = 50_000) -> None:
        self._credentials = credentials
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.max_retry_delay = max_retry_delay
        self._workers_wanted = max(1, workers)
        self._keep = keep
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, str, int]] = []  # (due, seq, identifier, retry)
        self._seq = itertools.count()
        self._deliveries: dict[str, Delivery] = {}
        self._in_flight = 0
        self._paused = False
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._local = threading.local()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker threads."""
        with self._cond:
            self._stopping = False
            if self._threads:
                return
            for n in range(self._workers_wanted):
                thread = threading.Thread(target=self._run, name=f"jira-sim-webhooks-{n}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; deliveries still queued are dropped."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)

    # -- queueing ------------------------------------------------------------------------------
    def submit(self, app_key: str, event: str, url: str, payload: dict[str, Any] | None) -> Delivery:
        """Queue a new delivery (a fresh identifier) for immediate sending."""
        delivery = Delivery(str(uuid.uuid4()), event, app_key, url, payload)
        with self._cond:
            self._deliveries[delivery.identifier] = delivery
            self._push(delivery.identifier, 0, time.monotonic())
            if len(self._deliveries) > self._keep * 1.1:
                self._prune()
        return delivery

    def _prune(self) -> None:
        """Forget the oldest settled deliveries beyond ``keep`` (long benchmarks stay bounded)."""
        excess = len(self._deliveries) - self._keep
        for identifier in [k for k, d in self._deliveries.items() if d.state != "pending"][:excess]:
            del self._deliveries[identifier]

    def redeliver(self, identifier: str) -> Delivery:
        """Send a recorded delivery again, same identifier and body, as a new series of attempts."""
        with self._cond:
            delivery = self._deliveries.get(identifier)
            if delivery is None:
                raise NotFoundError(f"no webhook delivery with identifier {identifier!r}")
            delivery.replays += 1
            delivery.state = "pending"
            self._push(identifier, 0, time.monotonic())
            return delivery

    def _push(self, identifier: str, retry: int, due: float) -> None:
        heapq.heappush(self._queue, (due, next(self._seq), identifier, retry))
        self._cond.notify_all()

    def pause(self) -> None:
        """Hold deliveries (they queue up) until :meth:`resume`."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        """Send held deliveries."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def deliveries(self, event: str | None = None, identifier: str | None = None) -> list[dict[str, Any]]:
        """Recorded deliveries (oldest first), optionally only one event or identifier."""
        with self._cond:
            found = [d.to_dict() for d in self._deliveries.values()
                     if event in (None, d.event) and identifier in (None, d.identifier)]
        return sorted(found, key=lambda d: d["created"])

    def clear(self) -> None:
        """Forget recorded deliveries that are not queued."""
        with self._cond:
            queued = {item[2] for item in self._queue}
            self._deliveries = {k: v for k, v in self._deliveries.items() if k in queued}

    # -- workers -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next_job()
                if job is None:
                    return
                identifier, retry = job
                delivery = self._deliveries[identifier]
                self._in_flight += 1
            try:
                attempt = self._send(delivery, retry)
            except Exception as exc:  # a bug here must not kill the worker
                error = f"not sent: simulator error {type(exc).__name__}"
                attempt = Attempt(retry, delivery.replays, None, error, 0.0, time.time())
            with self._cond:
                delivery.attempts.append(attempt)
                self._settle(delivery, attempt, retry)
                self._in_flight -= 1
                self._cond.notify_all()

    def _next_job(self) -> tuple[str, int] | None:
        """Wait (holding the condition) for a due job; None when stopping."""
        while not self._stopping:
            if self._paused or not self._queue:
                self._cond.wait(0.5)
                continue
            due, _, identifier, retry = self._queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                self._cond.wait(min(wait, 0.5))
                continue
            heapq.heappop(self._queue)
            return identifier, retry
        return None

    def _settle(self, delivery: Delivery, attempt: Attempt, retry: int) -> None:
        if attempt.status is not None and 200 <= attempt.status < 300:
            delivery.state = "delivered"
        elif self._retryable(attempt) and retry < self.max_retries and not self._stopping:
            delay = min(self.retry_base_delay * (2 ** retry), self.max_retry_delay)
            self._push(delivery.identifier, retry + 1, time.monotonic() + delay)
        else:
            delivery.state = "failed"

    @staticmethod
    def _retryable(attempt: Attempt) -> bool:
        if attempt.status is None:
            return attempt.error is not None and not attempt.error.startswith("not sent")
        return attempt.status in RETRY_STATUSES or 500 <= attempt.status <= 599

    def _send(self, delivery: Delivery, retry: int) -> Attempt:
        started, at = time.perf_counter(), time.time()
        creds = self._credentials(delivery.app_key)
        if creds is None:
            return Attempt(retry, delivery.replays, None, "not sent: the app is not installed or not enabled",
                           0.0, at)
        client_key, secret, app_base = creds
        now = int(time.time())
        token = encode_hs256({"iss": client_key, "iat": now, "exp": now + TOKEN_TTL_SECONDS,
                              "qsh": query_string_hash("POST", delivery.url, app_base)}, secret)
        headers = {
            "Authorization": f"JWT {token}",
            "X-Atlassian-Webhook-Identifier": delivery.identifier,
            "X-Atlassian-Webhook-Flow": "Primary",
            "User-Agent": USER_AGENT,
        }
        if retry:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        data = b""
        if delivery.payload is not None:
            headers["Content-Type"] = "application/json; charset=UTF-8"
            data = json.dumps(delivery.payload).encode("utf-8")
        try:
            response = self._session().post(delivery.url, data=data, headers=headers, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.Timeout:
            return Attempt(retry, delivery.replays, None, "timeout", _ms(started), at)
        except requests.RequestException as exc:
            return Attempt(retry, delivery.replays, None, f"connection error: {type(exc).__name__}",
                           _ms(started), at)
        return Attempt(retry, delivery.replays, response.status_code, None, _ms(started), at,
                       response.text[:500])

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            self._local.session = session
        return session


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
