"""Completion notes posted when the assistant moves an issue to done (never cached: it is an action)."""

from __future__ import annotations

import dataclasses

from ...models import Completion, Draft, Intent
from .base import GenerationRequest, ModelGateway, generate_with_fallback, model_draft, strip_fences
from .offline import OfflineWriter


def completion_note(
    req: GenerationRequest,
    gateway: ModelGateway | None,
    transition_name: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    *,
    writer: OfflineWriter | None = None,
) -> Draft:
    """A short note of what was done/fixed, from the request's own words and recent comments."""
    if req.intent is not Intent.TASK_COMPLETION:
        req = dataclasses.replace(req, intent=Intent.TASK_COMPLETION, refine=False)
    offline_writer = writer or OfflineWriter()
    transition = {"transition": transition_name, "from_status": from_status, "to_status": to_status}
    facts = {k: v for k, v in transition.items() if v}

    def from_model(completion: Completion) -> Draft:
        return model_draft(req, completion, strip_fences(completion.text))

    draft = generate_with_fallback(
        req, gateway, messages=req.messages(facts=facts or None), cacheable=False,
        from_model=from_model,
        offline=lambda: offline_writer.completion_note(
            req, transition_name=transition_name, from_status=from_status, to_status=to_status
        ),
    )
    draft.data["transition"] = transition
    return draft
