"""Provider embedding calls, priced and held to the site's daily budget like chat calls.

The semantic cache embeds requests through the LLM provider when ``EMBEDDING_BACKEND`` is
``provider`` (or ``auto`` picks it). The vendor bills those calls, so each one goes through
:meth:`EmbeddingMeter.embed`, in the model manager's order for chat calls:

1. reserve the worst case (one token per UTF-8 byte of the texts, plus one per text, at the model's
   input rate) against the site's daily limit; over the limit it raises
   :class:`~connect_app.errors.BudgetExceededError` (the semantic cache reads that as "skip the
   lookup": the exact cache and the offline fallback are unaffected);
2. ask the LLM circuit breaker, then the provider;
3. price the prompt tokens the response reports (the whole reservation when it reports none: never
   under-count), settle the reservation, write the ledger and metrics under the intent
   :data:`EMBEDDING_INTENT` and raise the day's cost alert once.

An unpriced embedding model is refused here too (start-up refuses it first: see
:meth:`~connect_app.llm.prices.PriceTable.validate_models`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError, LLMError
from ..models import Usage
from ..settings import Settings
from ..storage.ledger import CostLedger
from ..storage.site_settings import SiteSettings, SiteSettingsRepo
from .base import TRANSIENT_CODES, Embeddings, EmbeddingUsageProvider, LLMProvider, ProviderError
from .budget import BudgetGuard, Reservation, format_usd, usd_to_micros
from .prices import PriceTable

if TYPE_CHECKING:
    from ..ops.breaker import CircuitBreaker
    from ..ops.metrics import Metrics

log = logging.getLogger(__name__)

#: The ledger and metrics intent of provider embedding calls (its own row in the cost breakdown).
EMBEDDING_INTENT = "embedding"
PER_TEXT_OVERHEAD_TOKENS = 1


def worst_case_embedding_tokens(texts: list[str]) -> int:
    """An upper bound of the tokens ``texts`` use: byte-level BPE never makes more tokens than bytes."""
    return sum(len(text.encode("utf-8")) + PER_TEXT_OVERHEAD_TOKENS for text in texts)


class EmbeddingMeter:
    """Reserves, calls, prices and records one site's provider embedding calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        prices: PriceTable,
        budget: BudgetGuard | None = None,
        ledger: CostLedger | None = None,
        site_settings: SiteSettingsRepo | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """Share the model manager's price table, budget, ledger, breaker and metrics."""
        self.settings = settings
        self.prices = prices
        self.budget = budget
        self.ledger = ledger
        self.breaker = breaker
        self.metrics = metrics
        self._site_settings = site_settings

    def embed(self, tenant_id: str, texts: list[str], *, provider: LLMProvider, model: str) -> Embeddings:
        """Embed ``texts`` for ``tenant_id`` within its budget; returns the vectors and the usage.

        Raises BudgetExceededError over the limit, CircuitOpenError while the LLM breaker is open,
        ConfigError for an unpriced model and LLMError when the call fails (nothing is charged then).
        """
        if not texts:
            return Embeddings([], Usage(), model)
        worst = self.prices.estimate_micros(model, worst_case_embedding_tokens(texts), 0)
        site = self._site(tenant_id)
        reservation = self._reserve(tenant_id, site, worst)
        started = time.perf_counter()
        try:
            if self.breaker is not None:
                self.breaker.before_call()
            if isinstance(provider, EmbeddingUsageProvider):
                result = provider.embed_with_usage(list(texts), model=model)
            else:
                result = Embeddings(provider.embed(list(texts), model=model), None, model)
        except LLMError as exc:
            self._release(reservation)
            self._on_failure(model, exc, (time.perf_counter() - started) * 1000)
            raise
        except BaseException:
            self._release(reservation)
            raise
        self._safe(self.breaker, "record_success")
        latency_ms = (time.perf_counter() - started) * 1000
        self._account(tenant_id, site, model, result.usage, worst, reservation, latency_ms)
        return result

    # ------------------------------------------------------------------ budget
    def _site(self, tenant_id: str) -> SiteSettings:
        return self._site_settings.get(tenant_id) if self._site_settings is not None else SiteSettings()

    def _reserve(self, tenant_id: str, site: SiteSettings, worst: int) -> Reservation | None:
        if self.budget is None:
            return None
        limit = usd_to_micros(site.effective_daily_limit_usd(self.settings))
        try:
            return self.budget.reserve(tenant_id, worst, limit, intent=EMBEDDING_INTENT)
        except BudgetExceededError:
            log.info("budget refusal site=%s intent=%s worst_case_micros=%d limit_micros=%d",
                     tenant_id, EMBEDDING_INTENT, worst, limit)
            self._safe(self.metrics, "record_budget_refusal", tenant_id)
            raise

    def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            self._safe(self.budget, "release", reservation)

    # ------------------------------------------------------------------ accounting
    def _account(
        self,
        tenant_id: str,
        site: SiteSettings,
        model: str,
        usage: Usage | None,
        worst: int,
        reservation: Reservation | None,
        latency_ms: float,
    ) -> int:
        if usage is None:
            log.warning("embedding response reported no usage model=%s; charged its worst case", model)
            cost, tokens = worst, 0
        else:
            tokens = usage.prompt_tokens
            cost = self.prices.cost_micros(model, Usage(prompt_tokens=tokens))
        day = reservation.day if reservation is not None else None
        if reservation is not None:
            committed = self._safe(self.budget, "settle", reservation, cost)
            if isinstance(committed, int) and not isinstance(committed, bool):
                self._check_alert(tenant_id, site, committed, reservation.limit_micros, reservation.day)
        self._safe(self.ledger, "record_call", tenant_id=tenant_id, intent=EMBEDDING_INTENT, model=model,
                   cost_micros=cost, prompt_tokens=tokens, completion_tokens=0, cached_tokens=0, day=day)
        self._safe(self.metrics, "record_api_call", model=model, intent=EMBEDDING_INTENT,
                   prompt_tokens=tokens, completion_tokens=0, cost_micros=cost, latency_ms=latency_ms,
                   success=True)
        log.info("llm embedding site=%s model=%s tokens=%d cost_micros=%d latency_ms=%.0f",
                 tenant_id, model, tokens, cost, latency_ms)
        return cost

    def _check_alert(self, tenant_id: str, site: SiteSettings, committed: int, limit: int, day: str) -> None:
        if limit <= 0 or self.ledger is None:
            return
        percent = site.effective_alert_percentage(self.settings)
        if committed * 100 < limit * percent:
            return
        first = self._safe(self.ledger, "record_alert", tenant_id=tenant_id, percent=percent,
                           spent_micros=committed, limit_micros=limit, day=day)
        if first is True:
            log.warning("cost alert site=%s: %s of the %s daily limit committed (alert at %.0f%%)",
                        tenant_id, format_usd(committed), format_usd(limit), percent)
            self._safe(self.metrics, "record_cost_alert", tenant_id)

    def _on_failure(self, model: str, exc: LLMError, latency_ms: float) -> None:
        # As for chat calls: only a transient failure counts against the breaker; any other
        # answer shows the service is up.
        transient = exc.transient if isinstance(exc, ProviderError) else exc.code in TRANSIENT_CODES
        self._safe(self.breaker, "record_failure" if transient else "record_success")
        self._safe(self.metrics, "record_api_call", model=model, intent=EMBEDDING_INTENT, prompt_tokens=0,
                   completion_tokens=0, cost_micros=0, latency_ms=latency_ms, success=False,
                   error_code=exc.code)

    @staticmethod
    def _safe(collaborator: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """A bookkeeping step on an optional collaborator; logged, never raised (True for None)."""
        if collaborator is None:
            return None
        try:
            result = getattr(collaborator, method)(*args, **kwargs)
        except Exception:
            log.exception("embedding bookkeeping step %s.%s failed", type(collaborator).__name__, method)
            return None
        return True if result is None else result
