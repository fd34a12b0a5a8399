"""Metrics with the original engine's API, recorded three ways at once.

* **Recent records** in this process (thread-safe deques bounded by ``METRICS_MAX_RECORDS``):
  the raw rows behind ``get_stats()["process"]`` and :meth:`Metrics.records`.
* **Shared aggregates** in the key-value store (:class:`HourlyAggregates`): per UTC hour counters
  (requests, errors by code, per intent, model calls, tokens, cost in micro-dollars, cache events
  and savings per layer) and latency histograms per stage with fixed buckets, all written with the
  store's atomic ``incr``. Every process adds to the same counters, so the web process reports
  what the workers did and percentiles are computed across processes. They expire after 35 days.
* **Prometheus** families (:class:`~connect_app.ops.prometheus.PromMetrics`), on this object's own
  registry, or in multiprocess mode when a directory is given; exposed by :meth:`Metrics.exposition`.

Recording never breaks a reply: a failing store is logged (at most once a minute) and counted in
``get_stats()["process"]["store_failures"]``. Bad arguments raise :class:`BadRequestError`.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import AppError, BadRequestError, ConfigError
from ..storage.base import KeyValueStore
from .prometheus import STAGE_BUCKETS_SECONDS, PromMetrics

log = logging.getLogger(__name__)

LATENCY_BUCKETS_MS: tuple[float, ...] = tuple(round(b * 1000, 3) for b in STAGE_BUCKETS_SECONDS)
"""Upper bounds (ms) of the shared latency histogram; one more bucket holds everything slower."""
RETENTION_SECONDS = 35 * 86_400
CACHE_EVENTS = ("hit", "miss", "store")
PIPELINE_STAGE = "pipeline"
LLM_STAGE = "llm"
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.:/\-]")
_KINDS = ("classifications", "api_calls", "pipelines", "stages", "cache_events", "errors", "budget")
_ERROR_RING = 64


def label(value: Any, *, default: str = "unknown") -> str:
    """A safe, bounded label value: letters, digits and ``_.:/-`` only, at most 80 characters."""
    text = _LABEL_BAD.sub("_", str(value).strip())[:80] if value not in (None, "") else ""
    return text or default


def hour_of(ts: float) -> str:
    """The UTC hour of a timestamp as ``YYYYMMDDHH``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d%H")


def hour_label(hour: str) -> str:
    """``YYYYMMDDHH`` as ``YYYY-MM-DDTHH:00Z``."""
    return f"{hour[:4]}-{hour[4:6]}-{hour[6:8]}T{hour[8:]}:00Z"


def percentile(counts: list[int], q: float) -> float | None:
    """The ``q`` quantile (0-1) in ms of a histogram over :data:`LATENCY_BUCKETS_MS`.

    Linear interpolation inside the bucket, as Prometheus' ``histogram_quantile`` does; a rank in
    the overflow bucket answers the largest finite bound. None when the histogram is empty.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = LATENCY_BUCKETS_MS[i - 1] if i > 0 else 0.0
            if i >= len(LATENCY_BUCKETS_MS):
                return lower
            upper = LATENCY_BUCKETS_MS[i]
            return round(lower + (upper - lower) * max(0.0, rank - seen) / count, 3)
        seen += count
    return LATENCY_BUCKETS_MS[-1]


# ---------------------------------------------------------------------- shared aggregates
class HourlyAggregates:
    """Counters per UTC hour in the key-value store, written with atomic ``incr``.

    A series is a name such as ``requests``, ``error|jira_unavailable`` or ``lat|generate|b3``;
    its value for an hour lives at ``metrics:h:<YYYYMMDDHH>:<series>``. Series names are indexed
    in numbered slots (``incr`` a slot, write the name, then mark it seen with ``add``) so readers
    find them without scanning the store; a crash leaves at worst a duplicate, removed on read.
    """

    def __init__(
        self,
        store: KeyValueStore,
        *,
        clock: Callable[[], float] = time.time,
        retention_seconds: int = RETENTION_SECONDS,
    ) -> None:
        """``store`` should be durable (counters must not be evicted before they expire)."""
        self.store = store
        self._clock = clock
        self._ttl = retention_seconds
        self._known: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ writing
    def add(self, increments: Mapping[str, int], *, at: float | None = None) -> None:
        """Add each non-zero increment to its series for the hour of ``at`` (default: now)."""
        hour = hour_of(self._clock() if at is None else at)
        for series, delta in increments.items():
            if not delta:
                continue
            self._register(series)
            self.store.incr(f"metrics:h:{hour}:{series}", int(delta), ttl=self._ttl)

    def push_error(self, code: str, *, at: float, intent: str | None) -> None:
        """Remember an error (code, time, intent; nothing else) in a small shared ring."""
        seq = self.store.incr("metrics:err:seq")
        entry = {"seq": seq, "code": code, "at": at, "intent": intent}
        self.store.set(f"metrics:err:{seq % _ERROR_RING}", entry, ttl=self._ttl)

    # ------------------------------------------------------------------ reading
    def series_names(self) -> list[str]:
        """Every series any process has written."""
        count = int(self.store.get("metrics:series:count") or 0)
        names = (self.store.get(f"metrics:series:{i}") for i in range(1, count + 1))
        return list(dict.fromkeys(n for n in names if isinstance(n, str)))

    def hours(self, count: int, *, end: float | None = None) -> list[str]:
        """The last ``count`` UTC hours up to the one holding ``end`` (default now), oldest first."""
        now = self._clock() if end is None else end
        return [hour_of(now - 3600 * i) for i in range(count - 1, -1, -1)]

    def read(self, hours: Iterable[str], prefixes: tuple[str, ...] = ("",)) -> dict[str, dict[str, int]]:
        """``{hour: {series: value}}`` for the series starting with one of ``prefixes``."""
        names = [n for n in self.series_names() if n.startswith(prefixes)]
        out: dict[str, dict[str, int]] = {}
        for hour in hours:
            values: dict[str, int] = {}
            for name in names:
                value = self.store.get(f"metrics:h:{hour}:{name}")
                if value:
                    values[name] = int(value)
            out[hour] = values
        return out

    def totals(self, hours: Iterable[str], prefixes: tuple[str, ...] = ("",)) -> dict[str, int]:
        """The series summed over ``hours``."""
        total: dict[str, int] = {}
        for values in self.read(hours, prefixes).values():
            for name, value in values.items():
                total[name] = total.get(name, 0) + value
        return total

    def recent_errors(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last errors any process recorded, newest first."""
        seq = int(self.store.get("metrics:err:seq") or 0)
        out = []
        for s in range(seq, max(0, seq - min(limit, _ERROR_RING)), -1):
            entry = self.store.get(f"metrics:err:{s % _ERROR_RING}")
            if isinstance(entry, dict) and entry.get("seq") == s:
                out.append({k: entry.get(k) for k in ("code", "at", "intent")})
        return out

    def _register(self, series: str) -> None:
        """Index a series name: slot first, then mark it seen, so a crash never loses a name."""
        if series in self._known:
            return
        seen = f"metrics:series-seen:{series}"
        if self.store.get(seen) is None:
            slot = self.store.incr("metrics:series:count")
            self.store.set(f"metrics:series:{slot}", series)
            self.store.add(seen, slot)
        with self._lock:
            self._known.add(series)


def histogram_increments(stage: str, latency_ms: float) -> dict[str, int]:
    """The series increments that record one latency observation for ``stage``."""
    index = bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)
    return {
        f"lat|{stage}|b{index}": 1,
        f"lat|{stage}|n": 1,
        f"lat|{stage}|sum_us": round(latency_ms * 1000),
    }


def latency_summary(totals: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """``{stage: {count, avg_ms, p50_ms, p95_ms, p99_ms}}`` from summed histogram series."""
    stages = sorted({name.split("|")[1] for name in totals if name.startswith("lat|")})
    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        counts = [totals.get(f"lat|{stage}|b{i}", 0) for i in range(len(LATENCY_BUCKETS_MS) + 1)]
        n = totals.get(f"lat|{stage}|n", 0)
        if not n:
            continue
        out[stage] = {
            "count": n,
            "avg_ms": round(totals.get(f"lat|{stage}|sum_us", 0) / 1000 / n, 3),
            "p50_ms": percentile(counts, 0.50),
            "p95_ms": percentile(counts, 0.95),
            "p99_ms": percentile(counts, 0.99),
        }
    return out


# ---------------------------------------------------------------------- the facade
class Metrics:
    """Thread-safe metrics: the original engine's API, shared aggregates and Prometheus families.

    Build one per process (``Metrics(stores.durable, max_records=settings.metrics_max_records,
    multiproc_dir=...)``). ``stage_observer=metrics.record_stage`` feeds the pipeline's stage
    timings; ``manager.add_observer(metrics.observe_llm_call)`` feeds model calls.
    """

    def __init__(
        self,
        store: KeyValueStore,
        *,
        max_records: int = 10_000,
        multiproc_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        retention_seconds: int = RETENTION_SECONDS,
        prometheus: PromMetrics | None = None,
    ) -> None:
        """``multiproc_dir`` puts Prometheus in multiprocess mode over that directory."""
        if not isinstance(max_records, int) or max_records < 1:
            raise ConfigError("METRICS_MAX_RECORDS must be at least 1")
        self.max_records = max_records
        self.shared = HourlyAggregates(store, clock=clock, retention_seconds=retention_seconds)
        self.prom = prometheus or PromMetrics.create(multiproc_dir)
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._records: dict[str, deque[dict[str, Any]]] = {k: deque(maxlen=max_records) for k in _KINDS}
        self._store_failures = 0
        self._last_store_warning = 0.0

    # ------------------------------------------------------------------ recording (original API)
    def record_classification(self, intent: str, confidence: float, source: str, latency_ms: float) -> None:
        """One intent classification: its intent, confidence (0-1), source (rules/llm/...) and time."""
        intent_l, source_l = _name(intent, "intent"), _name(source, "source")
        conf = _number(confidence, "confidence")
        if conf > 1:
            raise BadRequestError("confidence must be between 0 and 1")
        ms = _number(latency_ms, "latency_ms")
        now = self._clock()
        self._keep("classifications", {"at": now, "intent": intent_l, "confidence": conf,
                                       "source": source_l, "latency_ms": ms})
        self.prom.classifications.labels(intent=intent_l, source=source_l).inc()
        self._shared({
            "classifications": 1,
            f"class|{intent_l}": 1,
            f"class_source|{source_l}": 1,
            "class_conf_milli": round(conf * 1000),
        }, now)

    def record_api_call(
        self,
        *,
        model: str,
        intent: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_micros: int,
        latency_ms: float,
        success: bool,
        error_code: str | None = None,
    ) -> None:
        """One language-model call: tokens, cost (micro-dollars), latency and outcome."""
        model_l, intent_l = _name(model, "model"), _name(intent, "intent")
        prompt = _count(prompt_tokens, "prompt_tokens")
        completion = _count(completion_tokens, "completion_tokens")
        cost = _count(cost_micros, "cost_micros")
        ms = _number(latency_ms, "latency_ms")
        status = "ok" if success else "error"
        now = self._clock()
        self._keep("api_calls", {"at": now, "model": model_l, "intent": intent_l, "prompt_tokens": prompt,
                                 "completion_tokens": completion, "cost_micros": cost, "latency_ms": ms,
                                 "success": bool(success), "error_code": error_code})
        self.prom.llm_calls.labels(model=model_l, status=status).inc()
        if prompt:
            self.prom.llm_tokens.labels(model=model_l, kind="prompt").inc(prompt)
        if completion:
            self.prom.llm_tokens.labels(model=model_l, kind="completion").inc(completion)
        if cost:
            self.prom.llm_cost_usd.labels(model=model_l).inc(cost / 1_000_000)
        self.prom.llm_seconds.labels(model=model_l).observe(ms / 1000)
        increments = {
            "api_calls": 1,
            "api_failed": 0 if success else 1,
            f"api_model_calls|{model_l}": 1,
            f"api_model_cost|{model_l}": cost,
            f"api_intent_cost|{intent_l}": cost,
            "tokens_prompt": prompt,
            "tokens_completion": completion,
            "cost_micros": cost,
            **histogram_increments(LLM_STAGE, ms),
        }
        if not success:
            increments[f"api_error|{label(error_code)}"] = 1
        self._shared(increments, now)

    def record_pipeline_execution(
        self,
        *,
        intent: str | None,
        total_ms: float,
        success: bool,
        stages: dict[str, float] | None = None,
        error_code: str | None = None,
    ) -> None:
        """One request through the pipeline. A failure with ``error_code`` also counts that error.

        ``stages`` (stage -> ms) is kept with the record; the per-stage histograms are fed by
        :meth:`record_stage` (the pipeline's stage observer), so they are not counted twice.
        """
        intent_l = label(intent)
        ms = _number(total_ms, "total_ms")
        status = "ok" if success else "error"
        now = self._clock()
        self._keep("pipelines", {"at": now, "intent": intent_l, "total_ms": ms, "success": bool(success),
                                 "stages": dict(stages or {}), "error_code": error_code})
        self.prom.requests.labels(intent=intent_l, status=status).inc()
        self.prom.pipeline_seconds.observe(ms / 1000)
        self._shared({
            "requests": 1,
            "requests_failed": 0 if success else 1,
            f"intent|{intent_l}": 1,
            **histogram_increments(PIPELINE_STAGE, ms),
        }, now)
        if not success and error_code:
            self._error(error_code, intent_l, now)

    def record_stage(self, stage: str, latency_ms: float, ok: bool) -> None:
        """One pipeline stage's time (the pipeline's ``stage_observer``)."""
        stage_l = _name(stage, "stage")
        ms = _number(latency_ms, "latency_ms")
        now = self._clock()
        self._keep("stages", {"at": now, "stage": stage_l, "latency_ms": ms, "ok": bool(ok)})
        self.prom.stage_seconds.labels(stage=stage_l).observe(ms / 1000)
        self._shared({**histogram_increments(stage_l, ms), f"stage_failed|{stage_l}": 0 if ok else 1}, now)

    def record_cache_event(self, *, layer: str, event: str, saved_micros: int = 0) -> None:
        """A cache ``hit``, ``miss`` or ``store`` in a layer (``exact``/``semantic``); hits save money."""
        layer_l = _name(layer, "layer")
        if event not in CACHE_EVENTS:
            raise BadRequestError(f"a cache event is one of {', '.join(CACHE_EVENTS)}, got {event!r}")
        saved = _count(saved_micros, "saved_micros")
        now = self._clock()
        self._keep("cache_events", {"at": now, "layer": layer_l, "event": event, "saved_micros": saved})
        self.prom.cache_events.labels(layer=layer_l, event=event).inc()
        if saved:
            self.prom.cache_saved_usd.labels(layer=layer_l).inc(saved / 1_000_000)
        self._shared({f"cache|{layer_l}|{event}": 1, f"saved|{layer_l}": saved}, now)

    def record_error(self, code: str) -> None:
        """An error by its stable code (``AppError.code``)."""
        self._error(_name(code, "code"), None, self._clock())

    def record_budget_refusal(self, tenant_id: str) -> None:
        """A model call refused by the site's daily budget."""
        now = self._clock()
        self._keep("budget", {"at": now, "tenant_id": str(tenant_id), "kind": "refusal"})
        self.prom.budget_refusals.inc()
        self._shared({"budget_refusals": 1}, now)

    def record_cost_alert(self, tenant_id: str) -> None:
        """A site crossed its cost alert threshold for the day."""
        now = self._clock()
        self._keep("budget", {"at": now, "tenant_id": str(tenant_id), "kind": "alert"})
        self.prom.cost_alerts.inc()
        self._shared({"cost_alerts": 1}, now)

    def observe_llm_call(self, record: Any) -> None:
        """A :class:`~connect_app.llm.manager.CallRecord` observer for the model manager.

        The cost comes from ``record.cost_micros`` (or ``record.extra["cost_micros"]``). Not needed
        when the manager was given this object as its ``metrics`` (it records every call itself).
        """
        extra = getattr(record, "extra", None) or {}
        cost = getattr(record, "cost_micros", 0) or extra.get("cost_micros", 0)
        self.record_api_call(
            model=record.model,
            intent=record.intent,
            prompt_tokens=int(record.prompt_tokens or 0),
            completion_tokens=int(record.completion_tokens or 0),
            cost_micros=int(cost or 0),
            latency_ms=float(record.latency_ms or 0.0),
            success=bool(record.ok),
            error_code=record.error_code,
        )

    # ------------------------------------------------------------------ reading (original API)
    def get_stats(self, hours: int = 24) -> dict[str, Any]:
        """Totals over the last ``hours`` across every process, plus this process's recent records."""
        totals = self.shared.totals(self.shared.hours(_hours(hours)))
        requests = totals.get("requests", 0)
        failed = totals.get("requests_failed", 0)
        classified = totals.get("classifications", 0)
        return {
            "window_hours": hours,
            "requests": {
                "total": requests,
                "succeeded": requests - failed,
                "failed": failed,
                "success_rate": round((requests - failed) / requests, 4) if requests else None,
                "error_rate": round(failed / requests, 4) if requests else 0.0,
                "by_intent": _group(totals, "intent|"),
            },
            "errors": {"by_code": _group(totals, "error|"), "recent": self.recent_errors(10)},
            "classifications": {
                "total": classified,
                "by_intent": _group(totals, "class|"),
                "by_source": _group(totals, "class_source|"),
                "avg_confidence": round(totals.get("class_conf_milli", 0) / 1000 / classified, 4)
                if classified
                else None,
            },
            "api_calls": {
                "total": totals.get("api_calls", 0),
                "failed": totals.get("api_failed", 0),
                "by_model": _group(totals, "api_model_calls|"),
                "errors_by_code": _group(totals, "api_error|"),
                "prompt_tokens": totals.get("tokens_prompt", 0),
                "completion_tokens": totals.get("tokens_completion", 0),
                "cost_micros": totals.get("cost_micros", 0),
                "cost_usd": _usd(totals.get("cost_micros", 0)),
            },
            "latency_ms": latency_summary(totals),
            "cache": _cache_stats(totals),
            "budget_refusals": totals.get("budget_refusals", 0),
            "cost_alerts": totals.get("cost_alerts", 0),
            "process": self._process_stats(),
        }

    def get_daily_cost(self, day: str | None = None) -> dict[str, Any]:
        """Model spend for a UTC day (``YYYY-MM-DD``, default today) across every process and site."""
        if day is None:
            day = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day or ""):
            raise BadRequestError("day must be YYYY-MM-DD")
        compact = day.replace("-", "")
        totals = self.shared.totals([f"{compact}{h:02d}" for h in range(24)], ("api_", "tokens_", "cost_"))
        cost = totals.get("cost_micros", 0)
        calls = _group(totals, "api_model_calls|")
        costs = _group(totals, "api_model_cost|")
        by_intent = _group(totals, "api_intent_cost|")
        return {
            "date": day,
            "cost_micros": cost,
            "cost_usd": _usd(cost),
            "api_calls": totals.get("api_calls", 0),
            "failed_calls": totals.get("api_failed", 0),
            "prompt_tokens": totals.get("tokens_prompt", 0),
            "completion_tokens": totals.get("tokens_completion", 0),
            "by_model": {
                m: {"calls": calls.get(m, 0), "cost_micros": c, "cost_usd": _usd(c)}
                for m in sorted(set(calls) | set(costs))
                for c in [costs.get(m, 0)]
            },
            "by_intent": {
                i: {"cost_micros": c, "cost_usd": _usd(c)} for i, c in by_intent.items()
            },
        }

    def get_hourly_stats(self, hours: int = 24) -> list[dict[str, Any]]:
        """One row per UTC hour (oldest first) for the last ``hours``, across every process."""
        prefixes = ("requests", "error|", "api_", "tokens_", "cost_micros", "cache|", "saved|",
                    f"lat|{PIPELINE_STAGE}|n", f"lat|{PIPELINE_STAGE}|sum_us")
        rows = []
        for hour, v in self.shared.read(self.shared.hours(_hours(hours)), prefixes).items():
            requests, failed = v.get("requests", 0), v.get("requests_failed", 0)
            n = v.get(f"lat|{PIPELINE_STAGE}|n", 0)
            total_us = v.get(f"lat|{PIPELINE_STAGE}|sum_us", 0)
            cache = {k: c for k, c in v.items() if k.startswith("cache|")}
            rows.append({
                "hour": hour_label(hour),
                "requests": requests,
                "failed": failed,
                "error_rate": round(failed / requests, 4) if requests else 0.0,
                "errors": sum(_group(v, "error|").values()),
                "api_calls": v.get("api_calls", 0),
                "tokens": v.get("tokens_prompt", 0) + v.get("tokens_completion", 0),
                "cost_micros": v.get("cost_micros", 0),
                "cache_hits": sum(c for k, c in cache.items() if k.endswith("|hit")),
                "cache_misses": sum(c for k, c in cache.items() if k.endswith("|miss")),
                "avg_latency_ms": round(total_us / 1000 / n, 3) if n else None,
            })
        return rows

    def get_cache_stats(self, hours: int = 24) -> dict[str, Any]:
        """Cache hits, misses, stores, hit rate and savings per layer over the last ``hours``."""
        return _cache_stats(self.shared.totals(self.shared.hours(_hours(hours)), ("cache|", "saved|")))

    # ------------------------------------------------------------------ more reading
    def stage_latency(self, hours: int = 1) -> dict[str, dict[str, Any]]:
        """``{stage: {count, avg_ms, p50_ms, p95_ms, p99_ms}}`` over the last ``hours`` (every process).

        Stages include ``pipeline`` (whole requests), ``llm`` (model calls) and the pipeline's own
        stages (``context``, ``classify``, ``generate``, ``validate``, ``post``).
        """
        return latency_summary(self.shared.totals(self.shared.hours(_hours(hours)), ("lat|",)))

    def hourly_totals(self, hours: int) -> dict[str, dict[str, int]]:
        """Raw ``{hour: {series: value}}`` of the last ``hours`` (for the monitor)."""
        return self.shared.read(self.shared.hours(_hours(hours)))

    def recent_errors(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last errors any process recorded (code, time, intent), newest first."""
        try:
            return self.shared.recent_errors(limit)
        except AppError as exc:
            self._store_failed(exc)
            return []

    def records(self, kind: str) -> list[dict[str, Any]]:
        """A copy of this process's recent records of one kind (see ``get_stats()["process"]``)."""
        if kind not in self._records:
            raise BadRequestError(f"record kinds are {', '.join(_KINDS)}")
        with self._lock:
            return list(self._records[kind])

    def exposition(self, collectors: Iterable[Any] = (), accept: str = "") -> tuple[bytes, str]:
        """Prometheus text exposition (body, content type), aggregated over processes when needed."""
        return self.prom.exposition(collectors, accept)

    def ping(self) -> bool:
        """True when the shared store answers."""
        return self.shared.store.ping()

    # ------------------------------------------------------------------ plumbing
    def _error(self, code: str, intent: str | None, now: float) -> None:
        code_l = label(code)
        self._keep("errors", {"at": now, "code": code_l, "intent": intent})
        self.prom.errors.labels(code=code_l).inc()
        self._shared({f"error|{code_l}": 1}, now)
        try:
            self.shared.push_error(code_l, at=now, intent=intent)
        except AppError as exc:
            self._store_failed(exc)

    def _keep(self, kind: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._records[kind].append(record)

    def _shared(self, increments: Mapping[str, int], now: float) -> None:
        try:
            self.shared.add(increments, at=now)
        except AppError as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: AppError) -> None:
        with self._lock:
            self._store_failures += 1
            warn = self._clock() - self._last_store_warning >= 60
            if warn:
                self._last_store_warning = self._clock()
        if warn:
            log.warning("metrics could not reach the shared store (%s); counting locally only", exc.code)

    def _process_stats(self) -> dict[str, Any]:
        with self._lock:
            sizes = {k: len(v) for k, v in self._records.items()}
            pipelines = list(self._records["pipelines"])
            store_failures = self._store_failures
        return {
            "pid": os.getpid(),
            "uptime_seconds": round(self._clock() - self._started, 3),
            "max_records": self.max_records,
            "records": sizes,
            "recent_requests": len(pipelines),
            "recent_failed": sum(1 for p in pipelines if not p["success"]),
            "store_failures": store_failures,
            "prometheus_multiprocess": self.prom.multiproc_dir is not None,
        }


# ---------------------------------------------------------------------- helpers
def _cache_stats(totals: Mapping[str, int]) -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = {}
    for name, value in totals.items():
        if name.startswith("cache|"):
            _, layer, event = name.split("|", 2)
            layers.setdefault(layer, {e: 0 for e in CACHE_EVENTS})[event] = value
    for layer, saved in _group(totals, "saved|").items():
        layers.setdefault(layer, {e: 0 for e in CACHE_EVENTS})["saved_micros"] = saved
    for stats in layers.values():
        stats.setdefault("saved_micros", 0)
        lookups = stats["hit"] + stats["miss"]
        stats["hit_rate"] = round(stats["hit"] / lookups, 4) if lookups else None
        stats["saved_usd"] = _usd(stats["saved_micros"])
    hits = sum(s["hit"] for s in layers.values())
    misses = sum(s["miss"] for s in layers.values())
    saved = sum(s["saved_micros"] for s in layers.values())
    return {
        "hits": hits,
        "misses": misses,
        "stores": sum(s["store"] for s in layers.values()),
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
        "saved_micros": saved,
        "saved_usd": _usd(saved),
        "layers": dict(sorted(layers.items())),
    }


def _group(totals: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {name[len(prefix):]: value for name, value in sorted(totals.items()) if name.startswith(prefix)}


def _usd(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def _hours(hours: int) -> int:
    if not isinstance(hours, int) or not 1 <= hours <= 24 * 35:
        raise BadRequestError("hours must be a whole number from 1 to 840")
    return hours


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{what} must be a non-empty string")
    return label(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise BadRequestError(f"{what} must be a finite number >= 0")
    return float(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequestError(f"{what} must be a whole number >= 0")
    return value
