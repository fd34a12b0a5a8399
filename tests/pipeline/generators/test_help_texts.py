"""Help and clarify texts: static, free, never self-triggering."""

from __future__ import annotations

from connect_app.models import Classification, Intent
from connect_app.pipeline.classify import RuleClassifier
from connect_app.pipeline.generators import GenerationRequest, generate
from connect_app.pipeline.validate import validate_reply


def req(issue, intent, text, classification=None, trigger="@ai") -> GenerationRequest:
    return GenerationRequest(intent=intent, request=text, context=issue, classification=classification,
                             trigger=trigger)


def test_help_is_static_and_free(issue, gateway):
    draft = generate(req(issue, Intent.HELP, "help"), gateway)
    assert gateway.calls == []
    assert draft.cost_micros == 0 and not draft.offline and draft.note is None
    for example in ("summarize this", "draft an email to the customer", "mark this done", "make it shorter"):
        assert example in draft.markdown
    assert not any(line.lstrip("-* ").lower().startswith("@ai") for line in draft.markdown.splitlines())
    assert validate_reply(draft).warnings == []


def test_help_uses_the_configured_trigger(issue):
    draft = generate(req(issue, Intent.HELP, "help", trigger="@assist"), None)
    assert "`@assist summarize this`" in draft.markdown and "@ai" not in draft.markdown


def test_clarify_echoes_and_lists_capabilities(issue, gateway):
    classification = RuleClassifier().classify("banana bread")
    draft = generate(req(issue, Intent.UNCLEAR, "banana bread", classification), gateway)
    assert gateway.calls == []
    assert "\u201cbanana bread\u201d" in draft.markdown
    assert "Summarize the issue" in draft.markdown and "Draft an email" in draft.markdown
    assert draft.markdown.rstrip().endswith("Which would you like?")
    assert validate_reply(draft).warnings == []


def test_clarify_says_what_was_understood(issue):
    negated = RuleClassifier().classify("don't close this")
    draft = generate(req(issue, Intent.UNCLEAR, "don't close this", negated), None)
    assert "you do not want me to complete or close the issue" in draft.markdown
    weak = Classification(Intent.UNCLEAR, 0.3, "llm", details={"local_intent": "summary_request"})
    draft = generate(req(issue, Intent.UNCLEAR, "the thing", weak), None)
    assert "It sounds like you might want me to summarize the issue." in draft.markdown


def test_clarify_echo_is_bounded_and_single_line(issue):
    text = "@ai " + "very long request\n" * 40
    draft = generate(req(issue, Intent.UNCLEAR, text), None)
    first = draft.markdown.splitlines()[0]
    assert len(first) < 200 and "…" in first
    lines = validate_reply(draft).markdown.splitlines()
    assert not any(line.lstrip().lower().startswith("@ai") for line in lines)
