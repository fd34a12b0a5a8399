"""generate(): each intent reaches its generator."""

from __future__ import annotations

import pytest

from connect_app.models import Intent
from connect_app.pipeline.generators import GenerationRequest, generate


@pytest.mark.parametrize("intent, version, calls", [
    (Intent.COMMENT_REQUEST, "comment-v1", 1),
    (Intent.EMAIL_REQUEST, "email-v1", 1),
    (Intent.SUMMARY_REQUEST, "summary-v1", 1),
    (Intent.TASK_COMPLETION, "task-note-v1", 1),
    (Intent.HELP, "help-v1", 0),
    (Intent.UNCLEAR, "clarify-v1", 0),
])
def test_dispatch(issue, make_gateway, intent, version, calls):
    gateway = make_gateway(reply="Subject: S\n\nBody text.")
    draft = generate(GenerationRequest(intent=intent, request="do it", context=issue), gateway)
    assert draft.intent is intent
    assert draft.prompt_version == version
    assert len(gateway.calls) == calls
    if calls:
        cacheable = intent is not Intent.TASK_COMPLETION
        assert (gateway.calls[0]["cache_key"] is not None) is cacheable


def test_task_completion_via_generate_uses_current_status(issue, gateway):
    draft = generate(GenerationRequest(intent=Intent.TASK_COMPLETION, request="close it", context=issue), gateway)
    assert draft.data["transition"]["from_status"] == "In Progress"
