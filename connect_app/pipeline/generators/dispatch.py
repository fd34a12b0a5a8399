"""One entry point: route a generation request to the generator of its intent."""

from __future__ import annotations

from ...models import Draft, Intent
from .base import GenerationRequest, ModelGateway, mark_offline
from .comment import generate_comment
from .email import generate_email
from .email_format import guess_recipient
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


def offline_replacement(
    req: GenerationRequest, rejected: Draft, code: str, *, writer: OfflineWriter | None = None
) -> Draft:
    """The offline writer's draft in place of a model draft the checks rejected (``code``), labelled.

    What the run did stays recorded: a completion note keeps its transition, actions and action result.
    """
    offline_writer = writer or OfflineWriter()
    if req.intent is Intent.TASK_COMPLETION:
        transition = rejected.data.get("transition") or {}
        draft = offline_writer.completion_note(
            req,
            transition_name=transition.get("transition"),
            from_status=transition.get("from_status"),
            to_status=transition.get("to_status"),
        )
    elif req.intent is Intent.EMAIL_REQUEST:
        draft = offline_writer.email(req, recipient=guess_recipient(req.request))
    elif req.intent is Intent.SUMMARY_REQUEST:
        draft = offline_writer.summary(req)
    else:
        draft = offline_writer.comment(req)
    draft.actions = list(rejected.actions)
    draft.data = {**rejected.data, **draft.data}
    return mark_offline(draft, code)
