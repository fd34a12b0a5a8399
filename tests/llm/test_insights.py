"""Optimisation suggestions are computed from real ledger data and carry the numbers behind them."""

import calendar
import time

import pytest

from connect_app.llm.insights import Suggestion, suggestions
from connect_app.llm.prices import PriceTable
from connect_app.models import Usage
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettings

END = "2026-11-23"
NOON = calendar.timegm(time.strptime(END, "%Y-%m-%d")) + 12 * 3600
SITE = "site-a"


@pytest.fixture
def ledger(tmp_path):
    store = DiskStore(tmp_path / "durable")
    yield CostLedger(store, clock=lambda: NOON)
    store.close()


@pytest.fixture
def prices(settings):
    return PriceTable.load(settings)


def record(ledger, prices, *, intent, model="gpt-4o-mini", prompt=500, completion=200, cached=0, times=1,
           day=END):
    cost = prices.cost_micros(model, Usage(prompt, completion, cached))
    for _ in range(times):
        ledger.record_call(tenant_id=SITE, intent=intent, model=model, cost_micros=cost, prompt_tokens=prompt,
                           completion_tokens=completion, cached_tokens=cached, day=day)
    return cost * times


def advise(ledger, settings, prices, site=None, **kwargs):
    found = suggestions(ledger, SITE, settings=settings, site=site or SiteSettings(), prices=prices, end=END,
                        **kwargs)
    return {s.code: s for s in found}


def test_a_quiet_site_gets_no_advice(ledger, settings, prices):
    assert advise(ledger, settings, prices) == {}


def test_an_intent_dominating_spend_is_named_with_its_share(ledger, settings, prices):
    summary = record(ledger, prices, intent="summary_request", prompt=2000, completion=600, times=6)
    comment = record(ledger, prices, intent="comment_request", times=3, day="2026-11-20")
    found = advise(ledger, settings, prices)["intent_dominates_spend"]
    assert isinstance(found, Suggestion) and "summary_request" in found.title
    assert found.numbers["cost_micros"] == summary
    assert found.numbers["total_cost_micros"] == summary + comment
    assert found.numbers["share_pct"] == round(summary / (summary + comment) * 100, 1)
    assert found.numbers["calls"] == 6 and found.numbers["days"] == 7
    assert found.to_dict()["numbers"]["intent"] == "summary_request"


def test_a_cheaper_classifier_model_is_suggested_with_estimated_savings(ledger, settings, prices):
    spent = record(ledger, prices, intent="classification", prompt=300, completion=20, times=10)
    found = advise(ledger, settings, prices)["cheaper_classifier_model"]
    numbers = found.numbers
    # gpt-4o-mini: 300 x 0.15 + 20 x 0.60 = 57; gpt-5-nano: 300 x 0.05 + 20 x 0.40 = 23
    assert numbers["current_model"] == "gpt-4o-mini" and numbers["suggested_model"] == "gpt-5-nano"
    assert numbers["price_ratio"] == round(23 / 57, 4)
    assert numbers["cost_micros"] == spent == 570
    assert numbers["estimated_savings_micros"] == round(570 * (1 - 23 / 57)) == 340
    assert "OPENAI_CLASSIFIER_MODEL=gpt-5-nano" in found.detail


def test_no_classifier_advice_when_it_already_runs_on_the_cheapest_model(ledger, settings, prices):
    nano = settings.replace(openai_classifier_model="gpt-5-nano")
    record(ledger, prices, intent="classification", model="gpt-5-nano", prompt=300, completion=20, times=10)
    assert "cheaper_classifier_model" not in advise(ledger, nano, prices)


def test_high_spend_on_the_main_model_suggests_its_smaller_sibling(ledger, settings, prices):
    site = SiteSettings(model="gpt-4o", daily_limit_usd=0.05)  # 50_000 micro-dollars a day
    for day in ("2026-11-21", "2026-11-22", END):
        record(ledger, prices, intent="comment_request", model="gpt-4o", prompt=3000, completion=700, times=10,
               day=day)
    found = advise(ledger, settings, prices, site=site)["cheaper_main_model"]
    numbers = found.numbers
    # per call: gpt-4o 3000 x 2.50 + 700 x 10 = 14_500; gpt-4o-mini 3000 x 0.15 + 700 x 0.60 = 870
    assert numbers["suggested_model"] == "gpt-4o-mini" and numbers["current_model"] == "gpt-4o"
    assert numbers["cost_micros"] == 3 * 10 * 14_500
    assert numbers["avg_daily_micros"] == round(3 * 10 * 14_500 / 7)
    assert numbers["price_ratio"] == round(870 / 14_500, 4)
    assert numbers["estimated_savings_micros"] == round(3 * 10 * 14_500 * (1 - 870 / 14_500))


def test_embedding_spend_is_not_counted_as_replies(ledger, settings, prices):
    site = SiteSettings(model="gpt-4o", daily_limit_usd=0.05)
    for day in ("2026-11-21", "2026-11-22", END):
        record(ledger, prices, intent="comment_request", model="gpt-4o", prompt=3000, completion=700, times=10,
               day=day)
        record(ledger, prices, intent="embedding", model="text-embedding-3-large", prompt=100_000, completion=0,
               times=5, day=day)
    numbers = advise(ledger, settings, prices, site=site)["cheaper_main_model"].numbers
    assert numbers["cost_micros"] == 3 * 10 * 14_500  # the embeddings' 3 x 5 x 13_000 are left out
    assert numbers["price_ratio"] == round(870 / 14_500, 4)  # nor are their tokens in the mix


def test_modest_spend_gets_no_model_advice(ledger, settings, prices):
    record(ledger, prices, intent="comment_request", model="gpt-4o", times=2)
    assert "cheaper_main_model" not in advise(ledger, settings, prices, site=SiteSettings(model="gpt-4o"))


def test_a_low_cache_hit_rate_is_reported_with_its_numbers(ledger, settings, prices):
    record(ledger, prices, intent="summary_request", times=23)
    for _ in range(23):
        ledger.record_cache_miss(tenant_id=SITE, intent="summary_request", layer="exact", day=END)
    for _ in range(2):
        ledger.record_cache_hit(tenant_id=SITE, intent="summary_request", model="gpt-4o-mini", saved_micros=195,
                                layer="exact", day=END)
    found = advise(ledger, settings, prices, metrics_cache_stats={"hit_rate": 0.08, "layers": {}})
    found = found["cache_hit_rate_low"]
    assert found.numbers["hits"] == 2 and found.numbers["misses"] == 23
    assert found.numbers["hit_rate_pct"] == 8.0 and found.numbers["saved_micros"] == 390
    assert found.numbers["semantic_cache"] is False and "semantic cache" in found.detail
    assert found.numbers["process_cache_stats"] == {"hit_rate": 0.08}


def test_a_disabled_cache_with_many_read_only_calls_is_reported(ledger, settings, prices):
    record(ledger, prices, intent="comment_request", times=25)
    found = advise(ledger, settings.replace(cache_enabled=False), prices)
    assert found["cache_disabled"].numbers["read_only_calls"] == 25


def test_long_prompts_are_reported_per_intent(ledger, settings, prices):
    record(ledger, prices, intent="summary_request", prompt=6000, completion=500, times=5)
    record(ledger, prices, intent="comment_request", prompt=800, times=5)
    found = [s for s in suggestions(ledger, SITE, settings=settings, site=SiteSettings(), prices=prices, end=END)
             if s.code == "long_prompts"]
    assert len(found) == 1
    numbers = found[0].numbers
    assert numbers["intent"] == "summary_request" and numbers["avg_prompt_tokens"] == 6000
    assert numbers["excess_tokens"] == 5 * 3000
    assert numbers["estimated_savings_micros"] == 2250  # 15_000 tokens x 0.15


def test_days_with_budget_refusals_are_listed(ledger, settings, prices):
    record(ledger, prices, intent="comment_request")
    for day in ("2026-11-18", END, END):
        ledger.record_refusal(tenant_id=SITE, intent="email_request", reason="budget_exceeded", day=day)
    found = advise(ledger, settings, prices)["budget_exhausted_days"]
    assert found.numbers["days_with_refusals"] == ["2026-11-18", END]
    assert found.numbers["refusals"] == 3 and found.numbers["limit_micros"] == 5_000_000


def test_the_month_is_projected_against_the_limit(ledger, settings, prices):
    site = SiteSettings(daily_limit_usd=0.02, alert_percentage=70)  # 20_000 a day; November has 30 days
    for day in ("2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22", END):
        record(ledger, prices, intent="comment_request", model="gpt-4o", prompt=2000, completion=1000, day=day)
    numbers = advise(ledger, settings, prices, site=site)["projected_month_near_limit"].numbers
    assert numbers["avg_daily_micros"] == 15_000  # 2000 x 2.5 + 1000 x 10
    assert numbers["projected_month_micros"] == 450_000 and numbers["month_cap_micros"] == 600_000
    assert numbers["projected_pct_of_cap"] == 75.0 and numbers["month"] == "2026-11"
    assert numbers["alert_percentage"] == 70
    # at the default 80% alert threshold, a 75% pace is not worth a warning
    relaxed = SiteSettings(daily_limit_usd=0.02)
    assert "projected_month_near_limit" not in advise(ledger, settings, prices, site=relaxed)
