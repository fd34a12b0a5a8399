"""One entry point: route a generation request to the generator of its intent."""

from __future__ import annotations

from ...models import Draft, Intent
from .base import GenerationRequest, ModelGateway
from .comment import generate_comment
from .email import generate_email
from .help import clarify_draft, help_draft
from .offline import OfflineWriter
from .summary import generate_summary
from .task_note import completion_note


def generate(
    req: GenerationRequest, gateway: ModelGateway | None, *, writer: OfflineWriter | None = None
) -> Draft:
    """The draft for ``req``: model-written when possible, offline (labelled) otherwise.

    Task completion here writes the note without transition details; the router calls
    :func:`completion_note` itself when it knows the transition.
    """
    if req.intent is Intent.HELP:
        return help_draft(req)
    if req.intent is Intent.UNCLEAR:
        return clarify_draft(req)
    if req.intent is Intent.EMAIL_REQUEST:
        return generate_email(req, gateway, writer=writer)
    if req.intent is Intent.SUMMARY_REQUEST:
        return generate_summary(req, gateway, writer=writer)
    if req.intent is Intent.TASK_COMPLETION:
        return completion_note(req, gateway, from_status=req.context.status or None, writer=writer)
    return generate_comment(req, gateway, writer=writer)
