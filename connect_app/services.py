"""The composition root: builds every long-lived collaborator once from Settings.

``create_app`` (web) and ``jira-ai worker`` both call :func:`build_services`; nothing here runs at
import time. Backends are imported lazily by the factories they call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .jira.auth import ConnectJwtAuth
from .jira.client import JiraClient
from .jobs.journal import JobJournal
from .jobs.queue import JobQueue
from .llm.factory import build_provider
from .llm.manager import ModelManager
from .models import Tenant
from .pipeline.classify import IntentClassifier, RuleClassifier
from .pipeline.handlers import build_router
from .pipeline.process import Pipeline
from .platform.connect.install_keys import InstallKeyFetcher
from .settings import Settings
from .storage.factory import Stores, open_stores
from .storage.site_settings import SiteSettingsRepo

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a web or worker process shares across requests and jobs."""

    settings: Settings
    stores: Stores
    site_settings: SiteSettingsRepo
    journal: JobJournal
    queue: JobQueue
    install_keys: InstallKeyFetcher
    manager: ModelManager
    classifier: IntentClassifier
    pipeline: Pipeline

    def jira_for(self, tenant: Tenant) -> JiraClient:
        """A Jira client for ``tenant`` whose every call is signed for that site."""
        return jira_client_for(self.settings, tenant)

    def close(self) -> None:
        """Release storage handles."""
        self.stores.close()


def jira_client_for(settings: Settings, tenant: Tenant) -> JiraClient:
    """A signed Jira REST client for a site, by the door it came through."""
    if tenant.door == "connect":
        if not tenant.shared_secret:
            from .errors import JiraError

            raise JiraError("this site has no shared secret (reinstall the app)", code="jira_not_installed")
        auth = ConnectJwtAuth(
            issuer=settings.app_key,
            secret=tenant.shared_secret,
            base_url=tenant.base_url,
            ttl=settings.outbound_jwt_ttl_seconds,
        )
        return JiraClient(tenant.base_url, auth)
    from .errors import JiraError

    raise JiraError(f"unknown door {tenant.door!r} for site", code="jira_unknown_door")


def build_services(settings: Settings, *, llm_http_client: Any = None) -> Services:
    """Open stores and build the queue, the model manager, the classifier and the pipeline."""
    stores = open_stores(settings)
    site_settings = SiteSettingsRepo(stores.durable)
    journal = JobJournal(stores.durable, heartbeat_ttl=settings.job_lease_seconds)
    queue = JobQueue(settings, journal)
    provider = build_provider(settings, http_client=llm_http_client)
    manager = ModelManager(settings, provider, site_settings=site_settings)
    classifier = IntentClassifier(
        RuleClassifier(),
        embeddings=None,
        llm=manager if manager.available else None,
        threshold=settings.confidence_threshold,
    )
    pipeline = Pipeline(
        settings=settings,
        tenants=stores.tenants,
        site_settings=site_settings,
        jira_for=lambda tenant: jira_client_for(settings, tenant),
        gateway=manager,
        classifier=classifier,
        router=build_router(),
    )
    install_keys = InstallKeyFetcher(settings.connect_install_keys_url)
    return Services(
        settings=settings,
        stores=stores,
        site_settings=site_settings,
        journal=journal,
        queue=queue,
        install_keys=install_keys,
        manager=manager,
        classifier=classifier,
        pipeline=pipeline,
    )
