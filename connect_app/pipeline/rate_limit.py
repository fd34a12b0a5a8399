"""Per-person and per-site request limits, counted in the durable store so they hold across hosts.

Each limit is a fixed window: a counter per (limit, site, person, window number) written with the
store's atomic ``incr_if_within``, so a request is counted only when it fits, however many web
processes share the store (diskcache on one machine, Redis across hosts). Windows are aligned to
the epoch (window number = ``now // window_seconds``), so every process agrees on them; at a window
boundary up to twice a limit can pass in a short span, the usual price of fixed windows.

A request must fit every limit: the person's (hour first, then minute) and then the site's. When one
refuses, the counters already taken are given back, so a refused request uses nothing, and a
person's own flood does not eat the site's allowance. Only the first refusal in a window earns a
reply (:meth:`RateLimiter.claim_notice`); the rest are dropped, each logged and counted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from ..errors import ConfigError
from ..settings import Settings
from ..storage.base import KeyValueStore
from . import messages

log = logging.getLogger(__name__)

MINUTE = 60
HOUR = 3600
KEY_PREFIX = "ratelimit"
#: Counters outlive their window by this much (clock skew between hosts), then expire.
TTL_SLACK_SECONDS = 30
PER_USER = "user"
PER_SITE = "site"
METRIC_CODE = "rate_limited"
#: The event kind of the polite reply to the first refused request of a window.
RATE_LIMITED = "rate_limited"


class ErrorCounter(Protocol):
    """What the limiter needs from the metrics: a counter of errors by code."""

    def record_error(self, code: str) -> None:
        """Count one error with this code."""


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` requests per ``window_seconds``, for each person (``per="user"``) or each site."""

    name: str
    per: str
    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        """Refuse limits that could not work."""
        if self.per not in (PER_USER, PER_SITE):
            raise ConfigError(f"a rate limit is per {PER_USER!r} or per {PER_SITE!r}, not {self.per!r}")
        if self.limit < 1 or self.window_seconds < 1:
            raise ConfigError(f"rate limit {self.name!r} needs a limit and a window of at least 1")

    @property
    def window_words(self) -> str:
        """The window for people: ``minute``, ``hour`` or ``N seconds``."""
        return {MINUTE: "minute", HOUR: "hour"}.get(self.window_seconds, f"{self.window_seconds} seconds")


@dataclass(frozen=True)
class Verdict:
    """The answer for one request: allowed, or refused by a limit until its window ends.

    ``counted`` lists the counters this request took (``(key, ttl)``), for :meth:`RateLimiter.give_back`.
    """

    allowed: bool
    refused_by: Limit | None = None
    retry_after: int = 0
    window: int = 0
    counted: tuple[tuple[str, int], ...] = ()

    @property
    def retry_at(self) -> float:
        """When the refusing window ends (epoch seconds); 0 when allowed."""
        if self.refused_by is None:
            return 0.0
        return float((self.window + 1) * self.refused_by.window_seconds)


def limits_from_settings(settings: Settings) -> list[Limit]:
    """The limits ``RATE_LIMIT_*`` configure, in the order they are checked."""
    return [
        Limit("user_hour", PER_USER, settings.rate_limit_user_per_hour, HOUR),
        Limit("user_minute", PER_USER, settings.rate_limit_user_per_minute, MINUTE),
        Limit("site_minute", PER_SITE, settings.rate_limit_site_per_minute, MINUTE),
    ]


class RateLimiter:
    """Counts requests per person and per site in a shared store and says which may proceed."""

    def __init__(
        self,
        store: KeyValueStore,
        limits: Sequence[Limit],
        *,
        metrics: ErrorCounter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``store`` must be shared by every process (the durable store); ``clock`` is for tests."""
        self.store = store
        self.limits = tuple(sorted(limits, key=lambda lim: (lim.per != PER_USER, -lim.window_seconds)))
        self.metrics = metrics
        self._clock = clock

    @classmethod
    def from_settings(
        cls, store: KeyValueStore, settings: Settings, *, metrics: ErrorCounter | None = None
    ) -> RateLimiter:
        """The limiter the settings describe."""
        return cls(store, limits_from_settings(settings), metrics=metrics)

    # ------------------------------------------------------------------ counting
    def check(self, tenant_id: str, account_id: str | None) -> Verdict:
        """Count one request by ``account_id`` on ``tenant_id`` if it fits every limit.

        Without an account id only the site's limits apply. A refusal is counted in the metrics
        (code ``rate_limited``) and takes nothing from any counter.
        """
        now = self._clock()
        taken: list[tuple[str, int]] = []
        for lim in self.limits:
            if lim.per == PER_USER and not account_id:
                continue
            window = int(now // lim.window_seconds)
            key = self._counter_key(lim, tenant_id, account_id, window)
            ttl = lim.window_seconds + TTL_SLACK_SECONDS
            applied, _count = self.store.incr_if_within(key, 1, lim.limit, ttl=ttl)
            if not applied:
                self.give_back(Verdict(True, counted=tuple(taken)))
                if self.metrics is not None:
                    self.metrics.record_error(METRIC_CODE)
                retry = max(1, math.ceil((window + 1) * lim.window_seconds - now))
                return Verdict(False, refused_by=lim, retry_after=retry, window=window)
            taken.append((key, ttl))
        return Verdict(True, counted=tuple(taken))

    def give_back(self, verdict: Verdict | None) -> None:
        """Return the counts an allowed request took (its job could not be queued after all)."""
        if verdict is None:
            return
        for key, ttl in verdict.counted:
            try:
                self.store.incr(key, -1, ttl=ttl)
            except Exception:  # a count not given back only makes the limit stricter until the window ends
                log.warning("could not give a rate-limit count back; it expires with its window")

    # ------------------------------------------------------------------ one reply per window
    def claim_notice(self, tenant_id: str, account_id: str | None, verdict: Verdict) -> bool:
        """True for the first refusal of this person (or site) in the refusing window: reply to it.

        Atomic across processes (the store's ``add``), so exactly one refusal per window wins.
        """
        lim = verdict.refused_by
        if lim is None:
            return False
        ttl = lim.window_seconds + TTL_SLACK_SECONDS
        return bool(self.store.add(self._notice_key(tenant_id, account_id, verdict), 1, ttl=ttl))

    def release_notice(self, tenant_id: str, account_id: str | None, verdict: Verdict) -> None:
        """Forget a claimed notice that could not be queued, so a later refusal may claim it."""
        if verdict.refused_by is not None:
            self.store.delete(self._notice_key(tenant_id, account_id, verdict))

    # ------------------------------------------------------------------ keys
    @staticmethod
    def _counter_key(lim: Limit, tenant_id: str, account_id: str | None, window: int) -> str:
        who = _part(tenant_id) if lim.per == PER_SITE else f"{_part(tenant_id)}:{_part(account_id or '')}"
        return f"{KEY_PREFIX}:{lim.name}:{lim.window_seconds}:{who}:{window}"

    @staticmethod
    def _notice_key(tenant_id: str, account_id: str | None, verdict: Verdict) -> str:
        lim = verdict.refused_by
        assert lim is not None
        return (f"{KEY_PREFIX}:notice:{lim.name}:{lim.window_seconds}:{_part(tenant_id)}:"
                f"{_part(account_id or '-')}:{verdict.window}")


def _part(value: str) -> str:
    """A key segment that cannot contain the ``:`` separator."""
    return quote(value, safe="")


# ---------------------------------------------------------------------- words for people
def wait_words(seconds: int) -> str:
    """A wait for people: ``1 second``, ``40 seconds``, ``25 minutes`` (minutes from 90 seconds on)."""
    seconds = max(1, int(seconds))
    if seconds < 90:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def refusal_message(per: str, window_words: str, retry_after: int, *, language: str = "en") -> str:
    """The plain-words answer to a refused request (a Jira reply, or the screens' 429 message), in
    ``language`` (the request's; English when it has no catalogue).
    """
    key = "rate.user" if per == PER_USER else "rate.site"
    return messages.text(key, language, window=messages.window_words(window_words, language),
                         wait=messages.wait_words(retry_after, language))


def verdict_message(verdict: Verdict) -> str:
    """:func:`refusal_message` for a refused verdict."""
    lim = verdict.refused_by
    if lim is None:
        return ""
    return refusal_message(lim.per, lim.window_words, verdict.retry_after)
