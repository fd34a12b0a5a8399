"""What every generator shares: the model gateway protocol, the request, the model call with fallback."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ...errors import BudgetExceededError, CircuitOpenError, LLMError
from ...models import CacheHint, Classification, Completion, Draft, Intent, IssueContext
from .. import prompts
from ..messages import translate
from .email_format import guess_recipient


@runtime_checkable
class ModelGateway(Protocol):
    """The model manager as generators see it (budget, cache, breaker and provider behind it)."""

    @property
    def available(self) -> bool:
        """False when no provider is configured (offline mode)."""

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
        cache_hint: CacheHint | None = None,
    ) -> Completion:
        """One completion; raises BudgetExceededError, CircuitOpenError or LLMError when it cannot.

        ``cache_key`` (exact cache) and ``cache_hint`` (semantic cache) are given only for
        read-only generations whose answer may be reused.
        """


FALLBACK_NOTES: dict[str, str] = {
    "no_model": "Offline draft: no AI model is configured.",
    "budget_exceeded": "Offline draft: this site's daily AI budget is used up.",
    "circuit_open": "Offline draft: the AI service is unavailable right now.",
    "llm_error": "Offline draft: the AI service could not answer this time.",
    "reply_rejected": "Offline draft: the AI's reply did not pass the assistant's checks.",
}
OFFLINE_LABEL = "_Offline draft — generated from the issue's data without an AI model._"
EMAIL_DEFAULT_TONE = "formal"

DEFAULT_MAX_TOKENS: dict[Intent, int] = {
    Intent.COMMENT_REQUEST: 600,
    Intent.EMAIL_REQUEST: 700,
    Intent.SUMMARY_REQUEST: 700,
    Intent.TASK_COMPLETION: 300,
}


def resolve_tone(intent: Intent, request_tone: str | None, site_default: str | None) -> str | None:
    """The tone to write in: the request's > the site's default > ``formal`` for emails > none."""
    if request_tone:
        return request_tone
    if site_default:
        return site_default
    return EMAIL_DEFAULT_TONE if intent is Intent.EMAIL_REQUEST else None


@dataclass(kw_only=True)
class GenerationRequest:
    """Everything a generator needs, already resolved (no I/O happens in generators but the model call)."""

    intent: Intent
    request: str
    context: IssueContext
    classification: Classification | None = None
    tone: str | None = None
    language: str = "en"
    extra_instructions: str = ""
    tenant_id: str = "local"
    refine: bool = False
    trigger: str = "@ai"
    max_tokens: int | None = None
    use_cache: bool = True  # False: a fresh answer was asked for ("Regenerate"); it is still stored

    @classmethod
    def build(
        cls,
        classification: Classification,
        *,
        request: str,
        context: IssueContext,
        tenant_id: str = "local",
        site_tone: str | None = None,
        extra_instructions: str = "",
        trigger: str = "@ai",
        max_tokens: int | None = None,
    ) -> GenerationRequest:
        """A request from a classification, resolving tone, language and the refinement flag."""
        return cls(
            intent=classification.intent,
            request=request,
            context=context,
            classification=classification,
            tone=resolve_tone(classification.intent, classification.tone, site_tone),
            language=classification.language or "en",
            extra_instructions=extra_instructions,
            tenant_id=tenant_id,
            refine=bool(classification.details.get("refine")),
            trigger=trigger,
            max_tokens=max_tokens,
        )

    @property
    def refine_target(self) -> str | None:
        """The previous AI reply to rewrite, when this is a refinement and there is one."""
        if not self.refine:
            return None
        last = self.context.last_ai_reply
        return last.text if last and last.text.strip() else None

    @property
    def effective_tone(self) -> str | None:
        """The tone to write in (emails default to ``formal`` when nothing was resolved)."""
        return resolve_tone(self.intent, self.tone, None)

    @property
    def prompt_version(self) -> str:
        """The prompt template version for this request's intent."""
        return prompts.PROMPT_VERSIONS[self.intent]

    def cache_key(self) -> str:
        """The site-independent cache key of a read-only generation."""
        return prompts.cache_key(
            self.intent.value,
            self.prompt_version,
            prompts.normalise_request(self.request),
            self.effective_tone,
            self.language,
            self.context.content_hash(),
            "refine" if self.refine else "new",
            prompts.clean_extra_instructions(self.extra_instructions),
        )

    def cache_hint(self) -> CacheHint:
        """What the semantic cache compares to tell a true repeat of this request from a look-alike.

        ``request`` keeps its case (names matter to the guard), whitespace collapsed. ``content_hash``
        covers everything besides the request that the answer depends on: the issue content and,
        when present, the site's extra instructions and the refinement target.
        """
        content = self.context.content_hash()
        extra = prompts.clean_extra_instructions(self.extra_instructions)
        if extra or self.refine:
            material = "\n".join((content, "refine" if self.refine else "new", extra))
            content = hashlib.sha256(material.encode()).hexdigest()[:32]
        return CacheHint(
            request=" ".join((self.request or "").split()),
            issue_key=self.context.key,
            content_hash=content,
            prompt_version=self.prompt_version,
            tone=self.effective_tone,
            language=self.language,
            recipient=guess_recipient(self.request),
        )

    def messages(self, facts: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """The chat messages for this request."""
        return prompts.build_messages(
            self.intent,
            context=self.context,
            request=self.request,
            tone=self.effective_tone,
            language=self.language,
            extra_instructions=self.extra_instructions,
            refine_target=self.refine_target,
            facts=facts,
            trigger=self.trigger,
        )


class ModelUnavailable(Exception):
    """Internal signal: no model answer; carries the fallback reason code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def fallback_note(code: str) -> str:
    """The short label shown to people for a fallback reason code."""
    if code in FALLBACK_NOTES:
        return FALLBACK_NOTES[code]
    if code.endswith("not_configured"):
        return FALLBACK_NOTES["no_model"]
    if code.startswith("budget"):
        return FALLBACK_NOTES["budget_exceeded"]
    if code.startswith("circuit"):
        return FALLBACK_NOTES["circuit_open"]
    if code.startswith("reply_"):
        return FALLBACK_NOTES["reply_rejected"]
    return FALLBACK_NOTES["llm_error"]


def call_model(
    req: GenerationRequest,
    gateway: ModelGateway | None,
    messages: list[dict[str, str]],
    *,
    cacheable: bool,
) -> Completion:
    """Ask the model; raises :class:`ModelUnavailable` with a reason code when there is no usable answer."""
    if gateway is None or not gateway.available:
        raise ModelUnavailable("no_model")
    try:
        completion = gateway.complete(
            tenant_id=req.tenant_id,
            intent=req.intent.value,
            messages=messages,
            max_tokens=req.max_tokens or DEFAULT_MAX_TOKENS.get(req.intent),
            cache_key=req.cache_key() if cacheable and req.use_cache else None,
            cache_hint=req.cache_hint() if cacheable and req.use_cache else None,
        )
    except (BudgetExceededError, CircuitOpenError, LLMError) as exc:
        raise ModelUnavailable(exc.code or "llm_error") from exc
    if not (completion.text or "").strip():
        raise ModelUnavailable("llm_empty")
    return completion


def apply_completion(draft: Draft, req: GenerationRequest, completion: Completion) -> Draft:
    """Fill a draft's model, cost, cache and prompt-version fields from a model answer."""
    draft.model = completion.model
    draft.cost_micros = completion.cost_micros
    draft.cached = completion.cached
    draft.prompt_version = req.prompt_version
    if req.refine:
        draft.data["refined"] = req.refine_target is not None
    return draft


def model_draft(req: GenerationRequest, completion: Completion, markdown: str, **fields: Any) -> Draft:
    """A Draft built from a model answer, with model, cost and cache fields filled in."""
    return apply_completion(Draft(intent=req.intent, markdown=markdown, **fields), req, completion)


def mark_offline(draft: Draft, code: str) -> Draft:
    """Label an offline writer's draft with the fallback reason (note, data, flag)."""
    draft.offline = True
    draft.note = translate(fallback_note(code), draft.data.get("language"))  # the writer records it
    draft.data["fallback_reason"] = code
    return draft


def generate_with_fallback(
    req: GenerationRequest,
    gateway: ModelGateway | None,
    *,
    messages: list[dict[str, str]],
    cacheable: bool,
    from_model: Callable[[Completion], Draft],
    offline: Callable[[], Draft],
) -> Draft:
    """Call the model and shape its answer with ``from_model``; on any unavailability use ``offline``.

    ``from_model`` may raise :class:`ModelUnavailable` (for example ``llm_malformed``) to fall back too.
    """
    try:
        completion = call_model(req, gateway, messages, cacheable=cacheable)
        return from_model(completion)
    except ModelUnavailable as exc:
        return mark_offline(offline(), exc.code)


def strip_fences(text: str) -> str:
    """The model's text without a wrapping ``` fence and surrounding whitespace."""
    stripped = (text or "").strip()
    if stripped.startswith("```") and stripped.endswith("```") and stripped.count("```") == 2:
        body = stripped[3:-3]
        first_newline = body.find("\n")
        if first_newline != -1 and body[:first_newline].strip().isalpha():
            body = body[first_newline + 1:]
        stripped = body.strip()
    return stripped
