"""Cheap language detection for short requests: stop-word scoring plus a few letter hints.

Good enough to pick the reply language of ``@ai`` requests; not a general-purpose detector.
"""

from __future__ import annotations

import functools
import re
from collections import Counter

DEFAULT_LANGUAGE = "en"

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "nl": "Dutch",
}

# Function words plus the handful of verbs people use with the assistant. Words shared by several
# languages count for each of them, divided by how many share them.
_VOCABULARY: dict[str, str] = {
    "en": """the and is are this that to of for with please what it on in be can you an was has have we
        they about write summarize summarise email customer issue ticket close done update make draft reply
        comment who how why when my our your will would should could not don't doesn't it's what's
        shorter status from into there their which just""",
    "de": """der die das und ist nicht ein eine einen bitte zu mit für den dem des auf ich wir sie es von
        im sind wie was kannst du diese dieses diesen zusammenfassen fasse fass zusammen schreibe schreib
        kunden kunde erledigt schließen schließe schliesse über auch noch aktuelle aktuellen an zum zur
        mir uns kurz kürzer formeller freundlicher wegen verzögerung lieferanten stand hilfe ob""",
    "fr": """le la les et est un une des du de pour avec ce cette ces ne pas que qui vous plaît résume
        résumer écris écrire rédige rédiger client courriel merci au aux sur en je nous il elle où
        ticket clôture clôturer fermer ferme terminé retard fournisseur plus court formel aide peux""",
    "es": """el la los las y es un una de del por para con que este esta esto favor resume resumir
        resumen escribe escribir redacta correo cliente no al se lo estado sobre hola qué cuál cierra
        cerrar completado retraso proveedor más corto breve ayuda puedes""",
    "it": """il lo la gli le e è un una di del della per con che questo questa riassumi riassunto
        scrivi cliente favore non sono stato grazie chiudi chiudere ritardo fornitore aiuto puoi""",
    "pt": """o a os as e é um uma de do da dos das para com que este esta favor resuma resumir escreva
        cliente não obrigado você fechar atraso fornecedor ajuda pode""",
    "nl": """de het een en is van voor met dat die dit deze niet alsjeblieft graag samenvatten vat
        schrijf klant op naar wij ik je sluit sluiten vertraging leverancier korter hulp""",
}

# Letters that point at one language (one point each, capped).
_LETTER_HINTS: dict[str, str] = {
    "ß": "de", "ä": "de", "ö": "de", "ü": "de",
    "ñ": "es", "¿": "es", "¡": "es",
    "ç": "fr", "è": "fr", "ê": "fr", "ô": "fr", "î": "fr", "œ": "fr",
    "ã": "pt", "õ": "pt",
    "ì": "it", "ò": "it",
}

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@functools.cache
def _word_weights() -> dict[str, dict[str, float]]:
    """Map word -> {language: weight}, weight = 1 / number of languages using the word (built once)."""
    owners: dict[str, set[str]] = {}
    for lang, words in _VOCABULARY.items():
        for word in words.split():
            owners.setdefault(word, set()).add(lang)
    return {word: {lang: 1.0 / len(langs) for lang in langs} for word, langs in owners.items()}


def language_scores(text: str) -> dict[str, float]:
    """Score of every supported language for ``text`` (higher is more likely)."""
    lowered = (text or "").lower().replace("\u2019", "'")
    weights = _word_weights()
    scores: Counter[str] = Counter()
    for token in _TOKEN.findall(lowered):
        for lang, weight in weights.get(token, {}).items():
            scores[lang] += weight
    hints: Counter[str] = Counter(_LETTER_HINTS[ch] for ch in lowered if ch in _LETTER_HINTS)
    for lang, count in hints.items():
        scores[lang] += min(count, 3) * 0.5
    return {lang: round(scores.get(lang, 0.0), 3) for lang in LANGUAGE_NAMES}


def detect_language(text: str) -> str:
    """The ISO 639-1 code (en, de, fr, es, it, pt, nl) of ``text``; ``en`` when unsure or empty."""
    scores = language_scores(text[:4000] if text else "")
    best = max(scores, key=lambda lang: (scores[lang], lang == DEFAULT_LANGUAGE))
    if scores[best] < 0.5 or scores[best] <= scores[DEFAULT_LANGUAGE]:
        return DEFAULT_LANGUAGE
    return best


def language_name(code: str) -> str:
    """The English name of a language code (the code itself when unknown)."""
    return LANGUAGE_NAMES.get((code or "").lower(), code or LANGUAGE_NAMES[DEFAULT_LANGUAGE])
