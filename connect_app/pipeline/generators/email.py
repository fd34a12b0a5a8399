"""Email drafts: the model writes "Subject: ..." and a body; people copy the result from the comment."""

from __future__ import annotations

from ...models import Completion, Draft
from .base import (
    EMAIL_DEFAULT_TONE,
    GenerationRequest,
    ModelGateway,
    ModelUnavailable,
    apply_completion,
    generate_with_fallback,
    strip_fences,
)
from .email_format import clean_subject, email_draft, guess_recipient, parse_email
from .offline import OfflineWriter


def default_subject(req: GenerationRequest) -> str:
    """A subject from the issue when the model gave none."""
    ctx = req.context
    return clean_subject(f"Update: {ctx.summary} ({ctx.key})" if ctx.summary else f"Update on {ctx.key}")


def generate_email(
    req: GenerationRequest, gateway: ModelGateway | None, *, writer: OfflineWriter | None = None
) -> Draft:
    """An email draft for ``req``: ``subject``, Markdown for the comment and ``data['email']``."""
    offline_writer = writer or OfflineWriter()
    recipient = guess_recipient(req.request)
    tone = req.effective_tone or EMAIL_DEFAULT_TONE

    def from_model(completion: Completion) -> Draft:
        subject, body = parse_email(strip_fences(completion.text))
        if not body.strip():
            raise ModelUnavailable("llm_malformed")
        draft = email_draft(subject or default_subject(req), body, tone=tone, recipient=recipient)
        if subject is None:
            draft.data["subject_missing"] = True
        return apply_completion(draft, req, completion)

    return generate_with_fallback(
        req, gateway, messages=req.messages(), cacheable=True,
        from_model=from_model, offline=lambda: offline_writer.email(req, recipient=recipient),
    )
