"""Provider embeddings are priced from reported usage, held to the site's budget and written to the ledger.

The store, ledger, budget, price table, caches and manager are the real ones on a temporary
DiskStore; the provider is a small fake, or the OpenAI provider against the fake OpenAI server.
"""

from __future__ import annotations

import calendar
import dataclasses
import math
import time

import pytest

from connect_app.cache.embedders import HashingEmbedder, ProviderEmbedder
from connect_app.cache.exact import ExactCache
from connect_app.cache.semantic import SemanticCache
from connect_app.devtools.fake_llm import FakeLLMServer, estimate_tokens
from connect_app.errors import BudgetExceededError, CircuitOpenError, LLMError
from connect_app.llm.base import Embeddings, ProviderError
from connect_app.llm.budget import BudgetGuard
from connect_app.llm.embedding_meter import EMBEDDING_INTENT, EmbeddingMeter, worst_case_embedding_tokens
from connect_app.llm.manager import ModelManager
from connect_app.llm.openai_provider import OpenAIProvider
from connect_app.llm.prices import PriceTable
from connect_app.models import CacheHint, Completion, Usage
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettingsRepo

DAY = "2026-11-23"
NOON = calendar.timegm(time.strptime(DAY, "%Y-%m-%d")) + 12 * 3600
SITE = "site-a"
LARGE = "text-embedding-3-large"  # USD 0.13 per 1M tokens: 0.13 micro-dollars per token
HINT = CacheHint(request="summarize this issue", issue_key="SUP-42", content_hash="c1",
                 prompt_version="summary-v1", tone=None, language="en", recipient=None)


class FakeEmbeddingProvider:
    """3072-dimension vectors reporting ``usage`` (None: none) and counting calls; or raises ``fail``."""

    name = "fake"

    def __init__(self, *, usage: Usage | None = Usage(prompt_tokens=5), fail: Exception | None = None):
        self.usage, self.fail, self.calls = usage, fail, []

    def complete(self, messages, *, model, max_tokens, temperature=0.3, json_schema=None, schema_name="result",
                 user=None):
        return Completion(text="A summary.", model=model, provider=self.name,
                          usage=Usage(prompt_tokens=100, completion_tokens=50), latency_ms=5.0)

    def embed(self, texts, *, model=None):
        return self.embed_with_usage(texts, model=model).vectors

    def embed_with_usage(self, texts, *, model=None):
        self.calls.append((list(texts), model))
        if self.fail is not None:
            raise self.fail
        return Embeddings(HashingEmbedder(3072).embed(texts), self.usage, model)

    def ping(self):
        return True


class FakeBreaker:
    def __init__(self, open_: bool = False):
        self.open, self.successes, self.failures = open_, 0, 0

    def before_call(self):
        if self.open:
            raise CircuitOpenError("the llm breaker is open")

    def record_success(self):
        self.successes += 1

    def record_failure(self):
        self.failures += 1


class FakeMetrics:
    def __init__(self):
        self.calls, self.refusals = [], []

    def record_api_call(self, **kwargs):
        self.calls.append(kwargs)

    def record_budget_refusal(self, tenant_id):
        self.refusals.append(tenant_id)

    def record_cost_alert(self, tenant_id):
        pass

    def record_cache_event(self, **kwargs):
        pass


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "durable")
    yield s
    s.close()


@pytest.fixture
def world(settings, store):
    ledger = CostLedger(store, clock=lambda: NOON)
    parts = {
        "prices": PriceTable.load(settings),
        "ledger": ledger,
        "budget": BudgetGuard(store, ledger),
        "site_settings": SiteSettingsRepo(store),
        "breaker": FakeBreaker(),
        "metrics": FakeMetrics(),
    }
    return {"settings": settings, "store": store, **parts, "meter": EmbeddingMeter(settings, **parts)}


def embedder(world, provider, model=LARGE) -> ProviderEmbedder:
    return ProviderEmbedder(provider, model, meter=world["meter"])


# ---------------------------------------------------------------------- pricing and the ledger
def test_an_embedding_is_charged_from_the_usage_the_response_reports(world):
    provider = FakeEmbeddingProvider(usage=Usage(prompt_tokens=1000))
    vectors = embedder(world, provider).embed_for_site(SITE, ["summarize this issue and its comments " * 40])

    assert len(vectors) == 1 and len(vectors[0]) == 3072
    day = world["ledger"].day(SITE, DAY)
    assert day.cost_micros == 130 and day.calls == 1  # 1000 tokens x 0.13 micro-dollars
    row = day.by_intent[EMBEDDING_INTENT]
    assert (row["cost_micros"], row["calls"], row["prompt_tokens"], row["completion_tokens"]) == (130, 1, 1000, 0)
    assert day.by_model[LARGE]["cost_micros"] == 130
    assert world["budget"].spent_on(SITE, DAY) == 130  # the reservation was settled to the real cost
    [call] = world["metrics"].calls
    assert call["intent"] == EMBEDDING_INTENT and call["cost_micros"] == 130 and call["success"] is True
    assert world["breaker"].successes == 1


def test_a_response_without_usage_is_charged_its_worst_case(world):
    provider = FakeEmbeddingProvider(usage=None)
    embedder(world, provider).embed_for_site(SITE, ["x" * 1000])

    worst = math.ceil(worst_case_embedding_tokens(["x" * 1000]) * 0.13)
    assert world["ledger"].day(SITE, DAY).cost_micros == worst == 131
    assert world["budget"].spent_on(SITE, DAY) == worst


def test_the_fake_openai_server_reports_usage_and_the_call_is_charged_by_it(world, settings, tmp_path):
    # The fake server answers 256 dimensions: call it by a deployment-style name priced as the large model.
    prices_file = tmp_path / "prices.json"
    prices_file.write_text('{"aliases": {"emb-deployment": "text-embedding-3-large"}}')
    world["meter"].prices = PriceTable.load(settings.replace(price_table_file=prices_file))
    text = "please summarize the login bug on safari and what is still open " * 6
    with FakeLLMServer() as server:
        provider = OpenAIProvider(settings.replace(llm_provider="openai", openai_api_key="sk-test-0123456789",
                                                   openai_api_base_url=server.base_url, llm_max_retries=0))
        try:
            vectors = embedder(world, provider, "emb-deployment").embed_for_site(SITE, [text])
        finally:
            provider.close()
        assert server.requests[-1]["path"].endswith("/embeddings")

    tokens = estimate_tokens(text)  # what the fake server reports as usage.prompt_tokens
    assert len(vectors) == 1
    day = world["ledger"].day(SITE, DAY)
    assert day.by_intent[EMBEDDING_INTENT]["prompt_tokens"] == tokens
    assert day.cost_micros == math.ceil(tokens * 0.13) and day.by_model["emb-deployment"]["calls"] == 1


def test_a_metered_embedder_refuses_to_embed_without_a_site_to_charge(world):
    provider = FakeEmbeddingProvider()
    with pytest.raises(LLMError, match="site to charge"):
        embedder(world, provider).embed(["summarize this issue"])
    assert provider.calls == []


# ---------------------------------------------------------------------- budget, failures, breaker
def test_over_the_limit_the_embedding_is_refused_counted_and_never_made(world):
    world["site_settings"].update(SITE, {"daily_limit_usd": 0.00001})  # 10 micro-dollars
    provider = FakeEmbeddingProvider()
    with pytest.raises(BudgetExceededError):
        embedder(world, provider).embed_for_site(SITE, ["summarize this issue " * 10])

    assert provider.calls == []
    day = world["ledger"].day(SITE, DAY)
    assert day.cost_micros == 0 and day.by_intent[EMBEDDING_INTENT]["refusals"] == 1
    assert world["metrics"].refusals == [SITE]
    assert world["budget"].spent_on(SITE, DAY) == 0


def test_a_failed_call_costs_nothing_and_counts_against_the_breaker(world):
    provider = FakeEmbeddingProvider(fail=ProviderError("timed out", code="llm_timeout"))
    with pytest.raises(ProviderError):
        embedder(world, provider).embed_for_site(SITE, ["summarize this issue"])

    assert world["budget"].spent_on(SITE, DAY) == 0  # the reservation was released
    assert world["ledger"].day(SITE, DAY).cost_micros == 0
    assert world["breaker"].failures == 1
    assert world["metrics"].calls[-1]["success"] is False


def test_an_open_breaker_stops_the_call_and_releases_the_reservation(world):
    world["meter"].breaker = FakeBreaker(open_=True)
    provider = FakeEmbeddingProvider()
    with pytest.raises(CircuitOpenError):
        embedder(world, provider).embed_for_site(SITE, ["summarize this issue"])
    assert provider.calls == [] and world["budget"].spent_on(SITE, DAY) == 0


# ---------------------------------------------------------------------- the semantic cache
def test_budget_refusal_skips_the_semantic_cache_and_the_exact_cache_still_serves(world, tmp_path):
    cache_store = DiskStore(tmp_path / "cache", evicting=True, size_limit_mb=16)
    try:
        provider = FakeEmbeddingProvider()
        semantic = SemanticCache(cache_store, embedder(world, provider), threshold=0.8, ttl_seconds=600)
        manager = ModelManager(
            world["settings"].replace(use_embedding_cache=True), provider,
            site_settings=world["site_settings"], prices=world["prices"], budget=world["budget"],
            ledger=world["ledger"], exact_cache=ExactCache(cache_store, ttl_seconds=600),
            semantic_cache=semantic, metrics=world["metrics"],
        )
        messages = [{"role": "user", "content": "summarize this issue"}]
        first = manager.complete(tenant_id=SITE, intent="summary_request", messages=messages, max_tokens=100,
                                 cache_key="k1", cache_hint=HINT)
        assert not first.cached and len(provider.calls) == 1  # one embedding, memoised for the store
        spent = world["budget"].spent_on(SITE, DAY)
        assert world["ledger"].day(SITE, DAY).by_intent[EMBEDDING_INTENT]["calls"] == 1

        world["site_settings"].update(SITE, {"daily_limit_usd": spent / 1_000_000})  # the day is used up
        other = dataclasses.replace(HINT, request="give me a recap of the discussion")

        again = manager.complete(tenant_id=SITE, intent="summary_request", messages=messages, max_tokens=100,
                                 cache_key="k1", cache_hint=other)
        assert again.cached and again.provider == "cache:exact"  # no embedding needed, nothing refused
        assert semantic.lookup(SITE, "summary_request", "gpt-4o-mini", other) is None  # skipped, no error
        with pytest.raises(BudgetExceededError):  # the pipeline answers with the offline draft
            manager.complete(tenant_id=SITE, intent="summary_request", messages=messages, max_tokens=100,
                             cache_key="k2", cache_hint=other)
        assert len(provider.calls) == 1  # the refused embeddings were never made
        assert world["budget"].spent_on(SITE, DAY) == spent
    finally:
        cache_store.close()
