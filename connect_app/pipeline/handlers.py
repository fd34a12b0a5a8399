"""The default handlers: each intent's way from a request to a draft reply."""

from __future__ import annotations

from ..models import Draft, Intent
from .actions import complete_task
from .generators.base import GenerationRequest
from .generators.dispatch import generate
from .router import Router
from .run import RunContext


def generation_request(run: RunContext) -> GenerationRequest:
    """The generator input for this run (tone: the request's own > the site's default)."""
    return GenerationRequest.build(
        run.classification,
        request=run.event.text,
        context=run.context,
        tenant_id=run.tenant.tenant_id,
        site_tone=run.site.default_email_tone,
        extra_instructions=run.site.extra_instructions,
        trigger=run.settings.ai_trigger,
        max_tokens=run.settings.llm_max_tokens,
    )


def build_router() -> Router:
    """A router with every intent's handler registered."""
    router = Router()

    @router.on(
        Intent.COMMENT_REQUEST, Intent.EMAIL_REQUEST, Intent.SUMMARY_REQUEST, Intent.HELP, Intent.UNCLEAR
    )
    def write(run: RunContext) -> Draft:
        return generate(generation_request(run), run.gateway)

    @router.on(Intent.TASK_COMPLETION)
    def complete(run: RunContext) -> Draft:
        return complete_task(run, generation_request(run))

    return router
