"""The message catalogue: complete per language, same placeholders, examples the classifier understands."""

from __future__ import annotations

import string

import pytest

from connect_app.pipeline import messages
from connect_app.pipeline.classify import RuleClassifier
from connect_app.pipeline.language import detect_language
from connect_app.pipeline.rate_limit import refusal_message

OTHERS = [lang for lang in messages.CATALOGUE_LANGUAGES if lang != "en"]


def fields(template):
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("language", OTHERS)
def test_every_language_has_every_key_with_the_same_placeholders(language):
    english, other = messages.texts("en"), messages.texts(language)
    assert set(other) == set(english)
    assert {k: fields(v) for k, v in other.items()} == {k: fields(v) for k, v in english.items()}


@pytest.mark.parametrize("language", messages.CATALOGUE_LANGUAGES)
def test_help_examples_are_understood_in_their_language(language):
    classifier = RuleClassifier()
    for key, words in messages.texts(language).items():
        if key.startswith(("example.", "example2.")) and key.split(".", 1)[1] not in ("shorter", "formal"):
            result = classifier.classify(words)
            assert result.intent.value == key.split(".", 1)[1], (language, words, result)


def test_unknown_languages_and_keys_fall_back_to_english():
    assert messages.text("clarify.which", "ja") == "Which would you like?"
    assert messages.text("clarify.which", None) == "Which would you like?"
    assert messages.translate("not a catalogue text", "de") == "not a catalogue text"
    assert messages.translate("Offline draft: no AI model is configured.", "es").startswith("Borrador")


def test_rate_limit_note_in_the_requests_language():
    assert refusal_message("user", "minute", 40) == (
        "You've asked me for a lot in the last minute, so I'm pausing for you. I'll take new requests again "
        "in about 40 seconds; please ask again then. Nothing was changed."
    )
    german = refusal_message("site", "hour", 600, language=detect_language("bitte fasse das zusammen"))
    assert german.startswith("Auf dieser Site wurde ich in der letzten Stunde sehr oft gefragt")
    assert "etwa 10 Minuten" in german
    assert "en los últimos 30 segundos" in refusal_message("user", "30 seconds", 5, language="es")
