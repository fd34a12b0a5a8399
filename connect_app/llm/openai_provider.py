"""OpenAI and Azure OpenAI through the official ``openai`` SDK.

One SDK client per provider instance, built lazily on first use. The SDK's own retries
(``LLM_MAX_RETRIES``, honouring ``Retry-After``) are the only retries: this module never loops.
Every SDK exception becomes a :class:`~connect_app.llm.base.ProviderError` with a stable code and a
message that names the status and the server's error code but never the API key or the prompt.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import openai

from ..models import Completion, Usage
from ..settings import Settings
from .base import (
    DEFAULT_EMBEDDING_MODEL,
    LLM_AUTH,
    LLM_BAD_REQUEST,
    LLM_CONFIG,
    LLM_EMPTY,
    LLM_MALFORMED_OUTPUT,
    LLM_QUOTA_EXCEEDED,
    LLM_RATE_LIMITED,
    LLM_REFUSED,
    LLM_TIMEOUT,
    LLM_UNAVAILABLE,
    Embeddings,
    ProviderError,
)

log = logging.getLogger(__name__)

EMBED_BATCH_SIZE = 512
_MAX_SERVER_MESSAGE = 200
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,})")


class OpenAIProvider:
    """An :class:`~connect_app.llm.base.LLMProvider` for ``LLM_PROVIDER=openai`` or ``azure``.

    ``openai`` talks to OpenAI or any OpenAI-compatible ``OPENAI_API_BASE_URL``. ``azure`` talks to
    the Azure OpenAI endpoint in ``OPENAI_API_BASE_URL``; the ``model`` given to :meth:`complete`
    is used as the deployment name unless ``AZURE_DEPLOYMENT`` is set. ``http_client`` (an
    ``httpx2.Client``) is handed to the SDK, for tests and custom transports.
    """

    def __init__(self, settings: Settings, *, http_client: Any = None) -> None:
        self._settings = settings
        self._http_client = http_client
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self.name: str = "azure" if settings.llm_provider == "azure" else "openai"

    # ------------------------------------------------------------------ client
    @property
    def client(self) -> openai.OpenAI:
        """The SDK client, built on first use. Raises ProviderError(code='llm_config') if it cannot be."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> openai.OpenAI:
        s = self._settings
        if not s.openai_api_key:
            raise ProviderError(f"LLM_PROVIDER={self.name} needs OPENAI_API_KEY", code=LLM_CONFIG)
        common: dict[str, Any] = {
            "api_key": s.openai_api_key,
            "timeout": s.llm_timeout_seconds,
            "max_retries": s.llm_max_retries,
            "http_client": self._http_client,
        }
        try:
            if self.name == "azure":
                # The deployment goes into each request's ``model`` rather than into the client's
                # base URL, so that chat and embeddings can use different deployments.
                return openai.AzureOpenAI(
                    azure_endpoint=s.openai_api_base_url,
                    api_version=s.azure_api_version,
                    **common,
                )
            # The base URL is always explicit so the SDK never picks up OPENAI_BASE_URL on its own.
            return openai.OpenAI(base_url=s.openai_api_base_url or "https://api.openai.com/v1", **common)
        except (openai.OpenAIError, ValueError, TypeError) as exc:
            message = _redact(f"cannot build the {self.name} client: {exc}", s.openai_api_key)
            raise ProviderError(message, code=LLM_CONFIG) from None

    def close(self) -> None:
        """Close the SDK client's connections (a no-op if it was never built)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # ------------------------------------------------------------------ LLMProvider
    def ping(self) -> bool:
        """True if the SDK client can be built; makes no network call."""
        try:
            self.client  # noqa: B018 - building it is the check
        except ProviderError:
            return False
        return True

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
        """Send one chat completion request; see :meth:`LLMProvider.complete`."""
        request_model = self._deployment_or(model)
        kwargs: dict[str, Any] = {"model": request_model, "messages": messages, "temperature": temperature}
        # Azure's GA API versions know ``max_tokens``; OpenAI prefers ``max_completion_tokens``.
        kwargs["max_tokens" if self.name == "azure" else "max_completion_tokens"] = max_tokens
        if json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": json_schema, "strict": True},
            }
        if user:
            kwargs["user"] = user

        client = self.client
        started = time.perf_counter()
        try:
            response = client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise self._translate(exc, request_model) from None
        latency_ms = (time.perf_counter() - started) * 1000.0

        if not response.choices:
            raise ProviderError(f"{self.name} returned no choices for model {request_model}", code=LLM_EMPTY)
        choice = response.choices[0]
        message = choice.message
        text = message.content or ""
        if not text.strip():
            if getattr(message, "refusal", None) or choice.finish_reason == "content_filter":
                raise ProviderError(
                    f"{self.name} model {request_model} declined to answer ({choice.finish_reason})",
                    code=LLM_REFUSED,
                )
            raise ProviderError(
                f"{self.name} model {request_model} returned empty content "
                f"(finish_reason={choice.finish_reason})",
                code=LLM_EMPTY,
            )
        if json_schema is not None:
            _require_json(text, model=request_model, finish_reason=choice.finish_reason)

        usage = _usage(response.usage)
        log.debug(
            "llm completion provider=%s model=%s prompt_tokens=%d cached=%d completion_tokens=%d "
            "latency_ms=%.0f finish=%s",
            self.name, response.model or request_model, usage.prompt_tokens, usage.cached_prompt_tokens,
            usage.completion_tokens, latency_ms, choice.finish_reason,
        )
        return Completion(
            text=text,
            model=response.model or request_model,
            provider=self.name,
            usage=usage,
            latency_ms=latency_ms,
            finish_reason=choice.finish_reason,
        )

    def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Embed ``texts`` (in batches of :data:`EMBED_BATCH_SIZE`); one vector per text, in order."""
        return self.embed_with_usage(texts, model=model).vectors

    def embed_with_usage(self, texts: list[str], *, model: str | None = None) -> Embeddings:
        """Like :meth:`embed`, with the prompt tokens the responses reported (None if one did not)."""
        request_model = model or DEFAULT_EMBEDDING_MODEL
        if not texts:
            return Embeddings([], Usage(), request_model)
        client = self.client
        vectors: list[list[float]] = []
        usage: Usage | None = Usage()
        for start in range(0, len(texts), EMBED_BATCH_SIZE):
            batch = texts[start:start + EMBED_BATCH_SIZE]
            try:
                response = client.embeddings.create(model=request_model, input=batch)
            except openai.OpenAIError as exc:
                raise self._translate(exc, request_model) from None
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise ProviderError(
                    f"{self.name} returned {len(data)} embeddings for {len(batch)} texts",
                    code=LLM_MALFORMED_OUTPUT,
                )
            vectors.extend(list(item.embedding) for item in data)
            usage = _add_embedding_usage(usage, response.usage)
        return Embeddings(vectors, usage, request_model)

    # ------------------------------------------------------------------ helpers
    def _deployment_or(self, model: str) -> str:
        if self.name == "azure" and self._settings.azure_deployment:
            return self._settings.azure_deployment
        return model

    def _translate(self, exc: openai.OpenAIError, model: str) -> ProviderError:
        """Map an SDK exception to a ProviderError with a stable code and a log-safe message."""
        error = _classify(exc, provider=self.name, model=model)
        error.args = (_redact(error.message, self._settings.openai_api_key),)
        log.debug("llm call failed provider=%s model=%s code=%s status=%s", self.name, model,
                  error.code, error.status)
        return error


# ---------------------------------------------------------------------- exception mapping
def _classify(exc: openai.OpenAIError, *, provider: str, model: str) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"{provider} did not answer in time for model {model}", code=LLM_TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"cannot reach {provider} for model {model} (connection failed)",
                             code=LLM_UNAVAILABLE)
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(f"{provider} sent a response the SDK could not read (model {model})",
                             code=LLM_MALFORMED_OUTPUT, status=exc.status_code)
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, provider=provider, model=model)
    return ProviderError(f"{provider} call failed for model {model}: {type(exc).__name__}",
                         code=LLM_UNAVAILABLE)


def _status_error(exc: openai.APIStatusError, *, provider: str, model: str) -> ProviderError:
    status = exc.status_code
    server_code = str(getattr(exc, "code", None) or getattr(exc, "type", None) or "")
    detail = f"{provider} answered HTTP {status}" + (f" ({server_code})" if server_code else "")
    detail += f" for model {model}"
    server_message = _server_message(exc.body)
    if server_message:
        detail += f": {server_message}"
    retry_after = _retry_after(exc.response.headers)
    common = {"status": status, "retry_after": retry_after, "request_id": exc.request_id}

    if status in (401, 403):
        return ProviderError(detail + "; check OPENAI_API_KEY", code=LLM_AUTH, **common)
    if status == 429:
        code = LLM_QUOTA_EXCEEDED if server_code == "insufficient_quota" else LLM_RATE_LIMITED
        return ProviderError(detail, code=code, **common)
    if status == 408:
        return ProviderError(detail, code=LLM_TIMEOUT, **common)
    if status >= 500 or status == 409:
        return ProviderError(detail, code=LLM_UNAVAILABLE, **common)
    if server_code == "content_filter":
        return ProviderError(detail, code=LLM_REFUSED, **common)
    if status == 404:
        hint = "; check AZURE_DEPLOYMENT" if provider == "azure" else "; check the model name"
        return ProviderError(detail + hint, code=LLM_BAD_REQUEST, **common)
    return ProviderError(detail, code=LLM_BAD_REQUEST, **common)


def _server_message(body: object) -> str:
    """The server's human message from an error body, shortened (it may be redacted later)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, Mapping) else None
        if isinstance(message, str) and message.strip():
            text = " ".join(message.split())
            return text if len(text) <= _MAX_SERVER_MESSAGE else text[:_MAX_SERVER_MESSAGE - 1] + "…"
    return ""


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (number or HTTP date), if sent."""
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / divisor)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def _redact(text: str, secret: str | None) -> str:
    """``text`` with the API key and anything shaped like an OpenAI key masked."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("sk-***", text)


# ---------------------------------------------------------------------- response parsing
def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(
        prompt_tokens=int(raw.prompt_tokens or 0),
        completion_tokens=int(raw.completion_tokens or 0),
        cached_prompt_tokens=int(cached or 0),
    )


def _add_embedding_usage(total: Usage | None, raw: Any) -> Usage | None:
    """``total`` plus one embeddings response's prompt tokens; None once any response lacked them."""
    tokens = getattr(raw, "prompt_tokens", None) if raw is not None else None
    if total is None or not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        return None
    return Usage(prompt_tokens=total.prompt_tokens + tokens)


def _require_json(text: str, *, model: str, finish_reason: str | None) -> None:
    try:
        json.loads(text)
    except ValueError:
        raise ProviderError(
            f"model {model} returned structured output that is not valid JSON "
            f"({len(text)} characters, finish_reason={finish_reason})",
            code=LLM_MALFORMED_OUTPUT,
        ) from None
