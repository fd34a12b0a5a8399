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

Steps 1 and 3 are the :class:`~connect_app.llm.spend.SpendBook`'s, shared with the model manager.

An unpriced embedding model is refused here too (start-up refuses it first: see
:meth:`~connect_app.llm.prices.PriceTable.validate_models`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..errors import LLMError
from ..models import Usage
from ..settings import Settings
from ..storage.ledger import CostLedger
from ..storage.site_settings import SiteSettingsRepo
from .base import Embeddings, EmbeddingUsageProvider, LLMProvider
from .budget import BudgetGuard
from .prices import PriceTable
from .spend import SpendBook

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
        self.breaker = breaker
        self.spend = SpendBook(settings, budget=budget, ledger=ledger, metrics=metrics,
                               site_settings=site_settings, log=log, label="embedding")

    @property
    def budget(self) -> BudgetGuard | None:
        """The daily budget the calls are reserved against (None: not enforced)."""
        return self.spend.budget

    @property
    def ledger(self) -> CostLedger | None:
        """The cost ledger the calls are written to."""
        return self.spend.ledger

    @property
    def metrics(self) -> Metrics | None:
        """The metrics the calls are counted in."""
        return self.spend.metrics

    def embed(self, tenant_id: str, texts: list[str], *, provider: LLMProvider, model: str) -> Embeddings:
        """Embed ``texts`` for ``tenant_id`` within its budget; returns the vectors and the usage.

        Raises BudgetExceededError over the limit, CircuitOpenError while the LLM breaker is open,
        ConfigError for an unpriced model and LLMError when the call fails (nothing is charged then).
        """
        if not texts:
            return Embeddings([], Usage(), model)
        worst = self.prices.estimate_micros(model, worst_case_embedding_tokens(texts), 0)
        site = self.spend.site(tenant_id)
        reservation = self.spend.reserve(tenant_id, site, worst, EMBEDDING_INTENT)
        started = time.perf_counter()
        try:
            if self.breaker is not None:
                self.breaker.before_call()
            if isinstance(provider, EmbeddingUsageProvider):
                result = provider.embed_with_usage(list(texts), model=model)
            else:
                result = Embeddings(provider.embed(list(texts), model=model), None, model)
        except LLMError as exc:
            self.spend.release(reservation)
            latency_ms = (time.perf_counter() - started) * 1000
            self.spend.record_failure(self.breaker, model, EMBEDDING_INTENT, exc, latency_ms)
            raise
        except BaseException:
            self.spend.release(reservation)
            raise
        self.spend.safe(self.breaker, "record_success")
        latency_ms = (time.perf_counter() - started) * 1000
        if result.usage is None:
            log.warning("embedding response reported no usage model=%s; charged its worst case", model)
            cost, tokens = worst, 0
        else:
            tokens = result.usage.prompt_tokens
            cost = self.prices.cost_micros(model, Usage(prompt_tokens=tokens))
        self.spend.settle_and_record(tenant_id, site, reservation, intent=EMBEDDING_INTENT, model=model,
                                     cost_micros=cost, usage=Usage(prompt_tokens=tokens),
                                     latency_ms=latency_ms)
        log.info("llm embedding site=%s model=%s tokens=%d cost_micros=%d latency_ms=%.0f",
                 tenant_id, model, tokens, cost, latency_ms)
        return result
