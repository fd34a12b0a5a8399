"""Summaries: current state, decisions, open questions and next steps of an issue."""

from __future__ import annotations

from ...models import Completion, Draft
from .base import GenerationRequest, ModelGateway, generate_with_fallback, model_draft, strip_fences
from .offline import OfflineWriter


def generate_summary(
    req: GenerationRequest, gateway: ModelGateway | None, *, writer: OfflineWriter | None = None
) -> Draft:
    """A summary of the issue for ``req`` (model first, offline writer as fallback)."""
    offline_writer = writer or OfflineWriter()

    def from_model(completion: Completion) -> Draft:
        return model_draft(req, completion, strip_fences(completion.text))

    return generate_with_fallback(
        req, gateway, messages=req.messages(), cacheable=True,
        from_model=from_model, offline=lambda: offline_writer.summary(req),
    )
