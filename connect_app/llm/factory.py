"""Build the configured model provider (or none, when the app runs offline)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..settings import Settings
from .base import LLMProvider


def build_provider(settings: Settings, *, http_client: Any = None) -> LLMProvider | None:
    """The provider for ``LLM_PROVIDER``: an OpenAI SDK provider for ``openai``/``azure``, else None.

    ``None`` means offline: the pipeline then answers with its template writer. The SDK client
    itself is built lazily on first use, so this makes no network call.
    """
    if settings.llm_provider in ("openai", "azure"):
        from .openai_provider import OpenAIProvider

        return OpenAIProvider(settings, http_client=http_client)
    if settings.llm_provider == "offline":
        return None
    raise ConfigError(f"LLM_PROVIDER must be openai, azure or offline, got {settings.llm_provider!r}")
