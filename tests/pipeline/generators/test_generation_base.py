"""Shared generator behaviour: tone resolution, requests, cache keys, fallback labels."""

from __future__ import annotations

import dataclasses

import pytest

from connect_app.errors import BudgetExceededError, CircuitOpenError, LLMError
from connect_app.models import Classification, Intent
from connect_app.pipeline.generators import (
    FALLBACK_NOTES,
    OFFLINE_LABEL,
    GenerationRequest,
    generate,
    resolve_tone,
)
from connect_app.pipeline.generators.base import ModelGateway, strip_fences


def request(issue, intent=Intent.COMMENT_REQUEST, **changes) -> GenerationRequest:
    return GenerationRequest(intent=intent, request="write a status update", context=issue, **changes)


def test_fake_gateway_satisfies_the_protocol(gateway):
    assert isinstance(gateway, ModelGateway)


@pytest.mark.parametrize("intent, request_tone, site_tone, expected", [
    (Intent.EMAIL_REQUEST, "friendly", "formal", "friendly"),
    (Intent.EMAIL_REQUEST, None, "concise", "concise"),
    (Intent.EMAIL_REQUEST, None, None, "formal"),
    (Intent.COMMENT_REQUEST, None, None, None),
    (Intent.SUMMARY_REQUEST, "apologetic", None, "apologetic"),
])
def test_resolve_tone(intent, request_tone, site_tone, expected):
    assert resolve_tone(intent, request_tone, site_tone) == expected


def test_build_from_classification(issue):
    classification = Classification(Intent.EMAIL_REQUEST, 0.9, "rules", tone=None, language="de",
                                     details={"refine": True})
    req = GenerationRequest.build(classification, request="kürzer", context=issue, tenant_id="t1",
                                  site_tone="friendly", extra_instructions="Sign as Acme.")
    assert (req.intent, req.tone, req.language, req.refine, req.tenant_id) == (
        Intent.EMAIL_REQUEST, "friendly", "de", True, "t1")
    assert req.refine_target == "**Summary** The checkout bug is being fixed."


def test_refine_target_only_when_refining(issue):
    assert request(issue).refine_target is None
    issue.comments = [c for c in issue.comments if not c.is_ai]
    assert request(issue, refine=True).refine_target is None


def test_cache_key_is_stable_and_depends_on_inputs(issue):
    base = request(issue)
    key = base.cache_key()
    assert key == request(issue).cache_key()
    assert key.startswith("comment_request:")
    assert key != dataclasses.replace(base, tone="friendly").cache_key()
    assert key != dataclasses.replace(base, language="fr").cache_key()
    assert key != dataclasses.replace(base, request="reply to the reporter").cache_key()
    assert key != dataclasses.replace(base, extra_instructions="Be brief.").cache_key()
    assert key == dataclasses.replace(base, request="  Write a STATUS update! ").cache_key()
    assert key == dataclasses.replace(base, tenant_id="another-site").cache_key()  # the manager scopes per site
    issue.comments[0].text = "edited"
    assert key != request(issue).cache_key()


@pytest.mark.parametrize("error, code, note", [
    (BudgetExceededError("limit"), "budget_exceeded", "Offline draft: this site's daily AI budget is used up."),
    (CircuitOpenError("open"), "circuit_open", "Offline draft: the AI service is unavailable right now."),
    (LLMError("timeout"), "llm_error", FALLBACK_NOTES["llm_error"]),
    (LLMError("timeout", code="llm_timeout"), "llm_timeout", FALLBACK_NOTES["llm_error"]),
    (LLMError("none", code="llm_not_configured"), "llm_not_configured", FALLBACK_NOTES["no_model"]),
])
@pytest.mark.parametrize("intent", [Intent.COMMENT_REQUEST, Intent.EMAIL_REQUEST, Intent.SUMMARY_REQUEST,
                                    Intent.TASK_COMPLETION])
def test_gateway_errors_fall_back_to_labelled_offline_drafts(issue, make_gateway, error, code, note, intent):
    gateway = make_gateway(error=error)
    draft = generate(request(issue, intent=intent), gateway)
    assert len(gateway.calls) == 1
    assert draft.offline is True
    assert draft.note == note
    assert draft.data["fallback_reason"] == code
    assert OFFLINE_LABEL in draft.markdown
    assert draft.cost_micros == 0 and draft.model is None


def test_no_gateway_or_unavailable_gateway(issue, make_gateway):
    for gateway in (None, make_gateway(available=False)):
        draft = generate(request(issue), gateway)
        assert draft.offline and draft.note == "Offline draft: no AI model is configured."
        assert draft.data["fallback_reason"] == "no_model"
        if gateway is not None:
            assert gateway.calls == []


def test_empty_model_answer_falls_back(issue, make_gateway):
    draft = generate(request(issue), make_gateway(reply="   "))
    assert draft.offline and draft.data["fallback_reason"] == "llm_empty"


def test_strip_fences():
    assert strip_fences("```markdown\n**Hi**\n```") == "**Hi**"
    assert strip_fences("  plain  ") == "plain"
    assert strip_fences("```\ncode\n```\ntext\n```\nmore\n```").startswith("```")
