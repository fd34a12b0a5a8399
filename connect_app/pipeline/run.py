"""The per-event context handed to handlers: who asked, about what, and the tools to answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..jira.client import JiraClient
from ..models import AiEvent, Classification, IssueContext, Tenant
from ..settings import Settings
from ..storage.site_settings import SiteSettings
from .generators.base import ModelGateway


class EventLogger(logging.LoggerAdapter):
    """A logger that prefixes every line with the site and delivery it serves."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Prefix ``msg`` with the bound ids."""
        extra = self.extra or {}
        return f"[site={extra.get('site')} delivery={extra.get('delivery')}] {msg}", kwargs


@dataclass
class RunContext:
    """Everything a handler needs for one event. Jira is absent in draft-only runs (the ``ask`` API)."""

    settings: Settings
    event: AiEvent
    tenant: Tenant
    site: SiteSettings
    context: IssueContext
    classification: Classification
    gateway: ModelGateway | None
    jira: JiraClient | None = None
    job_id: str | None = None
    journal: Any = None
    log: logging.LoggerAdapter = field(
        default_factory=lambda: EventLogger(logging.getLogger("connect_app"), {})
    )

    @property
    def draft_only(self) -> bool:
        """True when nothing may be changed in Jira (the facade's ``process_user_message``)."""
        return self.jira is None

    def step_done(self, step: str, value: Any = True) -> None:
        """Journal a side effect so that a rerun of this job does not repeat it."""
        if self.journal is not None and self.job_id:
            self.journal.step_done(self.job_id, step, value)

    def step_value(self, step: str) -> Any:
        """What an earlier attempt of this job recorded for ``step`` (None if nothing)."""
        if self.journal is None or not self.job_id:
            return None
        record = self.journal.get(self.job_id)
        return (record.steps or {}).get(step) if record else None
