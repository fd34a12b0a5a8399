"""Stop-word language detection."""

from __future__ import annotations

import pytest

from connect_app.pipeline.language import detect_language, language_name, language_scores


@pytest.mark.parametrize("text, expected", [
    ("Please summarize this issue for the team", "en"),
    ("Bitte fasse das Ticket für mich zusammen", "de"),
    ("Schreibe eine E-Mail an den Kunden wegen der Verzögerung", "de"),
    ("Peux-tu résumer ce ticket pour le client ?", "fr"),
    ("Rédige un courriel au fournisseur sur le retard", "fr"),
    ("Escribe un correo al cliente sobre el retraso, por favor", "es"),
    ("¿Cuál es el estado de este ticket?", "es"),
    ("Riassumi questo ticket per il cliente, grazie", "it"),
    ("Escreva um e-mail para o cliente sobre o atraso, obrigado", "pt"),
    ("Vat dit ticket samen voor de klant alsjeblieft", "nl"),
])
def test_detects_language(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "123 456", "SUP-42", "ok"])
def test_defaults_to_english(text):
    assert detect_language(text) == "en"


def test_scores_cover_every_language():
    assert set(language_scores("hello")) == {"en", "de", "fr", "es", "it", "pt", "nl"}


def test_language_name():
    assert language_name("de") == "German"
    assert language_name("ja") == "ja"
