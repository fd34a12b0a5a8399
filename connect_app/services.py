"""The composition root: builds every long-lived collaborator once from Settings.

``create_app`` (web) and ``jira-ai worker`` both call :func:`build_services`; nothing here runs at
import time. Backends are imported lazily by the factories they call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .cache.embedders import (
    LocalEmbedder,
    build_classifier_embedder,
    build_embedder,
    provider_embedding_model,
)
from .cache.exact import ExactCache
from .errors import JiraError
from .jira.auth import BearerAuth, ConnectJwtAuth
from .jira.client import JiraClient
from .jobs.journal import JobJournal
from .jobs.queue import JobQueue
from .jobs.ui_results import UiResults
from .llm.budget import BudgetGuard
from .llm.embedding_meter import EmbeddingMeter
from .llm.factory import build_provider
from .llm.manager import ModelManager
from .llm.prices import PriceTable
from .models import Tenant
from .ops.breaker import BreakerRegistry
from .ops.metrics import Metrics
from .ops.monitoring import Monitor
from .pipeline.classify import EmbeddingClassifier, IntentClassifier, RuleClassifier
from .pipeline.handlers import build_router
from .pipeline.process import Pipeline
from .pipeline.rate_limit import RateLimiter
from .platform.connect.install_keys import InstallKeyFetcher
from .platform.forge.keys import ForgeKeys
from .platform.forge.site import system_token_provider, user_token_provider
from .settings import Settings
from .storage.factory import Stores, open_stores
from .storage.ledger import CostLedger
from .storage.site_settings import SiteSettingsRepo
from .storage.tenants import TenantRepo

log = logging.getLogger(__name__)

FORGE_KEYS_LIFESPAN_SECONDS = 3600.0


@dataclass
class Services:
    """Everything a web or worker process shares across requests and jobs."""

    settings: Settings
    stores: Stores
    site_settings: SiteSettingsRepo
    journal: JobJournal
    queue: JobQueue
    install_keys: InstallKeyFetcher
    prices: PriceTable
    ledger: CostLedger
    budget: BudgetGuard
    breakers: BreakerRegistry
    metrics: Metrics
    monitor: Monitor
    manager: ModelManager
    classifier: IntentClassifier
    pipeline: Pipeline
    limiter: RateLimiter
    forge_keys: ForgeKeys | None = None
    classifier_embedder: LocalEmbedder | None = None

    def jira_for(self, tenant: Tenant) -> JiraClient:
        """A Jira client for ``tenant`` whose every call is signed for that site."""
        return jira_client_for(self.settings, tenant, self.breakers, tenants=self.stores.tenants)

    def warm_up(self) -> None:
        """Load what would otherwise make the first job slow (the local embedding model: seconds)."""
        semantic = self.manager.semantic_cache
        embedder = getattr(semantic, "embedder", None)
        if embedder is not None and hasattr(embedder, "load"):
            embedder.load()
        if self.classifier_embedder is not None:
            self.classifier_embedder.load()  # a no-op when it is the semantic cache's, already loaded

    def close(self) -> None:
        """Release storage handles."""
        self.stores.close()


def jira_client_for(
    settings: Settings,
    tenant: Tenant,
    breakers: BreakerRegistry | None = None,
    *,
    tenants: TenantRepo | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    user_token: str | None = None,
) -> JiraClient:
    """A signed Jira REST client for a site, by the door it came through, behind the site's breaker.

    Connect sites are called at their base URL with a JWT per request. Forge sites are called at
    ``apiBaseUrl`` (``…/ex/jira/<cloudId>``) + ``/rest/api/3`` with the app system token, read afresh
    from ``tenants`` for every request; :class:`~connect_app.errors.TokenExpiredError` when it has
    expired (raised here already, before any call, when it has expired by now). ``timeout`` and
    ``max_retries`` override the client's defaults (a request thread wants a short timeout, no retries).

    ``user_token`` (Forge only: the ``x-forge-oauth-user`` token of the call being served) makes the
    client act as that user instead of the app, so Jira evaluates every permission as the user; it
    lives only as long as the request and is never stored. :class:`~connect_app.errors.AuthError` when
    it has already expired.
    """
    breaker = breakers.get(f"jira:{tenant.tenant_id}") if breakers is not None else None
    limits: dict[str, Any] = {"breaker": breaker}
    if timeout is not None:
        limits["timeout"] = timeout
    if max_retries is not None:
        limits["max_retries"] = max_retries
    if user_token is not None and tenant.door != "forge":
        raise JiraError("only Forge sites hand the app a user token", code="jira_unknown_door")
    if tenant.door == "connect":
        if not tenant.shared_secret:
            raise JiraError("this site has no shared secret (reinstall the app)", code="jira_not_installed")
        auth = ConnectJwtAuth(
            issuer=settings.app_key,
            secret=tenant.shared_secret,
            base_url=tenant.base_url,
            ttl=settings.outbound_jwt_ttl_seconds,
        )
        return JiraClient(tenant.base_url, auth, **limits)
    if tenant.door == "forge":
        if not tenant.api_base_url:
            raise JiraError("this Forge site has no apiBaseUrl (reinstall the app)",
                            code="jira_not_installed")
        if user_token is not None:
            return JiraClient(tenant.api_base_url, BearerAuth(user_token_provider(user_token)),
                              api_prefix="/rest/api/3", **limits)
        token = system_token_provider(tenant, tenants)
        token()  # fail before any call when the token has already expired
        return JiraClient(tenant.api_base_url, BearerAuth(token), api_prefix="/rest/api/3", **limits)
    raise JiraError(f"unknown door {tenant.door!r} for site", code="jira_unknown_door")


def build_services(settings: Settings, *, llm_http_client: Any = None) -> Services:
    """Open stores and build the queue, money, caches, breakers, metrics, the model manager and the pipeline.

    Raises ConfigError at start when the configured models (chat, and embedding when the provider
    embeds) are not priced, or when ``EMBEDDING_BACKEND=local`` and the local model is not installed.
    """
    prices = PriceTable.load(settings)
    provider = build_provider(settings, http_client=llm_http_client)
    if provider is not None:
        prices.validate_models(settings, embedding_model=provider_embedding_model(settings, provider))
    stores = open_stores(settings)
    site_settings = SiteSettingsRepo(stores.durable)
    journal = JobJournal(stores.durable, heartbeat_ttl=settings.job_lease_seconds)
    queue = JobQueue(settings, journal, ui_results=UiResults(stores.cache))
    ledger = CostLedger(stores.durable)
    budget = BudgetGuard(stores.durable, ledger)
    breakers = BreakerRegistry(stores.durable)
    metrics = Metrics(
        stores.durable,
        max_records=settings.metrics_max_records,
        multiproc_dir=settings.prometheus_multiproc_dir,
    )
    llm_breaker = breakers.get("llm")
    meter = EmbeddingMeter(settings, prices=prices, budget=budget, ledger=ledger, site_settings=site_settings,
                           breaker=llm_breaker, metrics=metrics)
    semantic = None
    embedder = None
    if settings.use_embedding_cache and settings.cache_enabled:
        from .cache.semantic import SemanticCache

        embedder = build_embedder(settings, provider, meter=meter)
        if embedder is not None:
            semantic = SemanticCache(
                stores.cache,
                embedder,
                threshold=settings.semantic_threshold,
                ttl_seconds=settings.cache_ttl_seconds,
            )
    manager = ModelManager(
        settings,
        provider,
        site_settings=site_settings,
        prices=prices,
        budget=budget,
        ledger=ledger,
        exact_cache=ExactCache(stores.cache, ttl_seconds=settings.cache_ttl_seconds),
        semantic_cache=semantic,
        breaker=llm_breaker,
        metrics=metrics,
    )
    local = build_classifier_embedder(settings, embedder)
    classifier = IntentClassifier(
        RuleClassifier(),
        embeddings=EmbeddingClassifier(local.embed) if local is not None else None,
        llm=manager if manager.available else None,
        threshold=settings.confidence_threshold,
    )
    pipeline = Pipeline(
        settings=settings,
        tenants=stores.tenants,
        site_settings=site_settings,
        jira_for=lambda tenant: jira_client_for(settings, tenant, breakers, tenants=stores.tenants),
        gateway=manager,
        classifier=classifier,
        router=build_router(),
        metrics=metrics,
    )
    monitor = Monitor(
        metrics,
        ledger,
        breakers,
        queue.depth,
        settings,
        site_settings,
        pings={"storage": stores.durable.ping, "queue": queue.ping},
        soft_pings={"cache": stores.cache.ping},
        live_workers=queue.live_workers,
    )
    return Services(
        settings=settings,
        stores=stores,
        site_settings=site_settings,
        journal=journal,
        queue=queue,
        install_keys=InstallKeyFetcher(settings.connect_install_keys_url),
        prices=prices,
        ledger=ledger,
        budget=budget,
        breakers=breakers,
        metrics=metrics,
        monitor=monitor,
        manager=manager,
        classifier=classifier,
        pipeline=pipeline,
        limiter=RateLimiter.from_settings(stores.durable, settings, metrics=metrics),
        forge_keys=ForgeKeys(settings.forge_jwks_url, lifespan=FORGE_KEYS_LIFESPAN_SECONDS, timeout=5),
        classifier_embedder=local,
    )
