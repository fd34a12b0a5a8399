"""Intent classification: rules (with the labelled set), embeddings, the LLM step and its fallbacks."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_app.errors import BudgetExceededError, CircuitOpenError, LLMError
from connect_app.models import Completion, Intent
from connect_app.pipeline.classify import (
    CLASSIFICATION_SCHEMA,
    MAX_CLASSIFY_CHARS,
    EmbeddingClassifier,
    IntentClassifier,
    RuleClassifier,
    extract_tone,
    parse_classification,
)

DATA = Path(__file__).parent / "data" / "intents.jsonl"


def load_examples() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class FakeLLM:
    reply: str = '{"intent": "summary_request", "confidence": 0.93, "tone": null, "language": "en"}'
    error: Exception | None = None
    available: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def complete(self, **kwargs: Any) -> Completion:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return Completion(text=self.reply, model="fake-classifier", provider="fake")


# ------------------------------------------------------------------------------------------ labelled set


def test_labelled_set_is_large_and_covers_every_intent():
    examples = load_examples()
    assert len(examples) >= 80
    per_intent = Counter(e["intent"] for e in examples)
    assert set(per_intent) == {i.value for i in Intent}
    assert min(per_intent.values()) >= 5
    assert sum(1 for e in examples if e.get("refine")) >= 5


def test_rules_accuracy_on_labelled_set():
    rules = RuleClassifier()
    examples = load_examples()
    misses = []
    for example in examples:
        result = rules.classify(example["text"], previous_intent=example.get("previous_intent"))
        ok = result.intent.value == example["intent"] and bool(result.details.get("refine")) == bool(
            example.get("refine"))
        if not ok:
            misses.append((example["text"], result.intent.value, example["intent"]))
    accuracy = 1 - len(misses) / len(examples)
    print(f"rules-only accuracy: {accuracy:.3f} on {len(examples)} examples; misses: {misses}")
    assert accuracy >= 0.9


# ------------------------------------------------------------------------------------------ rules


@pytest.mark.parametrize("text, expected", [
    ("don't close this", Intent.UNCLEAR),
    ("Do NOT close this ticket", Intent.UNCLEAR),
    ("do not email the customer", Intent.UNCLEAR),
    ("don't close it, just summarize", Intent.SUMMARY_REQUEST),
    ("do not email anyone, post a comment with the status", Intent.COMMENT_REQUEST),
    ("summarize instead of emailing the vendor", Intent.SUMMARY_REQUEST),
    ("Bitte nicht schließen", Intent.UNCLEAR),
    ("don't forget to close this", Intent.TASK_COMPLETION),
])
def test_negation(text, expected):
    result = RuleClassifier().classify(text)
    assert result.intent is expected
    if expected is Intent.UNCLEAR:
        assert result.details["negated"]


def test_negated_only_request_is_confidently_unclear_and_names_the_negated_intent():
    result = RuleClassifier().classify("don't close this")
    assert result.confidence >= 0.7
    assert result.details["negated_intents"] == ["task_completion"]


@pytest.mark.parametrize("text, previous, expected", [
    ("make it shorter", "email_request", Intent.EMAIL_REQUEST),
    ("shorter", "summary_request", Intent.SUMMARY_REQUEST),
    ("more formal", None, Intent.COMMENT_REQUEST),
    ("more formal", "help", Intent.COMMENT_REQUEST),
    ("make the email more formal", None, Intent.EMAIL_REQUEST),
    ("rephrase it", Intent.SUMMARY_REQUEST, Intent.SUMMARY_REQUEST),
    ("plus court", "email_request", Intent.EMAIL_REQUEST),
])
def test_refinement_targets_the_previous_reply(text, previous, expected):
    result = RuleClassifier().classify(text, previous_intent=previous)
    assert result.intent is expected
    assert result.details["refine"] is True


def test_new_request_with_comparative_is_not_a_refinement():
    result = RuleClassifier().classify("write a shorter email to the vendor than last time")
    assert result.intent is Intent.EMAIL_REQUEST
    assert result.details["refine"] is False


@pytest.mark.parametrize("text", ["", "   ", "help", "what can you do?", "Hilfe", "¿Qué puedes hacer?"])
def test_help(text):
    assert RuleClassifier().classify(text).intent is Intent.HELP


def test_empty_text_is_help_with_full_confidence():
    result = RuleClassifier().classify("")
    assert (result.intent, result.confidence, result.source) == (Intent.HELP, 1.0, "rules")


def test_help_word_inside_a_real_request_does_not_win():
    assert RuleClassifier().classify("help me write an email to the vendor").intent is Intent.EMAIL_REQUEST


def test_confidence_reflects_margin():
    rules = RuleClassifier()
    clear = rules.classify("summarize this issue")
    mixed = rules.classify("Email the stakeholders a status update")
    nothing = rules.classify("banana")
    assert clear.confidence > mixed.confidence > nothing.confidence
    assert 0 <= nothing.confidence <= clear.confidence <= 1


def test_ties_never_favour_the_action():
    result = RuleClassifier().classify("close summary")
    assert result.intent is Intent.SUMMARY_REQUEST


@pytest.mark.parametrize("text, language", [
    ("zusammenfassen bitte", "de"),
    ("résume ce ticket", "fr"),
    ("escribe un correo al cliente", "es"),
    ("summarize this", "en"),
])
def test_language_is_detected(text, language):
    assert RuleClassifier().classify(text).language == language


@pytest.mark.parametrize("text, tone", [
    ("apologize to the customer for the delay", "apologetic"),
    ("sorry, can you email the vendor", "apologetic"),
    ("keep it brief", "concise"),
    ("a short status update", "concise"),
    ("casual email to the team", "friendly"),
    ("a warm thank-you comment", "friendly"),
    ("formal email to the vendor", "formal"),
    ("write it professionally", "formal"),
    ("informal note to the team", "friendly"),
    ("summarize this", None),
    ("don't be formal", None),
])
def test_tone_extraction(text, tone):
    assert extract_tone(text) == tone


def test_details_explain_the_decision():
    result = RuleClassifier().classify("draft an email to the customer about the delay")
    assert result.source == "rules"
    assert "email_word" in result.details["matched"]
    assert result.details["scores"]["email_request"] > 0


# ------------------------------------------------------------------------------------------ embeddings


def bag_of_words_embedder(vocabulary: list[str], calls: list[list[str]]):
    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(list(texts))
        return [[float(word in text.lower()) for word in vocabulary] for text in texts]
    return embed


VOCAB = ["summar", "status", "recap", "email", "vendor", "customer", "close", "done", "comment", "reply",
         "help", "thanks"]


def test_embedding_classifier_embeds_prototypes_once_and_finds_nearest():
    calls: list[list[str]] = []
    clf = EmbeddingClassifier(bag_of_words_embedder(VOCAB, calls))
    first = clf.classify("a recap of the status please")
    second = clf.classify("write to the vendor by email")
    assert first.intent is Intent.SUMMARY_REQUEST and first.source == "embeddings"
    assert second.intent is Intent.EMAIL_REQUEST
    assert 0 < first.confidence <= 1
    assert len(calls) == 3  # prototypes once, then one call per request
    assert sorted(len(c) for c in calls)[-1] > 20 and sorted(len(c) for c in calls)[:2] == [1, 1]


def test_embedding_classifier_is_lazy():
    calls: list[list[str]] = []
    EmbeddingClassifier(bag_of_words_embedder(VOCAB, calls))
    assert calls == []


# ------------------------------------------------------------------------------------------ the chain


def test_confident_rules_skip_embeddings_and_llm():
    llm = FakeLLM()
    calls: list[list[str]] = []
    clf = IntentClassifier(RuleClassifier(), embeddings=EmbeddingClassifier(bag_of_words_embedder(VOCAB, calls)),
                           llm=llm, threshold=0.7)
    result = clf.classify("summarize this issue")
    assert result.source == "rules" and result.intent is Intent.SUMMARY_REQUEST
    assert llm.calls == [] and calls == []


def test_embeddings_used_when_rules_unsure_and_more_confident():
    calls: list[list[str]] = []
    clf = IntentClassifier(RuleClassifier(), embeddings=EmbeddingClassifier(bag_of_words_embedder(VOCAB, calls)),
                           llm=None, threshold=0.7)
    result = clf.classify("that vendor thing")
    assert result.source == "embeddings"
    assert result.intent is Intent.EMAIL_REQUEST
    assert result.details["rules_intent"] == "unclear"


def test_llm_asked_with_strict_schema_when_unsure():
    llm = FakeLLM()
    clf = IntentClassifier(RuleClassifier(), llm=llm, threshold=0.7)
    result = clf.classify("where is that thing with the iframe", tenant_id="site-1")
    assert result.source == "llm"
    assert result.intent is Intent.SUMMARY_REQUEST
    assert result.confidence == pytest.approx(0.93)
    call = llm.calls[0]
    assert call["tenant_id"] == "site-1"
    assert call["intent"] == "classification"
    schema = call["json_schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"]) == {"intent", "confidence", "tone", "language"}
    assert set(schema["properties"]["intent"]["enum"]) == {i.value for i in Intent}
    assert call["cache_key"]
    assert result.details["local_intent"] == "unclear"


def test_schema_accepts_a_valid_answer_and_rejects_extras():
    jsonschema.validate({"intent": "help", "confidence": 0.5, "tone": None, "language": "en"}, CLASSIFICATION_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"intent": "help", "confidence": 0.5, "tone": None, "language": "en", "x": 1},
                            CLASSIFICATION_SCHEMA)


@pytest.mark.parametrize("error", [
    BudgetExceededError("over"), CircuitOpenError("open"), LLMError("down"), LLMError("t", code="llm_timeout"),
])
def test_llm_failure_keeps_local_result(error):
    llm = FakeLLM(error=error)
    clf = IntentClassifier(RuleClassifier(), llm=llm, threshold=0.7)
    result = clf.classify("banana")
    assert result.source == "rules" and result.intent is Intent.UNCLEAR
    assert result.details["llm_error"] == error.code


def test_malformed_llm_answer_keeps_local_result():
    clf = IntentClassifier(RuleClassifier(), llm=FakeLLM(reply="not json"), threshold=0.7)
    result = clf.classify("banana")
    assert result.source == "rules"
    assert result.details["llm_error"] == "llm_malformed"


def test_offline_gateway_is_not_called():
    llm = FakeLLM(available=False)
    result = IntentClassifier(RuleClassifier(), llm=llm, threshold=0.7).classify("banana")
    assert llm.calls == [] and result.details["llm_skipped"] == "offline"


def test_refinements_never_go_to_the_llm():
    llm = FakeLLM()
    result = IntentClassifier(RuleClassifier(), llm=llm, threshold=0.99).classify(
        "shorter", previous_intent="email_request")
    assert result.intent is Intent.EMAIL_REQUEST and llm.calls == []


def test_input_is_capped():
    llm = FakeLLM()
    long_text = "banana " * 1000
    result = IntentClassifier(RuleClassifier(), llm=llm, threshold=0.7).classify(long_text)
    assert result.details["truncated"] is True
    sent = llm.calls[0]["messages"][-1]["content"]
    assert len(sent) < MAX_CLASSIFY_CHARS + 200


def test_broken_embedder_does_not_break_classification():
    def broken(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("model missing")
    clf = IntentClassifier(RuleClassifier(), embeddings=EmbeddingClassifier(broken), llm=None, threshold=0.7)
    result = clf.classify("banana")
    assert result.intent is Intent.UNCLEAR and result.details["embeddings_error"] == "RuntimeError"


@pytest.mark.parametrize("text", ["\x00\x01", "🙂" * 50, "<script>alert(1)</script>", "{{x}}", "\n\n\t"])
def test_never_raises_for_odd_text(text):
    result = IntentClassifier(RuleClassifier(), llm=FakeLLM(reply="{}"), threshold=0.7).classify(text)
    assert isinstance(result.intent, Intent)


def test_parse_classification_clamps_and_defaults():
    result = parse_classification('{"intent": "email_request", "confidence": 7, "tone": "loud", "language": "xx"}')
    assert result.intent is Intent.EMAIL_REQUEST
    assert result.confidence == 1.0
    assert result.tone is None and result.language == "en"
    with pytest.raises(LLMError):
        parse_classification('{"intent": "dance", "confidence": 1, "tone": null, "language": "en"}')


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_classify_never_raises(text):
    result = IntentClassifier(RuleClassifier(), llm=FakeLLM(reply="[]"), threshold=0.7).classify(text)
    assert isinstance(result.intent, Intent) and 0 <= result.confidence <= 1
