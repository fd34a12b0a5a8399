"""Email generation: subject/body parsing, layout, recipient and tone, offline fallback."""

from __future__ import annotations

import pytest

from connect_app.errors import LLMError
from connect_app.models import Intent
from connect_app.pipeline.generators import OFFLINE_LABEL, GenerationRequest
from connect_app.pipeline.generators.email import generate_email
from connect_app.pipeline.generators.email_format import guess_recipient, parse_email

MODEL_EMAIL = """Subject: Update on the Safari checkout issue

Dear customer,

We found the cause of the checkout problem on Safari and a fix is in review.

Kind regards"""


def req(issue, text="draft an email to the customer about the delay", **changes) -> GenerationRequest:
    return GenerationRequest(intent=Intent.EMAIL_REQUEST, request=text, context=issue, **changes)


def test_model_email(issue, make_gateway):
    gateway = make_gateway(reply=MODEL_EMAIL)
    draft = generate_email(req(issue), gateway)
    assert draft.subject == "Update on the Safari checkout issue"
    assert draft.markdown.startswith("**Subject:** Update on the Safari checkout issue\n\nDear customer,")
    assert draft.data["email"] == {
        "subject": "Update on the Safari checkout issue",
        "body": MODEL_EMAIL.split("\n\n", 1)[1],
        "tone": "formal",
        "recipient": "customer",
    }
    assert draft.prompt_version == "email-v1" and not draft.offline
    assert gateway.calls[0]["cache_key"]
    assert "Tone: formal" in gateway.calls[0]["messages"][0]["content"]


def test_missing_subject_uses_the_issue(issue, make_gateway):
    draft = generate_email(req(issue), make_gateway(reply="Hello,\n\nThe fix is in review."))
    assert draft.subject == "Update: Checkout fails on Safari (SUP-42)"
    assert draft.data["subject_missing"] is True


def test_subject_only_answer_falls_back(issue, make_gateway):
    draft = generate_email(req(issue), make_gateway(reply="Subject: Hi"))
    assert draft.offline and draft.data["fallback_reason"] == "llm_malformed"


@pytest.mark.parametrize("text, subject, body", [
    ("Subject: Hello\n\nBody", "Hello", "Body"),
    ("**Subject:** Hello there\n\nBody", "Hello there", "Body"),
    ("subject: \"Quoted\"\nBody line", "Quoted", "Body line"),
    ("Betreff: Verzögerung\n\nHallo", "Verzögerung", "Hallo"),
    ("No subject here\n\nBody", None, "No subject here\n\nBody"),
])
def test_parse_email(text, subject, body):
    assert parse_email(text) == (subject, body)


@pytest.mark.parametrize("text, recipient", [
    ("draft an email to the customer about the delay", "customer"),
    ("write to the vendor", "vendor"),
    ("email the stakeholders", "stakeholders"),
    ("send the team an email", "team"),
    ("email the reporter", "reporter"),
    ("E-Mail an den Kunden", "customer"),
    ("draft an email", None),
])
def test_guess_recipient(text, recipient):
    assert guess_recipient(text) == recipient


def test_offline_email(issue, make_gateway):
    draft = generate_email(req(issue, tone="apologetic"), make_gateway(error=LLMError("down")))
    assert draft.offline and draft.note and OFFLINE_LABEL in draft.markdown
    assert draft.subject == "Update on the delay: Checkout fails on Safari (SUP-42)"
    body = draft.data["email"]["body"]
    assert body.startswith("Dear customer,")
    assert "sorry" in body.lower()
    assert "Current status: In Progress." in body
    assert body.rstrip().endswith("Alex Kim")  # signed by the requester, never a placeholder
    assert OFFLINE_LABEL not in body
    assert draft.data["email"]["recipient"] == "customer" and draft.data["email"]["tone"] == "apologetic"


def test_offline_email_greets_by_recipient_and_tone(issue):
    friendly = generate_email(req(issue, "casual email to the team", tone="friendly"), None)
    assert friendly.data["email"]["body"].startswith("Hi team,")
    formal = generate_email(req(issue, "email the stakeholders"), None)
    assert formal.data["email"]["body"].startswith("Dear stakeholders,")
    assert formal.data["email"]["tone"] == "formal"
