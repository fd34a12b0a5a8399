"""Completion notes: never cached, transition facts in the prompt, own words offline."""

from __future__ import annotations

import json
import re

import pytest

from connect_app.errors import BudgetExceededError
from connect_app.models import Intent
from connect_app.pipeline.generators import GenerationRequest, completion_note
from connect_app.pipeline.generators.offline import own_words


def req(issue, text="mark this done and note that we fixed the CSP header for Safari") -> GenerationRequest:
    return GenerationRequest(intent=Intent.TASK_COMPLETION, request=text, context=issue)


def test_model_note_is_not_cached_and_gets_transition_facts(issue, make_gateway):
    gateway = make_gateway(reply="Fixed the CSP header so the payment iframe loads on Safari.")
    draft = completion_note(req(issue), gateway, transition_name="Done", from_status="In Progress",
                            to_status="Done")
    call = gateway.calls[0]
    assert call["cache_key"] is None
    assert call["intent"] == "task_completion"
    user = call["messages"][1]["content"]
    data = json.loads(re.search(r"<issue_data>\n(.*?)\n</issue_data>", user, re.S).group(1))
    assert data["facts"] == {"transition": "Done", "from_status": "In Progress", "to_status": "Done"}
    assert draft.prompt_version == "task-note-v1" and not draft.offline
    assert draft.data["transition"]["to_status"] == "Done"


def test_any_request_intent_becomes_a_task_note(issue, gateway):
    comment_req = GenerationRequest(intent=Intent.COMMENT_REQUEST, request="close it", context=issue, refine=True)
    draft = completion_note(comment_req, gateway)
    assert draft.intent is Intent.TASK_COMPLETION
    assert gateway.calls[0]["cache_key"] is None


def test_offline_note_uses_own_words_and_comments(issue, make_gateway):
    draft = completion_note(req(issue), make_gateway(error=BudgetExceededError("x")), "Done", "In Progress", "Done")
    md = draft.markdown
    assert draft.offline and draft.data["fallback_reason"] == "budget_exceeded"
    assert "- Status: In Progress → Done" in md
    assert "- What was done: We fixed the CSP header for Safari." in md
    assert "From Dana Lee: We decided to keep 3.2 and patch the CSP header." in md
    assert "workaround" not in md  # questions are not what was done


def test_offline_note_without_details(issue):
    issue.comments = []
    md = completion_note(req(issue, "close it"), None).markdown
    assert "No details of the work were recorded" in md


@pytest.mark.parametrize("text, words", [
    ("mark this done and note that we fixed the null pointer in login", "We fixed the null pointer in login."),
    ("close it out, the vendor shipped firmware 2.1", "The vendor shipped firmware 2.1."),
    ("@ai resolve this because the certificate was renewed", "The certificate was renewed."),
    ("mark this done and note what was fixed", None),
    ("close it", None),
])
def test_own_words(text, words):
    assert own_words(text) == words
