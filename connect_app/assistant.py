"""The original engine's public API, as a facade over the same services and pipeline.

``JiraAIAssistant().process_user_message("summarize this", issue={...})`` classifies and drafts exactly as
a Jira comment would be answered (same classifier, prompts, model manager, budget and caches), but returns
the draft instead of posting it and never acts in Jira.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .errors import AppError, BadRequestError
from .models import Tenant
from .pipeline.context import context_from_dict
from .pipeline.events import MAX_REQUEST_CHARS
from .pipeline.validate import validate_reply
from .services import Services, build_services
from .settings import Settings

LOCAL_ISSUE = {"key": "LOCAL-1", "summary": "", "description": "", "status": "Open"}


class JiraAIAssistant:
    """Process messages, and report health, performance and cost, without a Jira site."""

    def __init__(self, settings: Settings | None = None, *, services: Services | None = None) -> None:
        """Use ``services`` when given; otherwise build them from ``settings`` (default: the environment)."""
        self._settings = settings
        self._services = services
        self._lock = threading.Lock()

    @property
    def services(self) -> Services:
        """The services, built on first use."""
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = build_services(self._settings or Settings.from_env())
        return self._services

    # ------------------------------------------------------------------ the main call
    def process_user_message(
        self,
        message: str,
        *,
        tenant: str = "local",
        issue: dict[str, Any] | None = None,
        user: str | None = None,
    ) -> dict[str, Any]:
        """Classify and draft a reply to ``message`` about ``issue`` (a dict of fields); nothing is posted.

        Returns ``success``, ``intent``, ``confidence``, ``content`` (Markdown), ``cost_usd``, ``cached``,
        ``error`` (a stable code or None) and details (``subject``, ``offline``, ``note``, ``source``,
        ``model``, ``latency_ms``).
        """
        started = time.perf_counter()
        result: dict[str, Any] = {
            "success": False,
            "intent": None,
            "confidence": 0.0,
            "content": "",
            "cost_usd": 0.0,
            "cached": False,
            "error": None,
        }
        try:
            text = _check_message(message)
            site = _check_tenant(tenant)
            if issue is not None and not isinstance(issue, dict):
                raise BadRequestError("issue must be a dict of issue fields (key, summary, description, ...)")
            context = context_from_dict({**LOCAL_ISSUE, **(issue or {})})
            if user:
                context.requester_name = str(user)[:200]
            tenant_obj = Tenant(tenant_id=site, door="api", base_url="")
            classification, draft = self.services.pipeline.draft(text, tenant=tenant_obj, context=context)
            reply = validate_reply(draft, trigger=self.services.settings.ai_trigger)
        except AppError as exc:
            result.update(error=exc.code, message=exc.message)
            return _finish(result, started)
        result.update(
            success=True,
            intent=classification.intent.value,
            confidence=round(classification.confidence, 3),
            content=reply.markdown,
            cost_usd=draft.cost_micros / 1_000_000,
            cached=draft.cached,
            subject=draft.subject,
            offline=draft.offline,
            note=draft.note,
            source=classification.source,
            model=draft.model,
            warnings=reply.warnings,
        )
        return _finish(result, started)

    # ------------------------------------------------------------------ reports
    def get_health_status(self) -> dict[str, Any]:
        """Health: status from the error rate, breaker states, queue depth, recent errors."""
        return self.services.monitor.health_status()

    def get_performance_metrics(self) -> dict[str, Any]:
        """Performance: p50/p95 per stage, throughput, queue depth, LLM latency."""
        return self.services.monitor.performance()

    def get_cost_analysis(self, tenant: str = "local") -> dict[str, Any]:
        """Cost: today, 7 and 30 days, per intent and model, budget left, projected month."""
        return self.services.monitor.cost_analysis(_check_tenant(tenant))

    def get_pipeline_stats(self) -> dict[str, Any]:
        """Counters of this process's pipeline, the shared cache statistics and the queue depth."""
        metrics = self.services.metrics
        return {
            "stats": metrics.get_stats(),
            "cache": metrics.get_cache_stats(),
            "queue_depth": self.services.queue.depth(),
        }

    def validate_configuration(self) -> dict[str, Any]:
        """Whether the configuration is valid, what is wrong, and the effective (redacted) settings."""
        settings = self._settings or (self._services.settings if self._services else None)
        if settings is None:
            try:
                settings = Settings.from_env()
            except AppError as exc:
                return {
                    "valid": False,
                    "problems": exc.message.removeprefix("invalid configuration: ").split("; "),
                }
        problems = settings.problems()
        return {"valid": not problems, "problems": problems, "settings": settings.redacted()}

    def close(self) -> None:
        """Release storage handles."""
        if self._services is not None:
            self._services.close()


def _check_message(message: Any) -> str:
    if not isinstance(message, str):
        raise BadRequestError("message must be text")
    text = message.strip()
    if not text:
        raise BadRequestError("message is empty: write what you want, e.g. 'summarize this'")
    if len(text) > MAX_REQUEST_CHARS:
        raise BadRequestError(f"message is longer than {MAX_REQUEST_CHARS} characters")
    return text


def _check_tenant(tenant: Any) -> str:
    if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > 200:
        raise BadRequestError("tenant must be a non-empty id of at most 200 characters")
    return tenant.strip()


def _finish(result: dict[str, Any], started: float) -> dict[str, Any]:
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


class _Default:
    """The assistant behind the module-level functions, created on first use (never at import)."""

    instance: JiraAIAssistant | None = None
    lock = threading.Lock()

    @classmethod
    def get(cls) -> JiraAIAssistant:
        with cls.lock:
            if cls.instance is None:
                cls.instance = JiraAIAssistant()
            return cls.instance


def process_message(message: str, **kwargs: Any) -> dict[str, Any]:
    """``JiraAIAssistant.process_user_message`` on a default assistant configured from the environment."""
    return _Default.get().process_user_message(message, **kwargs)


def get_health() -> dict[str, Any]:
    """``JiraAIAssistant.get_health_status`` on the default assistant."""
    return _Default.get().get_health_status()


def get_metrics() -> dict[str, Any]:
    """``JiraAIAssistant.get_performance_metrics`` on the default assistant."""
    return _Default.get().get_performance_metrics()


def get_costs(tenant: str = "local") -> dict[str, Any]:
    """``JiraAIAssistant.get_cost_analysis`` on the default assistant."""
    return _Default.get().get_cost_analysis(tenant)
