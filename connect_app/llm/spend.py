"""The spend bookkeeping shared by every priced provider call (chat and embeddings).

:class:`SpendBook` holds one site's budget, ledger and metrics and does, for any intent:

1. :meth:`~SpendBook.reserve` the call's worst case against the site's daily limit (a refusal is
   logged and counted, then re-raised) and :meth:`~SpendBook.release` it when the call fails;
2. :meth:`~SpendBook.settle_and_record` the priced cost: settle the reservation, raise the day's
   cost alert once, write the ledger and the metrics;
3. :meth:`~SpendBook.record_failure`: the breaker's verdict and the failed call's metrics.

Every step but the refusal goes through :meth:`~SpendBook.safe`: the reply matters more than its
bookkeeping. The callers (:class:`~connect_app.llm.manager.ModelManager`,
:class:`~connect_app.llm.embedding_meter.EmbeddingMeter`) pass their own logger and label, so the
log lines keep their names.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError, LLMError
from ..models import Usage
from ..settings import Settings
from ..storage.ledger import CostLedger
from ..storage.site_settings import SiteSettings, SiteSettingsRepo
from .base import TRANSIENT_CODES, ProviderError
from .budget import BudgetGuard, Reservation, format_usd, usd_to_micros

if TYPE_CHECKING:
    from ..ops.breaker import CircuitBreaker
    from ..ops.metrics import Metrics


class SpendBook:
    """Reserves, settles and records the cost of provider calls; every collaborator is optional."""

    def __init__(
        self,
        settings: Settings,
        *,
        budget: BudgetGuard | None = None,
        ledger: CostLedger | None = None,
        metrics: Metrics | None = None,
        site_settings: SiteSettingsRepo | None = None,
        log: logging.Logger,
        label: str,
    ) -> None:
        """``log`` and ``label`` name the caller in log lines (``"<label> bookkeeping step ... failed"``)."""
        self.settings = settings
        self.budget = budget
        self.ledger = ledger
        self.metrics = metrics
        self._site_settings = site_settings
        self._log = log
        self._step_failed = f"{label} bookkeeping step %s.%s failed"

    def site(self, tenant_id: str) -> SiteSettings:
        """The site's settings (the defaults when there is no repository)."""
        return self._site_settings.get(tenant_id) if self._site_settings is not None else SiteSettings()

    # ------------------------------------------------------------------ budget
    def reserve(
        self, tenant_id: str, site: SiteSettings, worst_micros: int, intent: str
    ) -> Reservation | None:
        """Set ``worst_micros`` aside within the site's daily limit; None without a budget.

        Over the limit it logs the refusal, counts it in the metrics and re-raises
        :class:`~connect_app.errors.BudgetExceededError`.
        """
        if self.budget is None:
            return None
        limit = usd_to_micros(site.effective_daily_limit_usd(self.settings))
        try:
            return self.budget.reserve(tenant_id, worst_micros, limit, intent=intent)
        except BudgetExceededError:
            self._log.info("budget refusal site=%s intent=%s worst_case_micros=%d limit_micros=%d",
                           tenant_id, intent, worst_micros, limit)
            self.safe(self.metrics, "record_budget_refusal", tenant_id)
            raise

    def release(self, reservation: Reservation | None) -> None:
        """Give a failed call's reservation back."""
        if reservation is not None:
            self.safe(self.budget, "release", reservation)

    # ------------------------------------------------------------------ accounting
    def settle_and_record(
        self,
        tenant_id: str,
        site: SiteSettings,
        reservation: Reservation | None,
        *,
        intent: str,
        model: str,
        cost_micros: int,
        usage: Usage,
        latency_ms: float,
    ) -> None:
        """Settle a successful call's reservation at ``cost_micros``, then write the ledger and metrics.

        Settling raises the day's cost alert the first time the committed spend reaches it.
        """
        if reservation is not None:
            committed = self.safe(self.budget, "settle", reservation, cost_micros)
            if isinstance(committed, int) and not isinstance(committed, bool):
                self.check_alert(tenant_id, site, committed, reservation.limit_micros, reservation.day)
        day = reservation.day if reservation is not None else None
        self.safe(self.ledger, "record_call", tenant_id=tenant_id, intent=intent, model=model,
                  cost_micros=cost_micros, prompt_tokens=usage.prompt_tokens,
                  completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_prompt_tokens,
                  day=day)
        self.safe(self.metrics, "record_api_call", model=model, intent=intent,
                  prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                  cost_micros=cost_micros, latency_ms=latency_ms, success=True)

    def check_alert(self, tenant_id: str, site: SiteSettings, committed: int, limit: int, day: str) -> None:
        """Record, log and count the day's cost alert the first time ``committed`` reaches it."""
        if limit <= 0 or self.ledger is None:
            return
        percent = site.effective_alert_percentage(self.settings)
        if committed * 100 < limit * percent:
            return
        first = self.safe(self.ledger, "record_alert", tenant_id=tenant_id, percent=percent,
                          spent_micros=committed, limit_micros=limit, day=day)
        if first is True:
            self._log.warning(
                "cost alert site=%s: %s of the %s daily limit committed (alert at %.0f%%)",
                tenant_id, format_usd(committed), format_usd(limit), percent,
            )
            self.safe(self.metrics, "record_cost_alert", tenant_id)

    # ------------------------------------------------------------------ failures
    def record_failure(
        self, breaker: CircuitBreaker | None, model: str, intent: str, exc: LLMError, latency_ms: float
    ) -> None:
        """Tell the breaker how the call failed, then count the failed call in the metrics.

        Only a transient failure counts against the breaker: any other error is still an answer from
        the service, so it is up and counts as a success.
        """
        transient = exc.transient if isinstance(exc, ProviderError) else exc.code in TRANSIENT_CODES
        self.safe(breaker, "record_failure" if transient else "record_success")
        self.safe(self.metrics, "record_api_call", model=model, intent=intent, prompt_tokens=0,
                  completion_tokens=0, cost_micros=0, latency_ms=latency_ms, success=False,
                  error_code=exc.code)

    def safe(self, collaborator: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run a bookkeeping step on an optional collaborator; a failure is logged, never raised.

        The reply matters more than its bookkeeping. Returns the step's result (True when it returned
        None), or None when the collaborator is absent or the step failed.
        """
        if collaborator is None:
            return None
        try:
            result = getattr(collaborator, method)(*args, **kwargs)
        except Exception:
            self._log.exception(self._step_failed, type(collaborator).__name__, method)
            return None
        return True if result is None else result
