"""The monitor: health status, performance and cost analysis from shared metrics and the ledger.

Everything it reads is shared between processes (the key-value store behind :class:`Metrics`,
the breakers and the cost ledger), so the web process reports what the workers did. Its answers
hold codes, counts, times and money, never secrets or issue text.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import BadRequestError
from ..settings import Settings
from ..storage.ledger import CostLedger, DaySummary
from ..storage.site_settings import SiteSettingsRepo
from .breaker import CLOSED, BreakerRegistry
from .metrics import LLM_STAGE, PIPELINE_STAGE, Metrics, hour_label, latency_summary

log = logging.getLogger(__name__)

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


class Monitor:
    """Computes health, performance and cost views on demand (nothing cached, nothing global)."""

    def __init__(
        self,
        metrics: Metrics,
        ledger: CostLedger,
        breakers: BreakerRegistry,
        queue_depth: Callable[[], int],
        settings: Settings,
        site_settings: SiteSettingsRepo,
        *,
        pings: Mapping[str, Callable[[], object]] | None = None,
        soft_pings: Mapping[str, Callable[[], object]] | None = None,
        queue_warn_depth: int = 100,
        min_requests: int = 5,
        live_workers: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``pings`` must answer or the service is unhealthy (default: the metrics store);
        a failing ``soft_pings`` entry only degrades it. The error rate changes the status only
        once the last hour holds at least ``min_requests`` requests. ``live_workers`` counts the
        job workers alive; jobs waiting with none alive degrade the status.
        """
        self.metrics = metrics
        self.ledger = ledger
        self.breakers = breakers
        self.queue_depth = queue_depth
        self.settings = settings
        self.site_settings = site_settings
        self._pings = dict(pings) if pings is not None else {"storage": metrics.ping}
        self._soft_pings = dict(soft_pings or {})
        self._queue_warn_depth = queue_warn_depth
        self._min_requests = min_requests
        self._live_workers = live_workers
        self._clock = clock

    # ------------------------------------------------------------------ health
    def health_status(self) -> dict[str, Any]:
        """``status`` (healthy/degraded/unhealthy) with the reasons and the figures behind it.

        Unhealthy: a required ping fails, or the error rate over the last hour reaches twice
        ``ERROR_RATE_THRESHOLD``. Degraded: the error rate is above the threshold, a breaker is
        not closed, the queue is at ``queue_warn_depth`` or more, or an optional ping fails.
        """
        now = self._clock()
        reasons: list[tuple[str, str]] = []
        checks = {name: _ping(fn) for name, fn in self._pings.items()}
        reasons += [(UNHEALTHY, f"{name} is failing") for name, ok in checks.items() if ok != "ok"]
        soft = {name: _ping(fn) for name, fn in self._soft_pings.items()}
        reasons += [(DEGRADED, f"{name} is failing") for name, ok in soft.items() if ok != "ok"]

        rate = self._error_rate(now)
        threshold = self.settings.error_rate_threshold
        if rate.get("rate") is not None and rate["requests"] >= self._min_requests:
            if rate["rate"] >= min(1.0, 2 * threshold):
                reasons.append((UNHEALTHY, f"error rate {rate['rate']:.0%} is at least twice the threshold"))
            elif rate["rate"] > threshold:
                reasons.append((DEGRADED, f"error rate {rate['rate']:.0%} is above the threshold"))
        elif "error" in rate:
            reasons.append((UNHEALTHY, "metrics are unavailable"))

        breakers = self._breaker_snapshots()
        if breakers is None:
            reasons.append((DEGRADED, "breaker states are unavailable"))
        for snap in breakers or []:
            if snap["state"] != CLOSED:
                reasons.append((DEGRADED, f"circuit {snap['name']} is {snap['state'].replace('_', '-')}"))

        depth = self._queue()
        if depth is None:
            reasons.append((UNHEALTHY, "the queue depth is unavailable"))
        elif depth >= self._queue_warn_depth:
            reasons.append((DEGRADED, f"{depth} jobs are waiting"))
        workers = self._workers()
        if workers == 0 and depth:
            reasons.append((DEGRADED, f"{depth} job(s) waiting and no job worker is running"))

        levels = {level for level, _ in reasons}
        status = UNHEALTHY if UNHEALTHY in levels else DEGRADED if DEGRADED in levels else HEALTHY
        return {
            "status": status,
            "checked_at": _iso(now),
            "reasons": [text for _, text in reasons],
            "checks": {**checks, **soft},
            "error_rate": {**rate, "threshold": threshold, "min_requests": self._min_requests},
            "breakers": breakers or [],
            "queue": {"depth": depth, "warn_at": self._queue_warn_depth, "workers": workers},
            "recent_errors": [
                {**e, "at": _iso(e["at"]) if isinstance(e.get("at"), int | float) else None}
                for e in self.metrics.recent_errors(10)
            ],
        }

    # ------------------------------------------------------------------ performance
    def performance(self, hours: int = 24) -> dict[str, Any]:
        """p50/p95 per stage, throughput per hour, queue depth and model latency over ``hours``."""
        per_hour = self.metrics.hourly_totals(hours)
        totals: dict[str, int] = {}
        for values in per_hour.values():
            for name, value in values.items():
                totals[name] = totals.get(name, 0) + value
        latency = latency_summary(totals)
        throughput = [
            {
                "hour": hour_label(hour),
                "requests": values.get("requests", 0),
                "failed": values.get("requests_failed", 0),
                "llm_calls": values.get("api_calls", 0),
            }
            for hour, values in per_hour.items()
        ]
        requests = sum(row["requests"] for row in throughput)
        return {
            "window_hours": hours,
            "stages": {k: v for k, v in latency.items() if k not in (PIPELINE_STAGE, LLM_STAGE)},
            "pipeline": latency.get(PIPELINE_STAGE),
            "llm": latency.get(LLM_STAGE),
            "throughput": throughput,
            "requests": requests,
            "requests_per_hour": round(requests / max(1, len(throughput)), 3),
            "queue_depth": self._queue(),
        }

    # ------------------------------------------------------------------ cost
    def cost_analysis(self, tenant_id: str) -> dict[str, Any]:
        """A site's spend: today, 7 and 30 days (per intent and model), budget, projection, savings."""
        if not isinstance(tenant_id, str) or not tenant_id.strip():
            raise BadRequestError("a site (tenant id) is required for a cost analysis")
        days = self.ledger.range(tenant_id, 30)
        today, week = days[-1], days[-7:]
        site = self.site_settings.get(tenant_id)
        limit = round(site.effective_daily_limit_usd(self.settings) * 1_000_000)
        alert_pct = site.effective_alert_percentage(self.settings)
        year, month = int(today.day[:4]), int(today.day[5:7])
        days_in_month = calendar.monthrange(year, month)[1]
        week_avg = sum(d.cost_micros for d in week) / 7
        projected = round(week_avg * days_in_month)
        return {
            "tenant_id": tenant_id,
            "day": today.day,
            "today": _period([today]),
            "last_7_days": _period(week),
            "last_30_days": _period(days),
            "budget": {
                "limit_micros": limit,
                "limit_usd": _usd(limit),
                "spent_micros": today.cost_micros,
                "left_micros": max(0, limit - today.cost_micros),
                "left_usd": _usd(max(0, limit - today.cost_micros)),
                "used_percent": round(100 * today.cost_micros / limit, 2) if limit else None,
                "alert_percentage": alert_pct,
                "alert_at_micros": round(limit * alert_pct / 100),
            },
            "projection": {
                "trailing_7_day_avg_micros": round(week_avg),
                "days_in_month": days_in_month,
                "projected_month_micros": projected,
                "projected_month_usd": _usd(projected),
            },
            "cache_savings": {
                "today_micros": today.saved_micros,
                "last_7_days_micros": sum(d.saved_micros for d in week),
                "last_30_days_micros": sum(d.saved_micros for d in days),
                "last_30_days_usd": _usd(sum(d.saved_micros for d in days)),
            },
            "alerts": {
                "today": list(today.alerts),
                "last_30_days": [{"day": d.day, **a} for d in days for a in d.alerts],
            },
            "refusals": {
                "today": today.refusals,
                "last_7_days": sum(d.refusals for d in week),
                "last_30_days": sum(d.refusals for d in days),
                "by_reason_30_days": _sum_maps(d.refusals_by_reason for d in days),
            },
            "daily": [
                {"day": d.day, "cost_micros": d.cost_micros, "calls": d.calls, "saved_micros": d.saved_micros}
                for d in days
            ],
        }

    # ------------------------------------------------------------------ plumbing
    def _error_rate(self, now: float) -> dict[str, Any]:
        """Requests and failures over roughly the last 60 minutes.

        The current hour counts fully; the previous hour counts for the share of it that is still
        within the last 60 minutes (counters are per hour, so this is an estimate).
        """
        try:
            per_hour = self.metrics.hourly_totals(2)
        except Exception as exc:
            log.warning("error rate unavailable: %s", type(exc).__name__)
            return {"requests": 0, "failed": 0, "rate": None, "error": type(exc).__name__}
        (_prev_hour, prev), (_cur_hour, cur) = list(per_hour.items())
        share = 1 - (now % 3600) / 3600
        requests = cur.get("requests", 0) + share * prev.get("requests", 0)
        failed = cur.get("requests_failed", 0) + share * prev.get("requests_failed", 0)
        return {
            "window_minutes": 60,
            "requests": round(requests),
            "failed": round(failed),
            "rate": round(failed / requests, 4) if requests else None,
        }

    def _breaker_snapshots(self) -> list[dict[str, Any]] | None:
        try:
            return self.breakers.snapshots()
        except Exception as exc:
            log.warning("breaker states unavailable: %s", type(exc).__name__)
            return None

    def _workers(self) -> int | None:
        if self._live_workers is None:
            return None
        try:
            return int(self._live_workers())
        except Exception as exc:
            log.warning("job worker count unavailable: %s", type(exc).__name__)
            return None

    def _queue(self) -> int | None:
        try:
            return int(self.queue_depth())
        except Exception as exc:
            log.warning("queue depth unavailable: %s", type(exc).__name__)
            return None


def _ping(fn: Callable[[], object]) -> str:
    try:
        return "ok" if fn() is not False else "failing"
    except Exception as exc:
        log.warning("health check failed: %s", type(exc).__name__)
        return "failing"


def _period(days: list[DaySummary]) -> dict[str, Any]:
    """Totals of several ledger days, with per-intent and per-model breakdowns."""
    cost = sum(d.cost_micros for d in days)
    saved = sum(d.saved_micros for d in days)
    return {
        "days": len(days),
        "cost_micros": cost,
        "cost_usd": _usd(cost),
        "calls": sum(d.calls for d in days),
        "tokens": _sum_maps(d.tokens for d in days),
        "by_intent": _sum_nested(d.by_intent for d in days),
        "by_model": _sum_nested(d.by_model for d in days),
        "cache_hits": sum(d.cache_hits for d in days),
        "cache_misses": sum(d.cache_misses for d in days),
        "saved_micros": saved,
        "saved_usd": _usd(saved),
        "refusals": sum(d.refusals for d in days),
    }


def _sum_maps(maps: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in maps:
        for k, v in m.items():
            out[k] = out.get(k, 0) + int(v)
    return dict(sorted(out.items()))


def _sum_nested(maps: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for m in maps:
        for name, fields in m.items():
            row = out.setdefault(name, {})
            for k, v in fields.items():
                row[k] = row.get(k, 0) + int(v)
    return dict(sorted(out.items()))


def _usd(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
