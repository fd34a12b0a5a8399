"""The contract every language-model provider implements, and the error it raises.

A provider turns chat messages into a :class:`~connect_app.models.Completion` and texts into
embedding vectors. It does not retry on its own (the SDK it wraps does that), price calls, cache
or enforce budgets: the model manager above it does those.

Failures surface as :class:`ProviderError`, an :class:`~connect_app.errors.LLMError` with one of
the stable codes below, the HTTP status when there was one and the server's ``Retry-After`` (in
seconds) when it sent one. Messages never contain the API key or the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import LLMError
from ..models import Completion, Usage

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"

# Stable error codes (metrics, logs, breaker decisions).
LLM_TIMEOUT = "llm_timeout"
LLM_RATE_LIMITED = "llm_rate_limited"
LLM_QUOTA_EXCEEDED = "llm_quota_exceeded"
LLM_UNAVAILABLE = "llm_unavailable"
LLM_BAD_REQUEST = "llm_bad_request"
LLM_AUTH = "llm_auth"
LLM_CONFIG = "llm_config"
LLM_REFUSED = "llm_refused"
LLM_MALFORMED_OUTPUT = "llm_malformed_output"
LLM_EMPTY = "llm_empty"

#: Codes for failures of the service rather than of our request: worth a later retry (job level)
#: and counted by a circuit breaker. The others will fail the same way again.
TRANSIENT_CODES = frozenset({LLM_TIMEOUT, LLM_RATE_LIMITED, LLM_UNAVAILABLE})


class ProviderError(LLMError):
    """A model call failed. ``code`` says how; ``status`` and ``retry_after`` add detail when known."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id

    @property
    def transient(self) -> bool:
        """True when trying again later may succeed (timeouts, rate limits, outages)."""
        return self.code in TRANSIENT_CODES


@dataclass
class Embeddings:
    """The vectors of one embedding request and the usage its responses reported.

    ``usage`` is None when a response reported none (a compatible server may omit it): the caller
    then charges its worst-case estimate rather than nothing.
    """

    vectors: list[list[float]]
    usage: Usage | None
    model: str


@runtime_checkable
class EmbeddingUsageProvider(Protocol):
    """A provider that also returns the usage its embedding responses report (for pricing them)."""

    name: str

    def embed_with_usage(self, texts: list[str], *, model: str | None = None) -> Embeddings:
        """Like ``LLMProvider.embed``, with the summed usage. Raises :class:`ProviderError`."""
        ...


@runtime_checkable
class LLMProvider(Protocol):
    """A chat and embedding model behind one API (OpenAI, Azure OpenAI, a compatible server)."""

    name: str

    def complete(
        self,
        messages: list[dict],
        *,
        model: str,
        max_tokens: int,
        temperature: float = 0.3,
        json_schema: dict | None = None,
        schema_name: str = "result",
        user: str | None = None,
    ) -> Completion:
        """Answer ``messages`` (OpenAI chat format) with at most ``max_tokens`` tokens.

        With ``json_schema`` the model is asked for strict structured output and the returned text
        is guaranteed to be valid JSON (callers parse it). ``user`` is an opaque, non-personal id
        (e.g. a hash) used by the vendor for abuse monitoring. Raises :class:`ProviderError`.
        """
        ...

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """One embedding vector per text, in order. Raises :class:`ProviderError`."""
        ...

    def ping(self) -> bool:
        """True if the provider is configured well enough to be called (no network call)."""
        ...
