"""Comment generation: model path, cache key, refinements, offline fallback."""

from __future__ import annotations

import json
import re

from connect_app.models import Intent
from connect_app.pipeline.generators import GenerationRequest
from connect_app.pipeline.generators.comment import generate_comment


def req(issue, text="write a status update", **changes) -> GenerationRequest:
    return GenerationRequest(intent=Intent.COMMENT_REQUEST, request=text, context=issue, tenant_id="site-9",
                             language="en", **changes)


def test_model_comment(issue, make_gateway):
    gateway = make_gateway(reply="```markdown\nThe fix for the CSP header is in review.\n```")
    draft = generate_comment(req(issue), gateway)
    assert draft.markdown == "The fix for the CSP header is in review."
    assert (draft.model, draft.cost_micros, draft.offline, draft.prompt_version) == (
        "fake-model", 420, False, "comment-v1")
    call = gateway.calls[0]
    assert call["tenant_id"] == "site-9" and call["intent"] == "comment_request"
    assert call["cache_key"] == req(issue).cache_key()
    assert call["max_tokens"] > 0
    assert "SUP-42" in call["messages"][1]["content"]


def test_refinement_sends_previous_reply(issue, gateway):
    draft = generate_comment(req(issue, "make it shorter", refine=True), gateway)
    user = gateway.calls[0]["messages"][1]["content"]
    previous = re.search(r"<previous_reply>\n(.*?)\n</previous_reply>", user, re.S).group(1)
    assert json.loads(previous) == "**Summary** The checkout bug is being fixed."
    assert "previous reply" in gateway.calls[0]["messages"][0]["content"]
    assert draft.data["refined"] is True


def test_refinement_without_previous_reply_is_flagged(issue, gateway):
    issue.comments = [c for c in issue.comments if not c.is_ai]
    draft = generate_comment(req(issue, "make it shorter", refine=True), gateway)
    assert draft.data["refine_missing"] is True
    assert "<previous_reply>" not in gateway.calls[0]["messages"][1]["content"]


def test_offline_comment_is_a_status_update(issue):
    draft = generate_comment(req(issue), None)
    assert draft.offline
    assert "**Status update on SUP-42: Checkout fails on Safari**" in draft.markdown
    assert "- Assignee: Dana Lee" in draft.markdown
    assert "We decided to keep 3.2 and patch the CSP header." in draft.markdown


def test_offline_refinement_shortens_previous_reply(issue):
    issue.comments[2].text = ("First sentence of the old reply. Second sentence. Third sentence.\n\n"
                              "- a\n- b\n- c\n- d\n\nLast paragraph.")
    draft = generate_comment(req(issue, "make it shorter", refine=True), None)
    assert draft.markdown.startswith("First sentence of the old reply. Second sentence.\n\n- a\n- b\n- c")
    assert "Third sentence" not in draft.markdown and "Last paragraph" not in draft.markdown
