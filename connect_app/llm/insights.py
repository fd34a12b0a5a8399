"""Optimisation suggestions for a site, computed from its cost ledger (and cache metrics).

Each :class:`Suggestion` carries the numbers behind it, so an admin can judge it rather than take
it on trust. Money is in micro-dollars; estimated savings come from the price ratio of two models
applied to the tokens the site really used.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import ConfigError
from ..settings import Settings
from ..storage.ledger import CostLedger, DaySummary
from ..storage.site_settings import SiteSettings
from .budget import format_usd, usd_to_micros
from .embedding_meter import EMBEDDING_INTENT
from .manager import CLASSIFICATION_INTENT, READ_ONLY_INTENT_NAMES
from .prices import ModelPrice, PriceTable, round_up

DOMINANT_SHARE = 0.5  # an intent above this share of spend is worth a look
HIGH_SPEND_SHARE = 0.5  # average daily spend above this share of the limit is "high"
MIN_MODEL_SAVING = 0.3  # suggest another model only if it is at least 30% cheaper for this mix
LOW_HIT_RATE = 0.2
MIN_CACHE_LOOKUPS = 20
LONG_PROMPT_TOKENS = 3000
MIN_CALLS_FOR_PROMPT_ADVICE = 5


@dataclass
class Suggestion:
    """One piece of advice: a stable ``code``, a title, a sentence of detail and its numbers."""

    code: str
    title: str
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class _Totals:
    """Ledger days folded into one window."""

    days: list[DaySummary]
    cost: int = 0
    calls: int = 0
    by_intent: dict[str, dict[str, int]] = field(default_factory=dict)
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)
    cache: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, days: list[DaySummary]) -> _Totals:
        totals = cls(days)
        for day in days:
            totals.cost += day.cost_micros
            totals.calls += day.calls
            for target, rows in ((totals.by_intent, day.by_intent), (totals.by_model, day.by_model),
                                 (totals.cache, day.cache)):
                for name, row in rows.items():
                    acc = target.setdefault(name, {})
                    for key, value in row.items():
                        acc[key] = acc.get(key, 0) + value
        return totals


def suggestions(
    ledger: CostLedger,
    tenant_id: str,
    *,
    days: int = 7,
    metrics_cache_stats: dict[str, Any] | None = None,
    settings: Settings,
    site: SiteSettings,
    prices: PriceTable | None = None,
    end: str | None = None,
) -> list[Suggestion]:
    """Advice for ``tenant_id`` from its last ``days`` days of ledger data (ending ``end``, default today).

    ``prices`` defaults to :meth:`PriceTable.load`; ``metrics_cache_stats`` (``Metrics.get_cache_stats()``)
    adds process-wide cache figures to the cache advice when given.
    """
    table = prices if prices is not None else PriceTable.load(settings)
    totals = _Totals.of(ledger.range(tenant_id, days, end=end))
    limit = usd_to_micros(site.effective_daily_limit_usd(settings))
    out: list[Suggestion] = []
    for rule in (_dominant_intent, _cheaper_classifier, _cheaper_main_model):
        found = rule(totals, settings, site, table, limit)
        if found is not None:
            out.append(found)
    cache = _cache_hit_rate(totals, settings, site, metrics_cache_stats)
    if cache is not None:
        out.append(cache)
    out.extend(_long_prompts(totals, settings, site, table))
    for rule in (_refusal_days, _projected_month):
        found = rule(totals, settings, site, table, limit)
        if found is not None:
            out.append(found)
    return out


# ---------------------------------------------------------------------- rules
def _dominant_intent(
    totals: _Totals, settings: Settings, site: SiteSettings, table: PriceTable, limit: int
) -> Suggestion | None:
    if totals.cost <= 0:
        return None
    intent, row = max(totals.by_intent.items(), key=lambda item: item[1].get("cost_micros", 0))
    share = row.get("cost_micros", 0) / totals.cost
    if share <= DOMINANT_SHARE:
        return None
    calls = row.get("calls", 0)
    return Suggestion(
        code="intent_dominates_spend",
        title=f"{intent} drives {share:.0%} of the spend",
        detail=(
            f"{intent} requests cost {format_usd(row.get('cost_micros', 0))} of "
            f"{format_usd(totals.cost)} over {len(totals.days)} days. Shorter answers (a lower "
            "max_tokens), caching, or a cheaper model for this intent would cut the bill most."
        ),
        numbers={
            "intent": intent,
            "cost_micros": row.get("cost_micros", 0),
            "total_cost_micros": totals.cost,
            "share_pct": round(share * 100, 1),
            "calls": calls,
            "avg_cost_micros": round(row.get("cost_micros", 0) / calls) if calls else 0,
            "days": len(totals.days),
        },
    )


def _cheaper_classifier(
    totals: _Totals, settings: Settings, site: SiteSettings, table: PriceTable, limit: int
) -> Suggestion | None:
    row = totals.by_intent.get(CLASSIFICATION_INTENT)
    if not row or row.get("cost_micros", 0) <= 0:
        return None
    current = settings.openai_classifier_model or site.effective_model(settings)
    pick = _cheapest(table, current, row)
    if pick is None:
        return None
    candidate, ratio = pick
    saving = round(row["cost_micros"] * (1 - ratio))
    return Suggestion(
        code="cheaper_classifier_model",
        title=f"Classify with {candidate} instead of {current}",
        detail=(
            f"Classification cost {format_usd(row['cost_micros'])} over {len(totals.days)} days "
            f"on {current}. "
            f"{candidate} would have cost about {ratio:.0%} of that for the same tokens; set "
            f"OPENAI_CLASSIFIER_MODEL={candidate} (classification is a short, structured task)."
        ),
        numbers={
            "current_model": current,
            "suggested_model": candidate,
            "cost_micros": row["cost_micros"],
            "estimated_cost_micros": row["cost_micros"] - saving,
            "estimated_savings_micros": saving,
            "price_ratio": round(ratio, 4),
            "calls": row.get("calls", 0),
            "days": len(totals.days),
        },
    )


def _cheaper_main_model(
    totals: _Totals, settings: Settings, site: SiteSettings, table: PriceTable, limit: int
) -> Suggestion | None:
    days = len(totals.days)
    not_replies = (CLASSIFICATION_INTENT, EMBEDDING_INTENT)  # priced by other models than the site's
    other_cost = sum(totals.by_intent.get(name, {}).get("cost_micros", 0) for name in not_replies)
    main_cost = totals.cost - other_cost
    if main_cost <= 0 or limit <= 0:
        return None
    avg_daily = main_cost / days
    refusals = sum(day.refusals for day in totals.days)
    if avg_daily < limit * HIGH_SPEND_SHARE and not refusals:
        return None
    current = site.effective_model(settings)
    mix = {
        key: sum(r.get(key, 0) for name, r in totals.by_intent.items() if name not in not_replies)
        for key in ("prompt_tokens", "completion_tokens", "cached_tokens")
    }
    pick = _sibling(table, current, mix) or _cheapest(table, current, mix, closest=True)
    if pick is None:
        return None
    candidate, ratio = pick
    saving = round(main_cost * (1 - ratio))
    return Suggestion(
        code="cheaper_main_model",
        title=f"Consider {candidate} for replies",
        detail=(
            f"Replies cost on average {format_usd(round(avg_daily))} a day on {current}, "
            f"{avg_daily / limit:.0%} of the {format_usd(limit)} daily limit. {candidate} would cost about "
            f"{ratio:.0%} as much for the same tokens; try it on this site (settings: model) and compare."
        ),
        numbers={
            "current_model": current,
            "suggested_model": candidate,
            "cost_micros": main_cost,
            "avg_daily_micros": round(avg_daily),
            "limit_micros": limit,
            "estimated_savings_micros": saving,
            "price_ratio": round(ratio, 4),
            "refusals": refusals,
            "days": days,
        },
    )


def _cache_hit_rate(
    totals: _Totals, settings: Settings, site: SiteSettings, process_stats: dict[str, Any] | None
) -> Suggestion | None:
    hits = sum(layer.get("hits", 0) for layer in totals.cache.values())
    misses = sum(layer.get("misses", 0) for layer in totals.cache.values())
    lookups = hits + misses
    read_only_calls = sum(row.get("calls", 0) for name, row in totals.by_intent.items()
                          if name in READ_ONLY_INTENT_NAMES)
    semantic_on = site.semantic_cache or settings.use_embedding_cache
    numbers: dict[str, Any] = {
        "hits": hits,
        "misses": misses,
        "hit_rate_pct": round(hits / lookups * 100, 1) if lookups else 0.0,
        "saved_micros": sum(layer.get("saved_micros", 0) for layer in totals.cache.values()),
        "read_only_calls": read_only_calls,
        "cache_enabled": settings.cache_enabled,
        "semantic_cache": semantic_on,
        "cache_ttl_seconds": settings.cache_ttl_seconds,
        "days": len(totals.days),
    }
    if process_stats:
        numbers["process_cache_stats"] = {
            k: v for k, v in process_stats.items() if isinstance(v, int | float | str | bool)
        }
    if not settings.cache_enabled and read_only_calls >= MIN_CACHE_LOOKUPS:
        return Suggestion(
            code="cache_disabled",
            title="Turn the answer cache on",
            detail=(
                f"{read_only_calls} read-only requests went to the model with CACHE_ENABLED off; repeats "
                "of the same request on an unchanged issue would be free with it on."
            ),
            numbers=numbers,
        )
    if lookups < MIN_CACHE_LOOKUPS or hits / lookups >= LOW_HIT_RATE:
        return None
    actions = ["raise CACHE_TTL_SECONDS so repeats a day or more apart still hit"]
    if not semantic_on:
        actions.insert(0, "turn on the semantic cache for this site, so reworded repeats can hit")
    return Suggestion(
        code="cache_hit_rate_low",
        title=f"Only {hits / lookups:.0%} of cache lookups hit",
        detail=f"{hits} hits in {lookups} lookups over {len(totals.days)} days: {'; or '.join(actions)}.",
        numbers=numbers,
    )


def _long_prompts(
    totals: _Totals, settings: Settings, site: SiteSettings, table: PriceTable
) -> list[Suggestion]:
    out: list[Suggestion] = []
    for intent, row in sorted(totals.by_intent.items()):
        model = site.effective_model(settings)
        if intent == CLASSIFICATION_INTENT and settings.openai_classifier_model:
            model = settings.openai_classifier_model
        try:
            input_price = table.price(model).input_per_m
        except ConfigError:
            input_price = Decimal(0)
        calls = row.get("calls", 0)
        if calls < MIN_CALLS_FOR_PROMPT_ADVICE:
            continue
        average = row.get("prompt_tokens", 0) / calls
        if average <= LONG_PROMPT_TOKENS:
            continue
        excess = round((average - LONG_PROMPT_TOKENS) * calls)
        out.append(Suggestion(
            code="long_prompts",
            title=f"{intent} prompts average {average:,.0f} tokens",
            detail=(
                f"{intent} sends about {average:,.0f} prompt tokens per call ({calls} calls); past "
                f"{LONG_PROMPT_TOKENS:,} tokens usually means long comment threads or descriptions. Fewer "
                "recent comments in the context, or trimming quoted text, would cut input cost."
            ),
            numbers={
                "intent": intent,
                "avg_prompt_tokens": round(average),
                "threshold_tokens": LONG_PROMPT_TOKENS,
                "calls": calls,
                "prompt_tokens": row.get("prompt_tokens", 0),
                "excess_tokens": excess,
                "estimated_savings_micros": round_up(excess * input_price),
            },
        ))
    return out


def _refusal_days(
    totals: _Totals, settings: Settings, site: SiteSettings, table: PriceTable, limit: int
) -> Suggestion | None:
    hit_days = [day for day in totals.days if day.refusals > 0]
    if not hit_days:
        return None
    refusals = sum(day.refusals for day in hit_days)
    return Suggestion(
        code="budget_exhausted_days",
        title=f"The daily budget ran out on {len(hit_days)} of {len(totals.days)} days",
        detail=(
            f"{refusals} requests got an offline draft because the {format_usd(limit)} daily limit "
            "was reached. "
            "Raise the site's daily limit, or make calls cheaper (model, caching, shorter prompts)."
        ),
        numbers={
            "days_with_refusals": [day.day for day in hit_days],
            "refusals": refusals,
            "limit_micros": limit,
            "max_day_cost_micros": max(day.cost_micros for day in hit_days),
            "days": len(totals.days),
        },
    )


def _projected_month(
    totals: _Totals, settings: Settings, site: SiteSettings, table: PriceTable, limit: int
) -> Suggestion | None:
    if totals.cost <= 0 or limit <= 0:
        return None
    last = totals.days[-1].day
    year, month = int(last[:4]), int(last[5:7])
    month_days = calendar.monthrange(year, month)[1]
    avg_daily = totals.cost / len(totals.days)
    projected = round(avg_daily * month_days)
    cap = limit * month_days
    percent = site.effective_alert_percentage(settings)
    if projected * 100 < cap * percent:
        return None
    return Suggestion(
        code="projected_month_near_limit",
        title=f"On pace for {format_usd(projected)} this month",
        detail=(
            f"At {format_usd(round(avg_daily))} a day (average of {len(totals.days)} days) the month "
            f"comes to {format_usd(projected)}, {projected / cap:.0%} of what the {format_usd(limit)} "
            f"daily limit allows ({format_usd(cap)}); expect refusals on busy days."
        ),
        numbers={
            "avg_daily_micros": round(avg_daily),
            "projected_month_micros": projected,
            "month_cap_micros": cap,
            "projected_pct_of_cap": round(projected / cap * 100, 1),
            "alert_percentage": percent,
            "month": f"{year:04d}-{month:02d}",
            "days_in_month": month_days,
            "days": len(totals.days),
        },
    )


# ---------------------------------------------------------------------- model comparison
def _mix_cost(price: ModelPrice, mix: dict[str, int]) -> Decimal:
    return price.exact_micros(
        prompt_tokens=mix.get("prompt_tokens", 0),
        cached_tokens=mix.get("cached_tokens", 0),
        completion_tokens=mix.get("completion_tokens", 0),
    )


def _ratio(table: PriceTable, current: str, candidate: str, mix: dict[str, int]) -> float | None:
    try:
        base = _mix_cost(table.price(current), mix)
        other = _mix_cost(table.price(candidate), mix)
    except ConfigError:
        return None
    if base <= 0:
        return None
    return float(other / base)


def _cheapest(
    table: PriceTable, current: str, mix: dict[str, int], *, closest: bool = False
) -> tuple[str, float] | None:
    """The cheapest chat model for ``mix`` (or, with ``closest``, the dearest one that still saves enough)."""
    if not table.is_priced(current):
        return None
    current_name = table.resolve(current)
    options: list[tuple[float, str]] = []
    for name in table.chat_models():
        resolved = table.resolve(name)
        if resolved != name or resolved == current_name:  # skip aliases and the model itself
            continue
        ratio = _ratio(table, current, name, mix)
        if ratio is not None and ratio <= 1 - MIN_MODEL_SAVING:
            options.append((ratio, name))
    if not options:
        return None
    ratio, name = max(options) if closest else min(options)
    return name, ratio


def _sibling(table: PriceTable, current: str, mix: dict[str, int]) -> tuple[str, float] | None:
    """The smaller model of the same family (gpt-4o -> gpt-4o-mini, gpt-4.1-mini -> gpt-4.1-nano)."""
    if not table.is_priced(current):
        return None
    name = table.resolve(current)
    if name.endswith("-mini"):
        candidates = [name[: -len("-mini")] + "-nano"]
    elif name.endswith("-nano"):
        candidates = []
    else:
        candidates = [f"{name}-mini", f"{name}-nano"]
    for candidate in candidates:
        if table.is_priced(candidate) and table.price(candidate).kind == "chat":
            ratio = _ratio(table, current, candidate, mix)
            if ratio is not None and ratio <= 1 - MIN_MODEL_SAVING:
                return candidate, ratio
    return None
