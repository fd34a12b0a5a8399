"""The offline writer: labelled, deterministic, grounded drafts that pass validation."""

from __future__ import annotations

import pytest

from connect_app.models import Intent, IssueContext
from connect_app.pipeline.generators import OFFLINE_LABEL, GenerationRequest, OfflineWriter, generate
from connect_app.pipeline.generators.offline import gist, open_questions, request_purpose, sentences
from connect_app.pipeline.validate import validate_reply

ALL = [Intent.COMMENT_REQUEST, Intent.EMAIL_REQUEST, Intent.SUMMARY_REQUEST, Intent.TASK_COMPLETION]


@pytest.mark.parametrize("intent", ALL)
def test_every_offline_draft_is_labelled_deterministic_and_valid(issue, intent):
    request = GenerationRequest(intent=intent, request="please help with this", context=issue)
    first, second = generate(request, None), generate(request, None)
    assert first.markdown == second.markdown
    assert first.offline and OFFLINE_LABEL in first.markdown
    reply = validate_reply(first)
    assert reply.used_fallback_adf is False
    # one label, saying why and how it was written, where the offline writer put it (the end)
    assert reply.markdown.rstrip().endswith(
        "_Offline draft: no AI model is configured. It was written from the issue's data by templates, "
        "not by an AI model._")
    assert reply.markdown.count("Offline draft") == 1


@pytest.mark.parametrize("intent", ALL)
def test_offline_drafts_for_a_bare_issue_are_valid(intent):
    bare = IssueContext(key="X-1")
    draft = generate(GenerationRequest(intent=intent, request="", context=bare), None)
    assert validate_reply(draft).markdown


def test_custom_label():
    writer = OfflineWriter(label="_Template reply._")
    draft = writer.summary(GenerationRequest(intent=Intent.SUMMARY_REQUEST, request="s",
                                             context=IssueContext(key="X-1")))
    assert draft.markdown.endswith("_Template reply._")


def test_done_issue_next_steps(issue):
    issue.status, issue.status_category = "Done", "Done"
    comment = generate(GenerationRequest(intent=Intent.COMMENT_REQUEST, request="status update",
                                         context=issue), None)
    assert "the issue is resolved" in comment.markdown
    email = generate(GenerationRequest(intent=Intent.EMAIL_REQUEST, request="email the customer",
                                       context=issue), None)
    assert "The issue is resolved." in email.markdown
    assert "Dana Lee is assigned" not in email.markdown


def test_text_helpers(issue):
    assert sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]
    assert gist("@ai   summarize this. More.") == "summarize this."
    assert gist("word " * 100, limit=40).endswith("…")
    assert open_questions(issue.comments[:2]) == [
        "Is there a workaround for customers? (Sam Ortiz)", "Could we roll back? (Sam Ortiz)"]
    assert request_purpose("draft an email to the vendor about the late shipment.") == "the late shipment"
    assert request_purpose("draft an email") is None
