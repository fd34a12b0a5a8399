"""The model manager with its collaborators: cost, budget, alerts, breaker, caches, metrics, observers.

The provider, breaker, caches and metrics are small fakes implementing the fixed interfaces; the
store, ledger, budget and price table are the real ones on a temporary DiskStore.
"""

import calendar
import logging
import threading
import time
from dataclasses import dataclass

import pytest

from connect_app.errors import BudgetExceededError, CircuitOpenError, LLMError
from connect_app.llm.base import LLMProvider, ProviderError
from connect_app.llm.budget import BudgetGuard
from connect_app.llm.manager import CallRecord, ModelManager
from connect_app.llm.prices import PriceTable
from connect_app.models import CacheHint, Completion, Draft, Intent, IssueContext, Usage
from connect_app.pipeline.generators.base import GenerationRequest, generate_with_fallback
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettingsRepo

DAY = "2026-11-23"
NOON = calendar.timegm(time.strptime(DAY, "%Y-%m-%d")) + 12 * 3600
SITE = "site-a"
MESSAGES = [{"role": "system", "content": "You write Jira comments."}, {"role": "user", "content": "Summarise"}]
USAGE = Usage(prompt_tokens=1000, completion_tokens=500, cached_prompt_tokens=200)  # 435 micros on gpt-4o-mini


# ---------------------------------------------------------------------- fakes
class FakeProvider:
    name = "fake"

    def __init__(self, *outcomes, usage=USAGE):
        self.outcomes = list(outcomes)
        self.usage = usage
        self.calls = []
        self.lock = threading.Lock()

    def complete(self, messages, *, model, max_tokens, temperature=0.3, json_schema=None, schema_name="result",
                 user=None):
        with self.lock:
            self.calls.append({"model": model, "max_tokens": max_tokens, "user": user, "schema": json_schema})
            outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return Completion(text=outcome or "An answer.", model=model, provider=self.name,
                          usage=Usage(**vars(self.usage)), latency_ms=12.0, finish_reason="stop")

    def embed(self, texts, *, model=None):
        return [[1.0, 0.0] for _ in texts]

    def ping(self):
        return True


class FakeBreaker:
    def __init__(self, open_=False):
        self.open = open_
        self.before = self.successes = self.failures = 0

    def before_call(self):
        self.before += 1
        if self.open:
            raise CircuitOpenError("the llm breaker is open")

    def record_success(self):
        self.successes += 1

    def record_failure(self):
        self.failures += 1


@dataclass(frozen=True)
class Answer:
    text: str
    model: str
    cost_micros: int
    created_at: float
    layer: str


class FakeExactCache:
    def __init__(self):
        self.entries = {}

    def get(self, tenant_id, model, cache_key):
        return self.entries.get((tenant_id, model, cache_key))

    def put(self, tenant_id, model, cache_key, completion):
        self.entries[(tenant_id, model, cache_key)] = Answer(completion.text, completion.model,
                                                             completion.cost_micros, NOON, "exact")


class FakeSemanticCache:
    def __init__(self):
        self.entries, self.lookups = {}, 0

    def lookup(self, tenant_id, intent, model, hint):
        self.lookups += 1
        return self.entries.get((tenant_id, intent, hint.request.lower()))

    def put(self, tenant_id, intent, model, hint, completion):
        self.entries[(tenant_id, intent, hint.request.lower())] = Answer(completion.text, completion.model,
                                                                         completion.cost_micros, NOON, "semantic")


class FakeMetrics:
    def __init__(self):
        self.events = []

    def record_api_call(self, **kwargs):
        self.events.append(("api_call", kwargs))

    def record_cache_event(self, *, layer, event, saved_micros=0):
        self.events.append(("cache", {"layer": layer, "event": event, "saved_micros": saved_micros}))

    def record_error(self, code):
        self.events.append(("error", code))

    def record_budget_refusal(self, tenant_id):
        self.events.append(("refusal", tenant_id))

    def record_cost_alert(self, tenant_id):
        self.events.append(("alert", tenant_id))

    def observe_llm_call(self, record):
        self.events.append(("observed", record))

    def of(self, kind):
        return [payload for k, payload in self.events if k == kind]


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "durable")
    yield s
    s.close()


@pytest.fixture
def world(settings, store):
    ledger = CostLedger(store, clock=lambda: NOON)
    return {
        "settings": settings,
        "site_settings": SiteSettingsRepo(store),
        "prices": PriceTable.load(settings),
        "ledger": ledger,
        "budget": BudgetGuard(store, ledger),
        "breaker": FakeBreaker(),
        "metrics": FakeMetrics(),
        "exact_cache": FakeExactCache(),
        "semantic_cache": FakeSemanticCache(),
    }


def build(world, provider, **changes):
    parts = {k: v for k, v in world.items() if k != "settings"}
    parts.update(changes)
    settings = parts.pop("settings_override", world["settings"])
    return ModelManager(settings, provider, **parts)


def ask(manager, intent="comment_request", **kwargs):
    kwargs.setdefault("max_tokens", 500)
    return manager.complete(tenant_id=SITE, intent=intent, messages=MESSAGES, **kwargs)


# ---------------------------------------------------------------------- tests
def test_the_fake_provider_implements_the_contract():
    assert isinstance(FakeProvider(), LLMProvider)


def test_a_call_is_priced_from_reported_usage_and_recorded_everywhere(world):
    provider = FakeProvider()
    records = []
    manager = build(world, provider, observers=[records.append])
    completion = ask(manager)
    assert completion.cost_micros == 435 and not completion.cached
    assert provider.calls[0]["model"] == "gpt-4o-mini" and provider.calls[0]["max_tokens"] == 500
    day = world["ledger"].day(SITE)
    assert day.cost_micros == 435 and day.calls == 1
    assert day.by_intent["comment_request"]["cached_tokens"] == 200
    assert day.by_model["gpt-4o-mini"]["prompt_tokens"] == 1000
    assert manager.spent_today(SITE) == 435  # the reservation was settled to the real cost
    assert world["breaker"].before == 1 and world["breaker"].successes == 1
    [api_call] = world["metrics"].of("api_call")
    assert api_call["success"] is True and api_call["cost_micros"] == 435 and api_call["model"] == "gpt-4o-mini"
    assert isinstance(records[0], CallRecord) and records[0].cost_micros == 435 and records[0].ok


def test_over_the_limit_the_call_is_refused_counted_and_never_made(world):
    world["site_settings"].update(SITE, {"daily_limit_usd": 0.0001})  # 100 micro-dollars
    provider = FakeProvider()
    manager = build(world, provider)
    assert manager.limit_micros(SITE) == 100
    with pytest.raises(BudgetExceededError) as err:
        ask(manager, intent="email_request")
    assert err.value.code == "budget_exceeded"
    assert provider.calls == [] and world["breaker"].before == 0
    day = world["ledger"].day(SITE)
    assert day.refusals == 1 and day.by_intent["email_request"]["refusals"] == 1
    assert world["metrics"].of("refusal") == [SITE]
    assert manager.spent_today(SITE) == 0


def test_generators_turn_a_budget_refusal_into_a_labelled_offline_draft(world):
    world["site_settings"].update(SITE, {"daily_limit_usd": 0})
    manager = build(world, FakeProvider())
    req = GenerationRequest(intent=Intent.COMMENT_REQUEST, request="write a comment",
                            context=IssueContext(key="DEMO-1", summary="Login fails"), tenant_id=SITE)
    draft = generate_with_fallback(req, manager, messages=MESSAGES, cacheable=True,
                                   from_model=lambda c: Draft(intent=req.intent, markdown=c.text),
                                   offline=lambda: Draft(intent=req.intent, markdown="template"))
    assert draft.offline and "budget" in draft.note and draft.data["fallback_reason"] == "budget_exceeded"


def test_the_cost_alert_is_logged_once_per_site_and_day(world, caplog):
    world["site_settings"].update(SITE, {"daily_limit_usd": 0.002, "alert_percentage": 40})  # 2000 micros
    manager = build(world, FakeProvider())
    other_process = build(world, FakeProvider())
    with caplog.at_level(logging.WARNING, logger="connect_app.llm.manager"):
        ask(manager)  # 435: 22%
        assert not world["metrics"].of("alert")
        ask(manager)  # 870: 43% -> alert
        ask(other_process)  # 1305: still the same day, no second alert
    alerts = [r for r in caplog.records if "cost alert" in r.getMessage()]
    assert len(alerts) == 1 and SITE in alerts[0].getMessage()
    assert world["metrics"].of("alert") == [SITE]
    day = world["ledger"].day(SITE)
    assert len(day.alerts) == 1 and day.alerts[0]["percent"] == 40.0 and day.alerts[0]["limit_micros"] == 2000


def test_a_failed_call_releases_its_reservation_and_only_transient_errors_trip_the_breaker(world):
    provider = FakeProvider(ProviderError("timed out", code="llm_timeout"),
                            ProviderError("bad schema", code="llm_bad_request"),
                            LLMError("odd", code="llm_unavailable"))
    manager = build(world, provider)
    with pytest.raises(ProviderError):
        ask(manager)
    assert manager.spent_today(SITE) == 0
    assert (world["breaker"].failures, world["breaker"].successes) == (1, 0)
    with pytest.raises(ProviderError):
        ask(manager)
    assert manager.spent_today(SITE) == 0
    assert (world["breaker"].failures, world["breaker"].successes) == (1, 1)  # the service did answer
    with pytest.raises(LLMError):
        ask(manager)
    assert world["breaker"].failures == 2
    failed = world["metrics"].of("api_call")
    assert [c["error_code"] for c in failed] == ["llm_timeout", "llm_bad_request", "llm_unavailable"]
    assert not any(c["success"] for c in failed)
    assert world["ledger"].day(SITE).calls == 0


def test_an_unexpected_exception_still_releases_the_reservation(world):
    manager = build(world, FakeProvider(RuntimeError("bug")))
    with pytest.raises(RuntimeError):
        ask(manager)
    assert manager.spent_today(SITE) == 0


def test_an_open_breaker_short_circuits_without_spending(world):
    world["breaker"].open = True
    provider = FakeProvider()
    manager = build(world, provider)
    with pytest.raises(CircuitOpenError):
        ask(manager)
    assert provider.calls == [] and manager.spent_today(SITE) == 0
    assert world["metrics"].of("error") == ["circuit_open"]


def test_an_exact_cache_hit_skips_the_provider_and_the_budget_and_counts_the_saving(world):
    provider = FakeProvider("First answer.")
    manager = build(world, provider)
    first = ask(manager, cache_key="k1")
    second = ask(manager, cache_key="k1")
    assert not first.cached and first.cost_micros == 435
    assert second.cached and second.cost_micros == 0 and second.text == "First answer."
    assert second.provider == "cache:exact"
    assert len(provider.calls) == 1 and world["breaker"].before == 1
    assert manager.spent_today(SITE) == 435
    day = world["ledger"].day(SITE)
    assert day.cache["exact"] == {"hits": 1, "misses": 1, "saved_micros": 435}
    assert day.calls == 1 and day.saved_micros == 435
    cache_events = world["metrics"].of("cache")
    assert {"layer": "exact", "event": "hit", "saved_micros": 435} in cache_events
    assert {"layer": "exact", "event": "store", "saved_micros": 0} in cache_events
    # another site never sees this site's answer
    other = manager.complete(tenant_id="site-b", intent="comment_request", messages=MESSAGES, cache_key="k1")
    assert not other.cached and len(provider.calls) == 2


def test_the_classifier_model_and_its_cache_are_used_for_classification(world):
    settings = world["settings"].replace(openai_classifier_model="gpt-4.1-nano")
    provider = FakeProvider('{"intent": "help"}', usage=Usage(prompt_tokens=300, completion_tokens=20))
    manager = build(world, provider, settings_override=settings)
    schema = {"type": "object", "properties": {"intent": {"type": "string"}}}
    ask(manager, intent="classification", json_schema=schema, cache_key="classify:v1:hi")
    again = ask(manager, intent="classification", json_schema=schema, cache_key="classify:v1:hi")
    assert again.cached and provider.calls[0]["model"] == "gpt-4.1-nano"
    assert world["ledger"].day(SITE).by_model["gpt-4.1-nano"]["cost_micros"] == 38  # 30 + 8
    assert manager.model_for_intent(SITE, "comment_request") == "gpt-4o-mini"


def test_cache_enabled_false_turns_every_cache_off(world):
    settings = world["settings"].replace(cache_enabled=False, use_embedding_cache=True)
    provider = FakeProvider()
    manager = build(world, provider, settings_override=settings)
    hint = CacheHint(request="summarise", issue_key="DEMO-1", content_hash="h", prompt_version="v1")
    ask(manager, intent="summary_request", cache_key="k", cache_hint=hint)
    ask(manager, intent="summary_request", cache_key="k", cache_hint=hint)
    assert len(provider.calls) == 2
    assert world["exact_cache"].entries == {} and world["semantic_cache"].lookups == 0


def test_the_semantic_cache_serves_read_only_intents_only_when_enabled(world):
    hint = CacheHint(request="Summarise the issue", issue_key="DEMO-1", content_hash="h", prompt_version="v1")
    provider = FakeProvider()
    off = build(world, FakeProvider())  # the deployment does not offer it: a site cannot turn it on
    world["site_settings"].update(SITE, {"semantic_cache": True})
    ask(off, intent="summary_request", cache_hint=hint)
    assert world["semantic_cache"].lookups == 0

    manager = build(world, provider, settings_override=world["settings"].replace(use_embedding_cache=True))
    world["site_settings"].update(SITE, {"semantic_cache": False})  # offered, but this site turned it off
    ask(manager, intent="summary_request", cache_hint=hint)
    ask(manager, intent="summary_request", cache_hint=hint)
    assert len(provider.calls) == 2 and world["semantic_cache"].lookups == 0

    world["site_settings"].update(SITE, {"semantic_cache": None})  # the deployment's default: on
    ask(manager, intent="summary_request", cache_hint=hint)  # miss, then stored
    hit = ask(manager, intent="summary_request", cache_hint=hint)
    assert hit.cached and hit.provider == "cache:semantic" and len(provider.calls) == 3
    assert world["ledger"].day(SITE).cache["semantic"]["hits"] == 1

    ask(manager, intent="task_completion", cache_hint=hint)  # an action: never the semantic cache
    assert world["semantic_cache"].lookups == 2 and len(provider.calls) == 4


def test_a_failing_cache_is_a_miss_not_an_error(world):
    class Broken(FakeExactCache):
        def get(self, *args):
            raise OSError("disk gone")

        def put(self, *args):
            raise OSError("disk gone")

    manager = build(world, FakeProvider(), exact_cache=Broken())
    assert ask(manager, cache_key="k").text == "An answer."
    assert world["ledger"].day(SITE).cache["exact"]["misses"] == 1


def test_bookkeeping_failures_never_lose_a_paid_answer(world, store, caplog):
    class BrokenLedger(CostLedger):
        def record_call(self, **kwargs):
            raise OSError("ledger down")

    manager = build(world, FakeProvider(), ledger=BrokenLedger(store, clock=lambda: NOON))
    with caplog.at_level(logging.ERROR):
        assert ask(manager).cost_micros == 435
    assert "record_call failed" in caplog.text


def test_an_unpriced_site_model_falls_back_to_the_primary_model(world, caplog):
    world["site_settings"].update(SITE, {"model": "retired-model"})  # saved before the price table changed
    provider = FakeProvider()
    manager = build(world, provider)
    ask(manager)
    assert provider.calls[0]["model"] == "gpt-4o-mini"
    assert "not priced" in caplog.text
    world["site_settings"].update(SITE, {"model": "gpt-4.1-mini"})
    assert manager.model_for(SITE) == "gpt-4.1-mini"


def test_limits_spend_and_allowed_models(world):
    manager = build(world, FakeProvider())
    assert manager.limit_micros(SITE) == 5_000_000  # MAX_DAILY_COST_USD default
    world["site_settings"].update(SITE, {"daily_limit_usd": 12.5})
    assert manager.limit_micros(SITE) == 12_500_000
    allowed = manager.allowed_models()
    assert {"gpt-4o-mini", "gpt-5-mini", "gpt-4.1-nano"} <= allowed
    assert "text-embedding-3-small" not in allowed
    bare = ModelManager(world["settings"], FakeProvider())
    assert bare.allowed_models() is None and bare.spent_today(SITE) == 0


def test_the_bare_manager_keeps_its_old_behaviour(settings):
    records = []
    manager = ModelManager(settings, FakeProvider(), observers=[records.append])
    completion = manager.complete(tenant_id=SITE, intent="help", messages=MESSAGES, cache_key="k")
    assert completion.cost_micros == 0 and records[0].ok
    with pytest.raises(LLMError) as err:
        ModelManager(settings, None).complete(tenant_id=SITE, intent="help", messages=MESSAGES)
    assert err.value.code == "llm_not_configured"


def test_metrics_are_not_counted_twice_through_an_observer(world):
    metrics = world["metrics"]
    manager = build(world, FakeProvider(), observers=[metrics.observe_llm_call])
    manager.add_observer(metrics.observe_llm_call)
    ask(manager)
    assert metrics.of("observed") == [] and len(metrics.of("api_call")) == 1


def test_fifty_threads_through_the_manager_stay_within_the_limit(world):
    world["site_settings"].update(SITE, {"daily_limit_usd": 0.005})  # 5000 micros
    # usage consistent with the short prompt: 40 x 0.15 + 400 x 0.60 = 246 micros, reserved ~312
    manager = build(world, FakeProvider(usage=Usage(prompt_tokens=40, completion_tokens=400)))
    barrier = threading.Barrier(50)
    outcomes = []

    def worker():
        barrier.wait()
        try:
            outcomes.append(ask(manager).cost_micros)
        except BudgetExceededError:
            outcomes.append("refused")

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paid = [o for o in outcomes if o != "refused"]
    assert manager.spent_today(SITE) == sum(paid) <= 5000
    assert world["ledger"].day(SITE).refusals == outcomes.count("refused") > 0


def test_with_the_real_exact_cache_and_breaker(world, store, tmp_path):
    exact = pytest.importorskip("connect_app.cache.exact")
    breaker_mod = pytest.importorskip("connect_app.ops.breaker")
    cache_store = DiskStore(tmp_path / "cache", evicting=True)
    breaker = breaker_mod.CircuitBreaker(store, "llm", failure_threshold=2, reset_timeout=60)
    provider = FakeProvider("Cached text.", ProviderError("down", code="llm_unavailable"),
                            ProviderError("down", code="llm_unavailable"))
    manager = build(world, provider, exact_cache=exact.ExactCache(cache_store, ttl_seconds=60), breaker=breaker)
    ask(manager, cache_key="k")
    hit = ask(manager, cache_key="k")
    assert hit.cached and hit.text == "Cached text." and world["ledger"].day(SITE).saved_micros == 435
    for _ in range(2):
        with pytest.raises(ProviderError):
            ask(manager)
    assert breaker.state() == "open"
    with pytest.raises(CircuitOpenError):
        ask(manager)
    assert len(provider.calls) == 3 and manager.spent_today(SITE) == 435
    cache_store.close()
