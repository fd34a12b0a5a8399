"""The fixed texts people read (help, clarifying question, action and failure notes, offline framing,
labels) in the languages request detection knows, chosen by the request's language.

English is the reference and the fallback: an unknown language, or a key a language lacks, gives the
English text. Issue data (summaries, names, statuses) is passed in as values and stays as written.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from ..language import DEFAULT_LANGUAGE

#: Languages with a catalogue module here (``messages/<code>.py``).
CATALOGUE_LANGUAGES = ("en", "de", "fr", "es")

_SECONDS_WINDOW = re.compile(r"^(\d+) seconds?$")


@functools.cache
def texts(language: str) -> MappingProxyType[str, str]:
    """The catalogue of one language (empty for a language without one); read once."""
    if language not in CATALOGUE_LANGUAGES:
        return MappingProxyType({})
    module = importlib.import_module(f"{__name__}.{language}")
    return MappingProxyType(dict(module.TEXTS))


def language_of(language: str | None) -> str:
    """``language`` when it has a catalogue, else English."""
    code = (language or "").strip().lower()[:2]
    return code if code in CATALOGUE_LANGUAGES else DEFAULT_LANGUAGE


def text(key: str, language: str | None = None, /, **values: Any) -> str:
    """The text for ``key`` in ``language`` (English when missing), with ``values`` filled in."""
    template = texts(language_of(language)).get(key) or texts(DEFAULT_LANGUAGE)[key]
    return template.format(**values) if values else template


def translate(english: str, language: str | None) -> str:
    """A known English fixed text (without placeholders) in ``language``; unknown texts are returned as is."""
    lang = language_of(language)
    if lang == DEFAULT_LANGUAGE or not english:
        return english
    for key, value in texts(DEFAULT_LANGUAGE).items():
        if value == english:
            return texts(lang).get(key, english)
    return english


def offline_labels() -> Iterator[tuple[str, str]]:
    """``(language, label)`` of every offline label, English first."""
    for lang in CATALOGUE_LANGUAGES:
        label = texts(lang).get("offline.label")
        if label:
            yield lang, label


def is_offline_label(block: str) -> bool:
    """True when ``block`` is an offline draft's label or note ("_Offline draft…") in any language."""
    stripped = block.strip()
    return any(stripped.startswith(label.split(" \u2014", 1)[0]) for _lang, label in offline_labels())


def window_words(window: str, language: str | None) -> str:
    """A rate limit's window ("minute", "hour", "N seconds") as "in the last ..." words."""
    if window in ("minute", "hour"):
        return text(f"window.{window}", language)
    match = _SECONDS_WINDOW.match(window or "")
    if match:
        return text("window.seconds", language, n=match.group(1))
    return f"in the last {window}" if language_of(language) == DEFAULT_LANGUAGE else window


def wait_words(seconds: int, language: str | None) -> str:
    """A wait for people: ``1 second``, ``40 seconds``, ``25 minutes`` (minutes from 90 seconds on)."""
    seconds = max(1, int(seconds))
    if seconds == 1:
        return text("wait.second", language)
    if seconds < 90:
        return text("wait.seconds", language, n=seconds)
    return text("wait.minutes", language, n=-(-seconds // 60))
