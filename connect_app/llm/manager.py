"""The model manager: the only way the pipeline reaches a language model.

It picks the model for the site, calls the provider (whose SDK does the retrying), and reports
each call's usage to its observers (metrics, the cost ledger). Budget, caching and the circuit
breaker plug in here, so every caller gets them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..models import Completion
from ..settings import Settings
from ..storage.site_settings import SiteSettingsRepo
from .base import LLMProvider

log = logging.getLogger(__name__)


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
    extra: dict = field(default_factory=dict)


Observer = Callable[[CallRecord], None]


class ModelManager:
    """Calls the configured provider for a site, with the site's model, and reports usage."""

    def __init__(
        self,
        settings: Settings,
        provider: LLMProvider | None,
        *,
        site_settings: SiteSettingsRepo | None = None,
        observers: list[Observer] | None = None,
    ) -> None:
        """``provider`` None means offline mode: :attr:`available` is False."""
        self.settings = settings
        self.provider = provider
        self._site_settings = site_settings
        self._observers: list[Observer] = list(observers or [])

    @property
    def available(self) -> bool:
        """True when a model provider is configured."""
        return self.provider is not None

    def add_observer(self, observer: Observer) -> None:
        """Register a callable that receives a :class:`CallRecord` after every call."""
        self._observers.append(observer)

    def model_for(self, tenant_id: str) -> str:
        """The chat model a site uses (its own setting, else ``OPENAI_PRIMARY_MODEL``)."""
        if self._site_settings is not None:
            return self._site_settings.get(tenant_id).effective_model(self.settings)
        return self.settings.openai_primary_model

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
    ) -> Completion:
        """Ask the model; raises LLMError (or BudgetExceededError/CircuitOpenError) when it cannot answer."""
        from ..errors import LLMError

        if self.provider is None:
            raise LLMError("no language model is configured", code="llm_not_configured")
        chosen = model or self.model_for(tenant_id)
        limit = max_tokens or self.settings.llm_max_tokens
        try:
            completion = self.provider.complete(
                messages,
                model=chosen,
                max_tokens=limit,
                json_schema=json_schema,
                schema_name=schema_name,
                user=tenant_id,
            )
        except LLMError as exc:
            self._notify(
                CallRecord(tenant_id, intent, chosen, self.provider.name, ok=False, error_code=exc.code)
            )
            raise
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
            )
        )
        return completion

    def _notify(self, record: CallRecord) -> None:
        log.info(
            "llm call site=%s intent=%s model=%s ok=%s tokens=%s/%s cached=%s latency_ms=%.0f error=%s",
            record.tenant_id,
            record.intent,
            record.model,
            record.ok,
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_prompt_tokens,
            record.latency_ms,
            record.error_code,
        )
        for observer in self._observers:
            try:
                observer(record)
            except Exception:  # an observer must never break a reply
                log.exception("llm observer failed")
