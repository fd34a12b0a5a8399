"""Reply validation: each check, the repairs, and Markdown -> ADF with the plain-text fallback."""

from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_app.errors import ValidationFailedError
from connect_app.jira.adf import validate_adf
from connect_app.models import Draft, Intent
from connect_app.pipeline import validate as validate_module
from connect_app.pipeline.validate import TRUNCATION_SUFFIX, validate_reply


def draft(markdown: str, **fields) -> Draft:
    return Draft(intent=Intent.COMMENT_REQUEST, markdown=markdown, **fields)


def adf_text(doc) -> str:
    return json.dumps(doc)


def test_good_reply_passes_untouched_with_valid_adf():
    md = "**Status:** In progress.\n\n- Fix is in review\n- Deploy planned"
    reply = validate_reply(draft(md))
    assert reply.markdown == md
    assert reply.warnings == [] and reply.used_fallback_adf is False
    assert validate_adf(reply.adf) == []
    assert reply.adf["type"] == "doc"


@pytest.mark.parametrize("md", ["", "   \n\t "])
def test_empty_reply_is_rejected(md):
    with pytest.raises(ValidationFailedError) as info:
        validate_reply(draft(md))
    assert info.value.code == "reply_empty"


@pytest.mark.parametrize("md", [
    "Dear {{customer_name}}, the fix is live.",
    "Hello {name}, thanks for waiting.",
    "Dear [Customer Name],\n\nThe fix is live.",
    "Best regards,\n[Your Name]",
    "Hi [Name], thanks.",
    "The release is on [date].",
    "Contact <customer name> for details.",
    "Please see <placeholder>.",
    "Ticket XXX is related.",
    "TBD: add the root cause",
    "TODO: fill in the timeline",
])
def test_placeholders_are_rejected(md):
    with pytest.raises(ValidationFailedError) as info:
        validate_reply(draft(md))
    assert info.value.code == "reply_placeholder"
    assert "placeholder" in info.value.message


@pytest.mark.parametrize("md", [
    "See the [release notes](https://example.com/notes) and [Name](https://example.com/name).",
    "Run `curl {host}/health` to check.",
    "```python\nprint(f'{name}')\n```",
    "The JSON body is {\"a\": 1}.",
    "Due date: TBD",
    "Labels: [WIP] [SUP-12]",
    "Size XXXL shirts are out of stock.",
])
def test_non_placeholders_pass(md):
    validate_reply(draft(md))


@pytest.mark.parametrize("md, expected_line", [
    ("@ai summarize this", "AI summarize this"),
    ("  @AI do it again", "  AI do it again"),
    ("> @ai quoted", "> AI quoted"),
    ("- **@ai** bullet", "- **AI** bullet"),
    ("1. @ai numbered", "1. AI numbered"),
])
def test_trigger_echo_is_neutralised(md, expected_line):
    reply = validate_reply(draft(f"Intro line.\n{md}"))
    assert reply.markdown.splitlines()[1] == expected_line
    assert "trigger_neutralised" in reply.warnings


def test_trigger_mid_line_and_lookalikes_are_left_alone():
    md = "Write `@ai summarize` in a comment.\n@aiden is a different word."
    reply = validate_reply(draft(md))
    assert reply.markdown == md and "trigger_neutralised" not in reply.warnings


def test_custom_trigger():
    reply = validate_reply(draft("@bot hello\n@ai stays"), trigger="@bot")
    assert reply.markdown == "AI hello\n@ai stays"


REAL_JWT = pyjwt.encode({"sub": "123456", "iss": "jira"}, "shared-secret-for-tests-0123456789", algorithm="HS256")


@pytest.mark.parametrize("secret, kind, core", [
    ("sk-proj-" + "a1B2c3D4" * 5, "openai_key", "a1B2c3D4a1B2c3D4"),
    (REAL_JWT, "jwt", REAL_JWT.split(".")[1]),
    ("AKIAIOSFODNN7EXAMPLE", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "private_key",
     "MIIEowIBAAKCAQEA"),
    ("Authorization: Bearer abcdefghijklmnop1234567890", "bearer", "abcdefghijklmnop1234567890"),
    ("password=hunter2", "assignment", "hunter2"),
    ("api_key: 9f8e7d6c5b4a", "assignment", "9f8e7d6c5b4a"),
    ("ghp_" + "A" * 36, "github_token", "A" * 36),
])
def test_secrets_are_redacted(secret, kind, core):
    reply = validate_reply(draft(f"Config notes:\n\n{secret}\n\nDone."))
    assert "[redacted]" in reply.markdown
    assert f"secret_redacted:{kind}" in reply.warnings
    assert core not in reply.markdown
    assert core not in adf_text(reply.adf)


def test_password_words_in_prose_are_not_redacted():
    md = "Password: please reset it via the self-service portal."
    assert validate_reply(draft(md)).markdown == md


@pytest.mark.parametrize("md", [
    "This is a shitty workaround.",
    "Whoever wrote this is an idiot.",
    "THIS IS COMPLETELY UNACCEPTABLE AND MUST BE FIXED TODAY",
])
def test_bad_tone_is_rejected(md):
    with pytest.raises(ValidationFailedError) as info:
        validate_reply(draft(md))
    assert info.value.code == "reply_tone"


def test_acronyms_and_short_caps_are_fine():
    validate_reply(draft("The API and SLA for the EU region are unchanged. NOTE: deploy on Friday."))


def test_mentions_are_removed():
    reply = validate_reply(draft("Thanks [~accountid:5b10ac8d82e05b22cc7d4ef5] and [~jsmith] for the report."))
    assert "[~" not in reply.markdown
    assert "mention_removed" in reply.warnings
    assert '"mention"' not in adf_text(reply.adf)


def test_long_reply_is_truncated_at_a_paragraph():
    paragraphs = [f"Paragraph {i}. " + "word " * 60 for i in range(100)]
    reply = validate_reply(draft("\n\n".join(paragraphs)), max_chars=2000)
    assert len(reply.markdown) <= 2000
    assert reply.markdown.endswith(TRUNCATION_SUFFIX)
    body = reply.markdown[: -len(TRUNCATION_SUFFIX)].rstrip()
    assert body.endswith("word")  # a whole paragraph, not a cut word
    assert "truncated" in reply.warnings
    assert validate_adf(reply.adf) == []


def test_truncation_closes_an_open_code_fence():
    md = "Intro\n\n```\n" + "\n".join(f"line {i}" for i in range(500)) + "\n```"
    reply = validate_reply(draft(md), max_chars=800)
    assert reply.markdown.count("```") % 2 == 0


def test_note_is_merged_into_the_offline_label():
    from connect_app.pipeline.generators.base import OFFLINE_LABEL

    reply = validate_reply(draft(f"Body text.\n\n{OFFLINE_LABEL}", note="Offline draft: budget used up.", offline=True))
    assert reply.markdown.count("Offline draft") == 1
    assert reply.markdown.startswith("Body text.") and "budget used up" in reply.markdown


def test_note_is_prepended_in_italics():
    reply = validate_reply(draft("Body text.", note="Offline draft: no AI model is configured.", offline=True))
    assert reply.markdown.startswith("_Offline draft: no AI model is configured._\n\nBody text.")
    assert "Offline draft" in adf_text(reply.adf)


def test_invalid_adf_falls_back_to_plain_text(monkeypatch):
    monkeypatch.setattr(validate_module, "markdown_to_adf", lambda md: {"type": "doc", "content": [{"type": "x"}]})
    reply = validate_reply(draft("**bold** text"))
    assert reply.used_fallback_adf is True
    assert validate_adf(reply.adf) == []
    assert any(w.startswith("adf_fallback:") for w in reply.warnings)


def test_converter_crash_falls_back_to_plain_text(monkeypatch):
    def boom(md):
        raise RuntimeError("bug")
    monkeypatch.setattr(validate_module, "markdown_to_adf", boom)
    reply = validate_reply(draft("text"))
    assert reply.used_fallback_adf is True and validate_adf(reply.adf) == []


def test_mention_node_in_adf_falls_back(monkeypatch):
    mention_doc = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": "abc", "text": "@x"}}]}]}
    monkeypatch.setattr(validate_module, "markdown_to_adf", lambda md: mention_doc)
    reply = validate_reply(draft("hello"))
    assert reply.used_fallback_adf is True
    assert '"mention"' not in adf_text(reply.adf)


def test_unrepairable_adf_raises(monkeypatch):
    monkeypatch.setattr(validate_module, "markdown_to_adf", lambda md: {"type": "nope"})
    monkeypatch.setattr(validate_module, "plain_text_adf", lambda md: {"type": "nope"})
    with pytest.raises(ValidationFailedError) as info:
        validate_reply(draft("text"))
    assert info.value.code == "reply_adf_invalid"


def test_foreign_words_that_look_rude_in_english_are_fine():
    validate_reply(draft("Le retard de livraison est dû au fournisseur."))


@pytest.mark.parametrize("md", ["-" * 12000, "`" * 12000, "@ai\n" * 3000, "{" * 12000, "[your " * 2000])
def test_pathological_input_completes(md):
    # How fast it completes is measured by `make bench` (validate_pathological); here: it ends, and
    # either validates or refuses with a typed error.
    try:
        reply = validate_reply(draft(md))
    except ValidationFailedError as exc:
        assert exc.code.startswith("reply_")
    else:
        assert reply.adf["type"] == "doc"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_validates_or_fails_with_a_typed_error(md):
    try:
        reply = validate_reply(draft(md), max_chars=300)
    except ValidationFailedError as exc:
        assert exc.code in {"reply_empty", "reply_placeholder", "reply_tone", "reply_adf_invalid"}
        return
    assert validate_adf(reply.adf) == []
    assert len(reply.markdown) <= 300
    assert not any(line.lstrip(" \t>*_~`#+-").lower().startswith("@ai") for line in reply.markdown.splitlines())
