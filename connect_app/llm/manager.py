"""The model manager: the only way the pipeline reaches a language model.

It picks the model for the site and intent, then for every call:

1. serves a cached answer when one may be reused (exact cache, then the semantic cache for
   read-only intents), counting what it saved;
2. reserves the call's worst-case cost against the site's daily limit (refusing over the limit);
3. asks the LLM circuit breaker, then the provider (whose SDK does the retrying);
4. prices the usage the response reports, settles the reservation, writes the ledger, raises the
   day's cost alert once, and stores the answer in the caches.

The budget, ledger and metrics steps (2 and 4) are the :class:`~connect_app.llm.spend.SpendBook`'s,
shared with the embedding meter. Every collaborator is optional, so the manager also runs bare
(tests, ``jira-ai classify``).
Observers get a :class:`CallRecord` after every call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import CircuitOpenError, ConfigError, LLMError
from ..models import READ_ONLY_INTENTS, CacheHint, Completion, Usage
from ..settings import Settings
from ..storage.ledger import CostLedger
from ..storage.site_settings import SiteSettings, SiteSettingsRepo
from .base import LLMProvider
from .budget import BudgetGuard, Reservation, usd_to_micros, worst_case_prompt_tokens
from .prices import PriceTable
from .spend import SpendBook

if TYPE_CHECKING:  # the cache and ops packages are optional collaborators
    from ..cache.exact import CachedAnswer, ExactCache
    from ..cache.semantic import SemanticCache
    from ..ops.breaker import CircuitBreaker
    from ..ops.metrics import Metrics

log = logging.getLogger(__name__)

CLASSIFICATION_INTENT = "classification"
READ_ONLY_INTENT_NAMES = frozenset(intent.value for intent in READ_ONLY_INTENTS)
CACHE_PROVIDER = "cache"  # a cached Completion's provider is "cache:exact" or "cache:semantic"


@dataclass
class CallRecord:
    """What one model call cost and how it went, for observers."""

    tenant_id: str
    intent: str
    model: str
    provider: str
    ok: bool
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    error_code: str | None = None
    cost_micros: int = 0
    cached: bool = False
    extra: dict = field(default_factory=dict)


Observer = Callable[[CallRecord], None]


class ModelManager:
    """Calls the configured provider for a site, within its budget, through caches and a breaker."""

    def __init__(
        self,
        settings: Settings,
        provider: LLMProvider | None,
        *,
        site_settings: SiteSettingsRepo | None = None,
        prices: PriceTable | None = None,
        budget: BudgetGuard | None = None,
        ledger: CostLedger | None = None,
        exact_cache: ExactCache | None = None,
        semantic_cache: SemanticCache | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: Metrics | None = None,
        observers: list[Observer] | None = None,
    ) -> None:
        """``provider`` None means offline mode: :attr:`available` is False.

        A ``budget`` needs ``prices`` (the worst case of a call is priced before it is made).
        """
        if budget is not None and prices is None:
            raise ConfigError("the model manager needs a price table to enforce a budget")
        self.settings = settings
        self.provider = provider
        self.prices = prices
        self.exact_cache = exact_cache
        self.semantic_cache = semantic_cache
        self.breaker = breaker
        self.spend = SpendBook(settings, budget=budget, ledger=ledger, metrics=metrics,
                               site_settings=site_settings, log=log, label="llm")
        self._observers: list[Observer] = []
        for observer in observers or []:
            self.add_observer(observer)

    # ------------------------------------------------------------------ public surface
    @property
    def budget(self) -> BudgetGuard | None:
        """The daily budget calls are reserved against (None: not enforced)."""
        return self.spend.budget

    @property
    def ledger(self) -> CostLedger | None:
        """The cost ledger calls and cache events are written to."""
        return self.spend.ledger

    @property
    def metrics(self) -> Metrics | None:
        """The metrics calls and cache events are counted in."""
        return self.spend.metrics

    @property
    def available(self) -> bool:
        """True when a model provider is configured."""
        return self.provider is not None

    def add_observer(self, observer: Observer) -> None:
        """Register a callable that receives a :class:`CallRecord` after every provider call.

        Cache hits, budget refusals and open-breaker short-circuits reach no provider and are not
        reported here (the ledger and metrics count them). When the manager was given ``metrics``
        it already records every call there, so that object's ``observe_llm_call`` is not added
        again (it would count each call twice).
        """
        if (
            self.metrics is not None
            and getattr(observer, "__self__", None) is self.metrics
            and getattr(observer, "__name__", "") == "observe_llm_call"
        ):
            log.debug("metrics already receive model calls from the manager; observer not added")
            return
        self._observers.append(observer)

    def model_for(self, tenant_id: str) -> str:
        """The chat model a site uses (its own priced setting, else ``OPENAI_PRIMARY_MODEL``)."""
        return self._site_model(self._site(tenant_id))

    def model_for_intent(self, tenant_id: str, intent: str) -> str:
        """The model for ``intent``: ``OPENAI_CLASSIFIER_MODEL`` for classification when set."""
        return self._choose_model(self._site(tenant_id), intent)

    def limit_micros(self, tenant_id: str) -> int:
        """The site's daily limit in micro-dollars (its own setting, else ``MAX_DAILY_COST_USD``)."""
        return usd_to_micros(self._site(tenant_id).effective_daily_limit_usd(self.settings))

    def spent_today(self, tenant_id: str) -> int:
        """Today's committed spend of the site in micro-dollars (settled plus in-flight calls)."""
        if self.budget is not None:
            return self.budget.spent_today(tenant_id)
        if self.ledger is not None:
            return self.ledger.day(tenant_id).cost_micros
        return 0

    def allowed_models(self) -> set[str] | None:
        """Chat models a site may choose (priced ones and aliases); None when nothing is priced."""
        return set(self.prices.chat_models()) if self.prices is not None else None

    def complete(
        self,
        *,
        tenant_id: str,
        intent: str,
        messages: list[dict],
        max_tokens: int | None = None,
        json_schema: dict | None = None,
        schema_name: str = "result",
        model: str | None = None,
        cache_key: str | None = None,
        cache_hint: CacheHint | None = None,
    ) -> Completion:
        """Ask the model, or a cache; raises BudgetExceededError, CircuitOpenError or LLMError."""
        if self.provider is None:
            raise LLMError("no language model is configured", code="llm_not_configured")
        site = self._site(tenant_id)
        chosen = model or self._choose_model(site, intent)
        token_limit = max_tokens or self.settings.llm_max_tokens

        hit = self._from_cache(tenant_id, intent, chosen, site, cache_key, cache_hint)
        if hit is not None:
            return hit

        reservation = self._reserve(tenant_id, intent, chosen, site, messages, json_schema, token_limit)
        started = time.perf_counter()
        try:
            if self.breaker is not None:
                self.breaker.before_call()
            completion = self.provider.complete(
                messages,
                model=chosen,
                max_tokens=token_limit,
                json_schema=json_schema,
                schema_name=schema_name,
                user=tenant_id,
            )
        except CircuitOpenError as exc:
            self.spend.release(reservation)
            self.spend.safe(self.metrics, "record_error", exc.code)
            log.info("llm call short-circuited site=%s intent=%s: breaker open", tenant_id, intent)
            raise
        except LLMError as exc:
            self.spend.release(reservation)
            self._on_failure(tenant_id, intent, chosen, exc, (time.perf_counter() - started) * 1000)
            raise
        except BaseException:
            self.spend.release(reservation)
            raise
        self.spend.safe(self.breaker, "record_success")
        completion.cost_micros = self._account(tenant_id, intent, chosen, site, completion, reservation)
        self._store(tenant_id, intent, chosen, site, cache_key, cache_hint, completion)
        self._notify(
            CallRecord(
                tenant_id,
                intent,
                completion.model or chosen,
                self.provider.name,
                ok=True,
                prompt_tokens=completion.usage.prompt_tokens,
                cached_prompt_tokens=completion.usage.cached_prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                latency_ms=completion.latency_ms,
                cost_micros=completion.cost_micros,
            )
        )
        return completion

    # ------------------------------------------------------------------ model choice
    def _site(self, tenant_id: str) -> SiteSettings:
        return self.spend.site(tenant_id)

    def _site_model(self, site: SiteSettings) -> str:
        model = site.effective_model(self.settings)
        primary = self.settings.openai_primary_model
        if self.prices is not None and model != primary and not self.prices.is_priced(model):
            log.warning("site model %r is not priced (any more); using %s", model, primary)
            return primary
        return model

    def _choose_model(self, site: SiteSettings, intent: str) -> str:
        if intent == CLASSIFICATION_INTENT and self.settings.openai_classifier_model:
            return self.settings.openai_classifier_model
        return self._site_model(site)

    # ------------------------------------------------------------------ caches
    def _semantic_allowed(self, intent: str, site: SiteSettings, hint: CacheHint | None) -> bool:
        return (
            self.semantic_cache is not None
            and hint is not None
            and intent in READ_ONLY_INTENT_NAMES
            and site.semantic_cache_on(self.settings)
        )

    def _from_cache(
        self,
        tenant_id: str,
        intent: str,
        model: str,
        site: SiteSettings,
        cache_key: str | None,
        hint: CacheHint | None,
    ) -> Completion | None:
        if not self.settings.cache_enabled:
            return None
        started = time.perf_counter()
        layers: list[tuple[str, Callable[[], CachedAnswer | None]]] = []
        if cache_key and self.exact_cache is not None:
            exact = self.exact_cache
            layers.append(("exact", lambda: exact.get(tenant_id, model, cache_key)))
        if self._semantic_allowed(intent, site, hint):
            semantic = self.semantic_cache
            assert semantic is not None and hint is not None
            layers.append(("semantic", lambda: semantic.lookup(tenant_id, intent, model, hint)))
        for layer, lookup in layers:
            try:
                answer = lookup()
            except Exception as exc:  # a cache must never break a reply
                log.warning("%s cache lookup failed: %s", layer, type(exc).__name__)
                answer = None
            if answer is not None and (answer.text or "").strip():
                return self._serve(tenant_id, intent, model, layer, answer, started)
            self.spend.safe(self.ledger, "record_cache_miss", tenant_id=tenant_id, intent=intent, layer=layer)
            self.spend.safe(self.metrics, "record_cache_event", layer=layer, event="miss")
        return None

    def _serve(
        self, tenant_id: str, intent: str, model: str, layer: str, answer: CachedAnswer, started: float
    ) -> Completion:
        saved = max(int(answer.cost_micros or 0), 0)
        answered_by = answer.model or model
        self.spend.safe(self.ledger, "record_cache_hit", tenant_id=tenant_id, intent=intent,
                        model=answered_by, saved_micros=saved, layer=layer)
        self.spend.safe(self.metrics, "record_cache_event", layer=layer, event="hit", saved_micros=saved)
        completion = Completion(
            text=answer.text,
            model=answered_by,
            provider=f"{CACHE_PROVIDER}:{layer}",
            usage=Usage(),
            latency_ms=(time.perf_counter() - started) * 1000,
            cost_micros=0,
            cached=True,
            finish_reason="cached",
        )
        log.info("llm cache hit site=%s intent=%s model=%s layer=%s saved_micros=%d",
                 tenant_id, intent, answered_by, layer, saved)
        return completion

    def _store(
        self,
        tenant_id: str,
        intent: str,
        model: str,
        site: SiteSettings,
        cache_key: str | None,
        hint: CacheHint | None,
        completion: Completion,
    ) -> None:
        if not self.settings.cache_enabled or not (completion.text or "").strip():
            return
        if completion.finish_reason == "length":  # a truncated answer is not worth reusing
            return
        if cache_key and self.spend.safe(self.exact_cache, "put", tenant_id, model, cache_key, completion):
            self.spend.safe(self.metrics, "record_cache_event", layer="exact", event="store")
        if self._semantic_allowed(intent, site, hint) and self.spend.safe(
            self.semantic_cache, "put", tenant_id, intent, model, hint, completion
        ):
            self.spend.safe(self.metrics, "record_cache_event", layer="semantic", event="store")

    # ------------------------------------------------------------------ budget and accounting
    def _reserve(
        self,
        tenant_id: str,
        intent: str,
        model: str,
        site: SiteSettings,
        messages: list[dict],
        json_schema: dict | None,
        token_limit: int,
    ) -> Reservation | None:
        if self.budget is None or self.prices is None:
            return None
        prompt_bound = worst_case_prompt_tokens(messages, json_schema)
        worst = self.prices.estimate_micros(model, prompt_bound, token_limit)
        return self.spend.reserve(tenant_id, site, worst, intent)

    def _account(
        self,
        tenant_id: str,
        intent: str,
        model: str,
        site: SiteSettings,
        completion: Completion,
        reservation: Reservation | None,
    ) -> int:
        """Price the call, settle the budget, write the ledger and metrics; returns the cost."""
        usage = completion.usage
        cost = 0
        if self.prices is not None:
            try:
                cost = self.prices.cost_micros(model, usage)
            except ConfigError:
                log.error("model %r answered but is not priced; its cost is not counted", model)
        self.spend.settle_and_record(tenant_id, site, reservation, intent=intent, model=model,
                                     cost_micros=cost, usage=usage, latency_ms=completion.latency_ms)
        return cost

    # ------------------------------------------------------------------ failures
    def _on_failure(self, tenant_id: str, intent: str, model: str, exc: LLMError, latency_ms: float) -> None:
        self.spend.record_failure(self.breaker, model, intent, exc, latency_ms)
        provider = self.provider.name if self.provider else ""
        self._notify(CallRecord(tenant_id, intent, model, provider, ok=False, error_code=exc.code,
                                latency_ms=latency_ms))

    def _notify(self, record: CallRecord) -> None:
        log.info(
            "llm call site=%s intent=%s model=%s ok=%s cached=%s tokens=%s/%s prompt_cached=%s "
            "cost_micros=%d latency_ms=%.0f error=%s",
            record.tenant_id,
            record.intent,
            record.model,
            record.ok,
            record.cached,
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_prompt_tokens,
            record.cost_micros,
            record.latency_ms,
            record.error_code,
        )
        for observer in self._observers:
            try:
                observer(record)
            except Exception:  # an observer must never break a reply
                log.exception("llm observer failed")
