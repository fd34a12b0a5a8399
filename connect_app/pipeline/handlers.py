"""The default handlers: each intent's way from a request to a draft reply."""

from __future__ import annotations

from ..models import Draft, Intent
from .actions import complete_task
from .generators.base import GenerationRequest
from .generators.dispatch import generate
from .router import Router
from .run import RunContext


def generation_request(run: RunContext, intent: Intent | None = None) -> GenerationRequest:
    """The generator input for this run (tone: request's own > site default)."""
    classification = run.classification
    chosen = intent or classification.intent
    tone = classification.tone or (run.site.default_email_tone if chosen is Intent.EMAIL_REQUEST else None)
    return GenerationRequest(
        intent=chosen,
        request=run.event.text,
        classification=classification,
        context=run.context,
        tone=tone,
        language=classification.language,
        extra_instructions=run.site.extra_instructions,
        tenant_id=run.tenant.tenant_id,
        refine=bool(classification.details.get("refine")),
    )


def build_router() -> Router:
    """A router with every intent's handler registered."""
    router = Router()

    @router.on(Intent.COMMENT_REQUEST, Intent.EMAIL_REQUEST, Intent.SUMMARY_REQUEST, Intent.HELP, Intent.UNCLEAR)
    def write(run: RunContext) -> Draft:
        return generate(generation_request(run), run.gateway)

    @router.on(Intent.TASK_COMPLETION)
    def complete(run: RunContext) -> Draft:
        return complete_task(run, generation_request(run))

    return router
