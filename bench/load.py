"""A small concurrent HTTP load generator for the benchmarks: threads, one ``requests.Session`` each.

Every request is prepared by the caller before the timed loop (body bytes and headers, tokens
already signed), so the loop only sends. The run is bounded twice: by the number of prepared
requests and by ``max_seconds``. Targets must be on loopback; this never sends traffic elsewhere.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from connect_app.errors import BadRequestError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class PreparedRequest:
    """One POST, ready to send: its body and headers (the URL is the run's)."""

    body: bytes
    headers: dict[str, str]


@dataclass
class LoadResult:
    """What a run did: counts, statuses, wall time and every request's latency in milliseconds."""

    sent: int
    errors: int
    statuses: dict[int, int]
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)
    concurrency: int = 1

    @property
    def ok(self) -> int:
        """Requests answered 2xx."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def requests_per_s(self) -> float:
        """Answered requests (any status) per second of wall time."""
        answered = sum(self.statuses.values())
        return answered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the latencies, nearest rank; 0 when nothing was sent."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def summary(self) -> dict[str, float | int | dict[int, int]]:
        """The numbers the report shows."""
        return {
            "requests": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "elapsed_s": round(self.elapsed_s, 3),
            "concurrency": self.concurrency,
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": round(self.percentile_ms(0.5), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else 0.0,
        }


def require_loopback(url: str) -> None:
    """Raise BadRequestError unless ``url`` is an http URL on this machine's loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise BadRequestError(f"the load generator only targets http://127.0.0.1; got {parts.scheme}://{parts.hostname}")


def run_load(
    url: str,
    prepared: Sequence[PreparedRequest],
    *,
    concurrency: int,
    max_seconds: float,
    timeout: float = 10.0,
) -> LoadResult:
    """POST ``prepared`` to ``url`` from ``concurrency`` threads until all are sent or time is up.

    Each thread keeps one session (keep-alive connections, like Jira's webhook client); a request
    that fails without an HTTP answer counts as an error. Latency is measured around each call.
    """
    require_loopback(url)
    if concurrency < 1 or max_seconds <= 0:
        raise BadRequestError("concurrency must be at least 1 and max_seconds positive")
    lock = threading.Lock()
    next_index = iter(range(len(prepared)))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + max_seconds

    def take() -> int | None:
        with lock:
            return next(next_index, None)

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment: loopback only
        mine: list[float] = []
        seen: Counter[int] = Counter()
        failed = 0
        try:
            while time.perf_counter() < deadline:
                index = take()
                if index is None:
                    break
                item = prepared[index]
                t0 = time.perf_counter()
                try:
                    response = session.post(url, data=item.body, headers=item.headers, timeout=timeout,
                                            allow_redirects=False)
                except requests.RequestException:
                    failed += 1
                    continue
                mine.append((time.perf_counter() - t0) * 1000)
                seen[response.status_code] += 1
        finally:
            session.close()
            with lock:
                latencies.extend(mine)
                statuses.update(seen)
                errors += failed

    threads = [threading.Thread(target=worker, name=f"load-{n}", daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + timeout + 5)
    elapsed = time.perf_counter() - started
    return LoadResult(sent=len(latencies) + errors, errors=errors, statuses=dict(statuses), elapsed_s=elapsed,
                      latencies_ms=latencies, concurrency=concurrency)
