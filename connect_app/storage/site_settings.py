"""Per-site settings: what a Jira admin may change for their own site, validated and persisted."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequestError
from ..settings import EMAIL_TONES, Settings
from .base import KeyValueStore

MAX_EXTRA_INSTRUCTIONS = 1000
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")


@dataclass
class SiteSettings:
    """One site's preferences. ``None`` means "use the product default from Settings"."""

    daily_limit_usd: float | None = None
    alert_percentage: float | None = None
    model: str | None = None
    default_email_tone: str = "formal"
    semantic_cache: bool | None = None  # None: the deployment's USE_EMBEDDING_CACHE decides
    resolution_summary_on_done: bool = False
    enabled_projects: list[str] = field(default_factory=list)
    extra_instructions: str = ""

    def project_enabled(self, project_key: str) -> bool:
        """True when ``@ai`` is enabled in this project (an empty list means every project)."""
        return not self.enabled_projects or project_key.upper() in self.enabled_projects

    def effective_daily_limit_usd(self, settings: Settings) -> float:
        """The day's limit for this site."""
        return settings.max_daily_cost_usd if self.daily_limit_usd is None else self.daily_limit_usd

    def effective_alert_percentage(self, settings: Settings) -> float:
        """The alert threshold (percent of the limit) for this site."""
        return settings.cost_alert_percentage if self.alert_percentage is None else self.alert_percentage

    def semantic_cache_on(self, settings: Settings) -> bool:
        """True when this site uses the semantic cache (only possible when the deployment offers it)."""
        if not settings.use_embedding_cache:
            return False
        return settings.use_embedding_cache if self.semantic_cache is None else self.semantic_cache

    def effective_model(self, settings: Settings) -> str:
        """The chat model this site uses."""
        return self.model or settings.openai_primary_model

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


def validate_changes(changes: dict[str, Any], *, allowed_models: set[str] | None = None) -> dict[str, Any]:
    """Check a partial update from the admin API; returns the cleaned values or raises BadRequestError."""
    if not isinstance(changes, dict):
        raise BadRequestError("settings must be a JSON object")
    known = {f.name for f in dataclasses.fields(SiteSettings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise BadRequestError(f"unknown setting(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, value in changes.items():
        out[name] = _check(name, value, allowed_models)
    return out


def _check(name: str, value: Any, allowed_models: set[str] | None) -> Any:
    if name == "daily_limit_usd":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10_000:
            raise BadRequestError(
                "daily_limit_usd must be a number from 0 to 10000 (or null for the default)"
            )
        return float(value)
    if name == "alert_percentage":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 100:
            raise BadRequestError("alert_percentage must be a number from 1 to 100 (or null for the default)")
        return float(value)
    if name == "model":
        if value in (None, ""):
            return None
        if not isinstance(value, str) or (allowed_models is not None and value not in allowed_models):
            choices = ", ".join(sorted(allowed_models or []))
            raise BadRequestError(f"model must be one of the priced models: {choices}")
        return value
    if name == "default_email_tone":
        if value not in EMAIL_TONES:
            raise BadRequestError(f"default_email_tone must be one of {', '.join(EMAIL_TONES)}")
        return value
    if name == "semantic_cache" and value is None:
        return None
    if name in ("semantic_cache", "resolution_summary_on_done"):
        if not isinstance(value, bool):
            raise BadRequestError(f"{name} must be true or false")
        return value
    if name == "enabled_projects":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequestError("enabled_projects must be a list of project keys")
        keys = [v.strip().upper() for v in value if v.strip()]
        bad = [k for k in keys if not _PROJECT_KEY.match(k)]
        if bad:
            raise BadRequestError(f"not a project key: {', '.join(bad)}")
        return sorted(set(keys))
    if name == "extra_instructions":
        if not isinstance(value, str):
            raise BadRequestError("extra_instructions must be text")
        if len(value) > MAX_EXTRA_INSTRUCTIONS:
            raise BadRequestError(f"extra_instructions is limited to {MAX_EXTRA_INSTRUCTIONS} characters")
        return value.strip()
    raise BadRequestError(f"unknown setting: {name}")  # pragma: no cover - guarded above


class SiteSettingsRepo:
    """Reads and writes :class:`SiteSettings` per site in the durable store."""

    def __init__(self, store: KeyValueStore) -> None:
        """``store`` must be durable."""
        self._store = store

    def get(self, tenant_id: str) -> SiteSettings:
        """The site's settings (defaults when never set)."""
        raw = self._store.get("site-settings:" + tenant_id) or {}
        names = {f.name for f in dataclasses.fields(SiteSettings)}
        return SiteSettings(**{k: v for k, v in raw.items() if k in names})

    def update(
        self, tenant_id: str, changes: dict[str, Any], *, allowed_models: set[str] | None = None
    ) -> SiteSettings:
        """Validate and apply a partial update; returns the new settings."""
        clean = validate_changes(changes, allowed_models=allowed_models)
        current = self.get(tenant_id)
        updated = dataclasses.replace(current, **clean)
        self._store.set("site-settings:" + tenant_id, updated.to_dict())
        return updated

    def delete(self, tenant_id: str) -> None:
        """Forget a site's settings."""
        self._store.delete("site-settings:" + tenant_id)
