"""Comments: status updates, replies and explanations grounded in the issue; refinements of the last reply."""

from __future__ import annotations

from ...models import Completion, Draft
from .base import GenerationRequest, ModelGateway, generate_with_fallback, model_draft, strip_fences
from .offline import OfflineWriter


def generate_comment(
    req: GenerationRequest, gateway: ModelGateway | None, *, writer: OfflineWriter | None = None
) -> Draft:
    """A Jira comment for ``req`` (model first, offline writer as fallback)."""
    offline_writer = writer or OfflineWriter()

    def from_model(completion: Completion) -> Draft:
        return model_draft(req, completion, strip_fences(completion.text))

    draft = generate_with_fallback(
        req, gateway, messages=req.messages(), cacheable=True,
        from_model=from_model, offline=lambda: offline_writer.comment(req),
    )
    if req.refine and req.refine_target is None:
        draft.data["refine_missing"] = True
    return draft
