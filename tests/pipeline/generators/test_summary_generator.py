"""Summary generation: model path and the offline summary's content."""

from __future__ import annotations

from connect_app.models import CommentInfo, Intent
from connect_app.pipeline.generators import OFFLINE_LABEL, GenerationRequest
from connect_app.pipeline.generators.summary import generate_summary


def req(issue, **changes) -> GenerationRequest:
    return GenerationRequest(intent=Intent.SUMMARY_REQUEST, request="summarize this", context=issue, **changes)


def test_model_summary(issue, make_gateway):
    gateway = make_gateway(reply="**Current state**\n- In review")
    draft = generate_summary(req(issue, language="de"), gateway)
    assert draft.markdown == "**Current state**\n- In review"
    assert draft.prompt_version == "summary-v1"
    call = gateway.calls[0]
    assert call["cache_key"] and call["intent"] == "summary_request"
    system = call["messages"][0]["content"]
    assert "**Open questions**" in system and "German (de)" in system


def test_offline_summary_sections(issue):
    draft = generate_summary(req(issue), None)
    md = draft.markdown
    for heading in ("**Current state**", "**Background**", "**Recent activity**", "**Decisions**",
                    "**Open questions**"):
        assert heading in md
    assert "- Status: In Progress" in md and "- Assignee: Dana Lee" in md
    assert "- Due date: 2024-06-14" in md and "- Priority: High" in md
    assert "Customers on Safari 17 cannot complete checkout. The payment iframe never loads." in md
    assert "This started after the 3.2 release." not in md  # first sentences only
    assert "- Is there a workaround for customers? (Sam Ortiz)" in md
    assert "- We decided to keep 3.2 and patch the CSP header. (Dana Lee)" in md
    assert "make it shorter" not in md  # requests to the assistant are not activity
    assert "The checkout bug is being fixed" not in md  # nor are the assistant's own replies
    assert md.endswith(OFFLINE_LABEL)


def test_offline_summary_of_an_empty_issue(issue):
    issue.description, issue.comments, issue.assignee, issue.due_date = "", [], "", ""
    md = generate_summary(req(issue), None).markdown
    assert "No description has been written yet." in md
    assert "- No comments yet." in md
    assert "- Assignee: Unassigned" in md and "- Due date: not set" in md
    assert "- None found in the comments." in md


def test_offline_summary_is_deterministic(issue):
    issue.comments.append(CommentInfo("9", "z", "Zoe", "Should we add a test? Yes."))
    assert generate_summary(req(issue), None).markdown == generate_summary(req(issue), None).markdown
