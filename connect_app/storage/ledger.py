"""The cost ledger: what each site spent and saved, per UTC day, per intent and per model.

It lives in the durable store (never evicted) and is written by the web process and every worker
at once, so every figure is an atomic ``incr`` counter; nothing is read-modify-written.

Key scheme (every component URL-quoted, so a ``:`` in a Forge installation id cannot collide)::

    ledger:{site}:{day}:i:{intent}:{field}      per-intent counters
    ledger:{site}:{day}:m:{model}:{field}       per-model counters
    ledger:{site}:{day}:c:{layer}:{field}       cache hits, misses and savings per layer
    ledger:{site}:{day}:r:{reason}:n            refusals per reason
    ledger:{site}:{day}:alert                   the day's cost alert (written once with ``add``)
    ledger:{site}:{day}:x:{dim}:n / :{slot}     index of the names seen per dimension
    ledger:-:{day}:x:sites:n / :{slot}          index of the sites active that day

A day is read back with a fixed number of ``get`` calls per name seen, never a scan of the store.
An index is a list of numbered slots: a writer that has not seen a name yet takes a slot with
``incr``, writes the name into it, then marks the name seen with ``add``. Every crash point leaves
either an empty slot (skipped) or a duplicate name (de-duplicated on read), never a lost name.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..errors import BadRequestError
from .base import KeyValueStore

PREFIX = "ledger"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SECONDS_PER_DAY = 86_400

#: Counter fields kept per intent and per model.
CALL_FIELDS = ("cost_micros", "calls", "prompt_tokens", "completion_tokens", "cached_tokens")
INTENT_FIELDS = (*CALL_FIELDS, "cache_hits", "cache_misses", "saved_micros", "refusals")
MODEL_FIELDS = (*CALL_FIELDS, "cache_hits", "saved_micros")
CACHE_FIELDS = ("hits", "misses", "saved_micros")


def utc_day(ts: float | None = None) -> str:
    """The UTC calendar day of ``ts`` (default now) as ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


def check_day(day: str) -> str:
    """``day`` if it is a ``YYYY-MM-DD`` date, else :class:`BadRequestError`."""
    if not isinstance(day, str) or not _DAY.match(day):
        raise BadRequestError(f"a day must be written YYYY-MM-DD, got {day!r}")
    try:
        time.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise BadRequestError(f"not a calendar day: {day!r}") from None
    return day


def previous_days(end: str, days: int) -> list[str]:
    """``days`` consecutive UTC days ending with ``end``, oldest first."""
    end_ts = calendar.timegm(time.strptime(check_day(end), "%Y-%m-%d"))
    return [utc_day(end_ts - offset * SECONDS_PER_DAY) for offset in range(days - 1, -1, -1)]


@dataclass
class DaySummary:
    """One site's day: money spent and saved, calls and tokens, broken down by intent and model.

    ``by_intent[intent]`` has the keys of :data:`INTENT_FIELDS`, ``by_model[model]`` those of
    :data:`MODEL_FIELDS`, ``cache[layer]`` those of :data:`CACHE_FIELDS` and ``tokens`` has
    ``prompt``, ``completion`` and ``cached``.
    """

    tenant_id: str
    day: str
    cost_micros: int = 0
    calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0, "cached": 0})
    by_intent: dict[str, dict[str, int]] = field(default_factory=dict)
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)
    cache: dict[str, dict[str, int]] = field(default_factory=dict)
    saved_micros: int = 0
    refusals: int = 0
    refusals_by_reason: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cache_hits(self) -> int:
        """Hits over every cache layer."""
        return sum(layer.get("hits", 0) for layer in self.cache.values())

    @property
    def cache_misses(self) -> int:
        """Misses over every cache layer."""
        return sum(layer.get("misses", 0) for layer in self.cache.values())

    @property
    def active(self) -> bool:
        """True when anything at all was recorded that day."""
        return bool(self.calls or self.cache_hits or self.cache_misses or self.refusals or self.alerts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (money in micro-dollars and, for display, USD)."""
        out = dataclasses.asdict(self)
        out["cost_usd"] = round(self.cost_micros / 1_000_000, 6)
        out["saved_usd"] = round(self.saved_micros / 1_000_000, 6)
        out["cache_hits"] = self.cache_hits
        out["cache_misses"] = self.cache_misses
        return out


class CostLedger:
    """Durable, multi-process-safe cost accounting per site and UTC day."""

    def __init__(self, store: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        """``store`` must be the durable store; ``clock`` decides what "today" is (tests)."""
        self._store = store
        self._clock = clock

    def today(self) -> str:
        """The current UTC day."""
        return utc_day(self._clock())

    # ------------------------------------------------------------------ writes
    def record_call(
        self,
        *,
        tenant_id: str,
        intent: str,
        model: str,
        cost_micros: int,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int,
        day: str | None = None,
    ) -> None:
        """Count one paid model call."""
        d = self._day(day)
        values = {
            "cost_micros": _count(cost_micros, "cost_micros"),
            "calls": 1,
            "prompt_tokens": _count(prompt_tokens, "prompt_tokens"),
            "completion_tokens": _count(completion_tokens, "completion_tokens"),
            "cached_tokens": _count(cached_tokens, "cached_tokens"),
        }
        self._bump(tenant_id, d, "i", intent, values)
        self._bump(tenant_id, d, "m", model, values)

    def record_cache_hit(
        self,
        *,
        tenant_id: str,
        intent: str,
        model: str,
        saved_micros: int,
        layer: str,
        day: str | None = None,
    ) -> None:
        """Count an answer served from a cache; ``saved_micros`` is what the original call cost."""
        d = self._day(day)
        saved = _count(saved_micros, "saved_micros")
        self._bump(tenant_id, d, "i", intent, {"cache_hits": 1, "saved_micros": saved})
        self._bump(tenant_id, d, "m", model, {"cache_hits": 1, "saved_micros": saved})
        self._bump(tenant_id, d, "c", layer, {"hits": 1, "saved_micros": saved})

    def record_cache_miss(self, *, tenant_id: str, intent: str, layer: str, day: str | None = None) -> None:
        """Count a cache lookup that found nothing usable."""
        d = self._day(day)
        self._bump(tenant_id, d, "i", intent, {"cache_misses": 1})
        self._bump(tenant_id, d, "c", layer, {"misses": 1})

    def record_refusal(self, *, tenant_id: str, intent: str, reason: str, day: str | None = None) -> None:
        """Count a call refused before it reached the model (e.g. ``budget_exceeded``)."""
        d = self._day(day)
        self._bump(tenant_id, d, "i", intent or "unknown", {"refusals": 1})
        self._bump(tenant_id, d, "r", reason or "unknown", {"n": 1})

    def record_alert(
        self,
        *,
        tenant_id: str,
        percent: float,
        spent_micros: int,
        limit_micros: int,
        day: str | None = None,
    ) -> bool:
        """Record the day's cost alert; True only for the first caller that day (atomic ``add``)."""
        d = self._day(day)
        alert = {
            "percent": float(percent),
            "spent_micros": int(spent_micros),
            "limit_micros": int(limit_micros),
            "at": self._clock(),
        }
        first = self._store.add(self._key(tenant_id, d, "alert"), alert)
        if first:
            self._register_site(tenant_id, d)
        return first

    # ------------------------------------------------------------------ reads
    def day(self, tenant_id: str, day: str | None = None) -> DaySummary:
        """Everything recorded for ``tenant_id`` on ``day`` (default today)."""
        d = self._day(day)
        summary = DaySummary(tenant_id=tenant_id, day=d)
        for intent in self._names(tenant_id, d, "i"):
            summary.by_intent[intent] = self._fields(tenant_id, d, "i", intent, INTENT_FIELDS)
        for model in self._names(tenant_id, d, "m"):
            summary.by_model[model] = self._fields(tenant_id, d, "m", model, MODEL_FIELDS)
        for layer in self._names(tenant_id, d, "c"):
            summary.cache[layer] = self._fields(tenant_id, d, "c", layer, CACHE_FIELDS)
        for reason in self._names(tenant_id, d, "r"):
            count = self._fields(tenant_id, d, "r", reason, ("n",))["n"]
            if count:
                summary.refusals_by_reason[reason] = count
        for row in summary.by_intent.values():
            summary.cost_micros += row["cost_micros"]
            summary.calls += row["calls"]
            summary.tokens["prompt"] += row["prompt_tokens"]
            summary.tokens["completion"] += row["completion_tokens"]
            summary.tokens["cached"] += row["cached_tokens"]
            summary.refusals += row["refusals"]
        summary.saved_micros = sum(layer["saved_micros"] for layer in summary.cache.values())
        alert = self._store.get(self._key(tenant_id, d, "alert"))
        if isinstance(alert, dict):
            summary.alerts.append(alert)
        return summary

    def range(self, tenant_id: str, days: int, *, end: str | None = None) -> list[DaySummary]:
        """The ``days`` days ending with ``end`` (default today), oldest first; quiet days included."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
            raise BadRequestError("days must be a whole number from 1 to 366")
        return [self.day(tenant_id, d) for d in previous_days(self._day(end), days)]

    def tenants_with_activity(self, day: str | None = None) -> list[str]:
        """Sites that recorded anything on ``day`` (default today), sorted."""
        return sorted(self._index_names(self._index_base("-", self._day(day), "sites")))

    # ------------------------------------------------------------------ internals
    def _day(self, day: str | None) -> str:
        return self.today() if day is None else check_day(day)

    @staticmethod
    def _key(tenant_id: str, day: str, *parts: str) -> str:
        return ":".join((PREFIX, _q(tenant_id), day, *(_q(p) for p in parts)))

    def _bump(self, tenant_id: str, day: str, dim: str, name: str, values: dict[str, int]) -> None:
        for fld, delta in values.items():
            if delta:
                self._store.incr(self._key(tenant_id, day, dim, name, fld), delta)
        self._register(self._index_base(tenant_id, day, dim), name)
        self._register_site(tenant_id, day)

    def _fields(
        self, tenant_id: str, day: str, dim: str, name: str, fields: tuple[str, ...]
    ) -> dict[str, int]:
        return {f: int(self._store.get(self._key(tenant_id, day, dim, name, f)) or 0) for f in fields}

    def _names(self, tenant_id: str, day: str, dim: str) -> list[str]:
        return self._index_names(self._index_base(tenant_id, day, dim))

    def _index_base(self, tenant_id: str, day: str, dim: str) -> str:
        return ":".join((PREFIX, _q(tenant_id), day, "x", dim))

    def _register_site(self, tenant_id: str, day: str) -> None:
        self._register(self._index_base("-", day, "sites"), tenant_id)

    def _register(self, base: str, name: str) -> None:
        seen = f"{base}:seen:{_q(name)}"
        if self._store.get(seen) is not None:
            return
        slot = self._store.incr(f"{base}:n")
        self._store.set(f"{base}:{slot}", name)
        self._store.add(seen, slot)

    def _index_names(self, base: str) -> list[str]:
        count = int(self._store.get(f"{base}:n") or 0)
        names: list[str] = []
        for slot in range(1, count + 1):
            name = self._store.get(f"{base}:{slot}")
            if isinstance(name, str) and name not in names:
                names.append(name)
        return names


def _q(part: str) -> str:
    return quote(str(part), safe="")


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequestError(f"{name} must be a whole number of zero or more, got {value!r}")
    return value
