"""Intent classification: local rules first, optional embeddings, the LLM only when unsure.

* :class:`RuleClassifier` scores weighted regular-expression rules (English, German, French, Spanish),
  ignores matches that are negated ("don't close this"), detects refinements of the previous AI reply
  ("make it shorter") and extracts the requested tone.
* :class:`EmbeddingClassifier` compares the request with prototype phrases per intent.
* :class:`IntentClassifier` chains them and asks the model (structured output) when still unsure. It
  never raises for text input.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError, CircuitOpenError, LLMError
from ..models import READ_ONLY_INTENTS, Classification, Intent
from . import prompts
from .language import LANGUAGE_NAMES, detect_language

if TYPE_CHECKING:
    from .generators.base import ModelGateway

log = logging.getLogger(__name__)

MAX_CLASSIFY_CHARS = 2000
TONES = ("formal", "friendly", "concise", "apologetic")
CLASSIFIER_INTENT = "classification"

# When two intents score the same, prefer the harmless one: an action needs a clear win.
_TIE_ORDER = (
    Intent.SUMMARY_REQUEST, Intent.EMAIL_REQUEST, Intent.COMMENT_REQUEST, Intent.HELP,
    Intent.UNCLEAR, Intent.TASK_COMPLETION,
)

CLASSIFICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": [i.value for i in Intent]},
        "confidence": {"type": "number"},
        "tone": {"type": ["string", "null"], "enum": [*TONES, None]},
        "language": {"type": "string"},
    },
    "required": ["intent", "confidence", "tone", "language"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Rule:
    """One weighted pattern voting for an intent (negative weights vote against it)."""

    name: str
    intent: Intent
    weight: float
    pattern: re.Pattern[str]
    negatable: bool = True


def _alt(*patterns: str) -> str:
    """One pattern matching any of ``patterns``."""
    return "|".join(f"(?:{p})" for p in patterns)


def _rule(name: str, intent: Intent, weight: float, pattern: str, *, negatable: bool = True) -> Rule:
    return Rule(name, intent, weight, re.compile(pattern, re.IGNORECASE), negatable)


_T, _E, _C, _S, _H, _U = (
    Intent.TASK_COMPLETION, Intent.EMAIL_REQUEST, Intent.COMMENT_REQUEST, Intent.SUMMARY_REQUEST,
    Intent.HELP, Intent.UNCLEAR,
)
_OBJ = r"(?:it|this|that|the\s+(?:issue|ticket|task|story|bug|item|epic|request))"
_DONE = r"(?:done|completed?|resolved|finished|closed|fixed)"
_PEOPLE = (
    r"(?:customers?|clients?|vendors?|suppliers?|stakeholders?|reporter|team|management|partners?|users?)"
)


@functools.cache
def _rules() -> tuple[Rule, ...]:
    """The rule table (compiled once, on first use)."""
    return (
        # ---- task completion
        _rule("mark_done", _T, 3.5,
              rf"\b(?:mark|set|move|transition|flag)\s+(?:{_OBJ}\s+)?(?:as\s+|to\s+)?{_DONE}\b"),
        _rule("close_out", _T, 3.5, rf"\b(?:close|wrap)\s+(?:{_OBJ}\s+)?(?:out|up)\b"),
        _rule("close_obj", _T, 3, rf"\b(?:close|resolve|complete|finish)\s+{_OBJ}\b"),
        _rule("close_verb", _T, 2, r"\b(?:close|resolve|closing|resolving)\b"),
        _rule("is_done", _T, 2, rf"\b(?:this|it)\s*(?:is|'s|has\s+been|was)\s+(?:now\s+)?{_DONE}\b"),
        _rule("done_alone", _T, 2.5, rf"^\W*(?:{_DONE}|shipped|deployed)\b[\W]*(?:and\s+\w+\W*)?$"),
        _rule("de_done", _T, 3, _alt(
            r"\b(?:erledigt|abschlie(?:ß|ss)en|schlie(?:ß|ss)(?:e|en)?|abgeschlossen)\b",
            r"\bmach\w*\s+(?:\w+\s+){0,2}zu\b",
        )),
        _rule("fr_done", _T, 3, r"\b(?:fermer|ferme|fermez|clôturer|clôture|clôturez|terminé|résolu)\b"),
        _rule("es_done", _T, 3, r"\b(?:cerrar|cierra|cierre|completado|terminado|resuelto)\b"),
        # ---- email
        _rule("email_word", _E, 3.5, r"\b(?:e-?mail|emails|courriel|correo|mél)\b"),
        _rule("mail_word", _E, 2.5, r"\bmail\b"),
        _rule("draft_email", _E, 1.5,
              r"\b(?:write|draft|send|compose|prepare|schreibe?|rédige[rz]?|escribe|redacta)\s+(?:\w+\s+){0,3}"
              r"(?:e-?mail|mail|courriel|correo)\b"),
        _rule("email_address", _E, -3.5, r"\b(?:e-?mail|mail)\s*-?\s*(?:address|adresse|dirección)\w*"),
        _rule("write_to", _E, 3,
              rf"\b(?:write|send|draft|compose)\s+(?:a\s+(?:\w+\s+)?(?:note|message|letter)\s+)?"
              rf"to\s+(?:the|our|my|all)?\s*{_PEOPLE}\b"),
        _rule("notify", _E, 2.5,
              rf"\b(?:inform|notify|let|tell|send|ping)\s+(?:the|our|all|my)?\s*{_PEOPLE}\b"),
        _rule("something_for", _E, 2.5,
              rf"\b(?:write|draft)\s+(?:something|a\s+message)\s+(?:for|to)\s+(?:the|our|my)?\s*{_PEOPLE}\b"),
        _rule("letter", _E, 2.5, r"\b(?:letter|outreach\s+message)\b"),
        # ---- comment
        _rule("write_comment", _C, 3,
              r"\b(?:write|draft|post|add|leave|compose|prepare|give)\s+(?:a|an|the|my|some)?\s*"
              r"(?:[\w-]+\s+){0,2}(?:comment|reply|response|answer|note|update|explanation)\b"),
        _rule("reply_to", _C, 3, r"\b(?:reply|respond|answer)\s+(?:to\s+)?(?:the|this|that|their|his|her)?\s*"
              r"(?:reporter|customer|question|user|comment|them|him|her|client|requester|ask)\b"),
        _rule("reply_word", _C, 2, r"\b(?:reply|respond)\b"),
        _rule("status_update", _C, 2, r"\bstatus[\s-]*(?:update|report|note)\b|\bstatus(?:update|bericht)\b"),
        _rule("explain", _C, 2, r"\b(?:explain|clarify|describe|acknowledge|thank)\b"),
        _rule("comment_word", _C, 2, r"\b(?:comment|kommentar|commentaire|comentario)\b"),
        _rule("ml_reply", _C, 3, r"\b(?:antworte|antworten|réponds|répondre|répondez|responde|responder)\b"),
        # ---- summary
        _rule("summarize", _S, 3.5, r"\b(?:summari[sz]e|summary|summari[sz]ing|recap|tl;?dr|overview|digest|"
              r"rundown|sum\s+(?:it|this|that)\s+up|brief\s+me|catch\s+me\s+up|fill\s+me\s+in)\b"),
        _rule("whats_status", _S, 3, _alt(
            r"\bwhat(?:'s|\s+is|\s+are)\s+(?:the\s+)?(?:current\s+)?(?:status|state|latest|situation|progress"
            r"|open\s+questions|decisions|next\s+steps)\b",
            r"\bwhere\s+(?:are|do)\s+we\s+(?:at|stand)\b",
            r"\bwhat\s+(?:happened|has\s+been\s+decided|changed)\b",
            r"\bwhat\s+did\s+we\s+(?:decide|agree)\b",
            r"\bwhat\s+is\s+(?:this|the)\s+(?:ticket|issue|bug|story|task)\s+about\b",
            r"\bany\s+(?:blockers|updates|news|progress)\b",
            r"\bstatus\s*\?",
        )),
        _rule("ml_summary", _S, 3.5, _alt(
            r"\b(?:zusammenfassen|zusammenfassung|zusammen|samenvatting|samenvatten)\b",
            r"\b(?:r[ée]sum[ée]r?|résumez|resumen|resumir|resume|resuma|riassumi|riassunto)\b",
        )),
        _rule("ml_status", _S, 3, _alt(
            r"\bwie\s+ist\s+der\s+(?:stand|status)\b", r"\boù\s+en\s+(?:est|sommes)\b",
            r"\bcuál\s+es\s+el\s+estado\b", r"\bqué\s+tal\s+va\b",
        )),
        # ---- help
        _rule("help_only", _H, 4,
              r"^\W*(?:help|hilfe|aide|ayuda|aiuto|ajuda|hulp|commands|\?+)\W*(?:please|bitte|me)?\W*$",
              negatable=False),
        _rule("what_can_you_do", _H, 3.5, _alt(
            r"\bwhat\s+(?:can|do)\s+you\s+do\b",
            r"\bhow\s+(?:do\s+i|does\s+this|to)\s+(?:use|work)\b",
            r"\bhow\s+does\s+this\s+work\b",
            r"\b(?:list|show)\s+(?:me\s+)?(?:the\s+|your\s+)?commands\b",
            r"\b(?:which|what)\s+commands\b",
            r"\bwho\s+are\s+you\b",
            r"\bwas\s+kannst\s+du\b",
            r"\bque\s+(?:peux-tu|pouvez-vous)\s+faire\b|\bqu'est-ce\s+que\s+tu\s+(?:peux|sais)\b",
            r"\bqué\s+puedes\s+hacer\b",
        )),
        _rule("help_word", _H, 1, r"\b(?:help|hilfe|aide|ayuda)\b"),
        # ---- unclear: bare acknowledgements and greetings
        _rule("ack", _U, 2.5,
              r"^\W*(?:thanks|thank\s+you|thx|ty|ok(?:ay)?|cool|great|nice|lol|hi|hello|hey|danke|merci|gracias)"
              r"\b\W*(?:\w+\W*)?$",
              negatable=False),
    )


_REFINE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(?:make|keep)\s+(?:it|this|that|the\s+(?:\w+\s+)?\w+)\s+(?:a\s+(?:bit|little)\s+|much\s+|even\s+)?"
        r"(?:shorter|longer|briefer|simpler|clearer|friendlier|warmer|more\s+\w+|less\s+\w+)\b",
        r"^\W*(?:(?:a\s+(?:bit|little)|much|even)\s+)?(?:shorter|longer|briefer|simpler|friendlier|warmer|"
        r"more\s+\w+|less\s+\w+)\b(?:\s+please)?\W*$",
        r"\b(?:rewrite|rephrase|reword|redo|shorten|condense|tighten|simplify|soften|polish)\s+(?:it|this|that|"
        r"your\s+(?:\w+\s+)?(?:reply|answer|response|draft|summary|email|comment)|the\s+(?:reply|answer|response|"
        r"draft|last\s+\w+|previous\s+\w+))\b",
        r"\btoo\s+(?:long|formal|casual|short|wordy|technical|harsh)\b",
        r"\btry\s+again\b|\btranslate\s+(?:it|this|that)\b",
        r"\b(?:kürzer|formeller|freundlicher|ausführlicher)\b",
        r"\bplus\s+(?:court|courte|formel|formelle|concis|concise|amical|amicale)\b",
        r"\bmás\s+(?:corto|corta|breve|formal|amable|conciso)\b",
    )
)

_OBJECT_NOUNS = (
    (Intent.EMAIL_REQUEST, re.compile(r"\b(?:e-?mail|mail|courriel|correo)\b", re.IGNORECASE)),
    (Intent.SUMMARY_REQUEST,
     re.compile(r"\b(?:summary|recap|zusammenfassung|résumé|resumen)\b", re.IGNORECASE)),
    (Intent.COMMENT_REQUEST, re.compile(r"\b(?:comment|reply|answer|response|kommentar)\b", re.IGNORECASE)),
)

_TONE_PATTERNS = (
    ("apologetic", re.compile(r"\b(?:apologi[sz]e|apologetic|apology|sorry|regret|entschuldig\w*|excuses?|"
                              r"désolé\w*|disculp\w*|perdón|lo\s+siento)\b", re.IGNORECASE)),
    ("friendly", re.compile(r"\b(?:casual|warm|warmer|friendly|friendlier|informal|relaxed|less\s+formal|"
                            r"freundlich\w*|amical\w*|amable|cordial)\b", re.IGNORECASE)),
    ("formal", re.compile(r"\b(?:formal|formally|professional|professionally|polite|formell\w*|"
                          r"förmlich\w*|formel\w*)\b", re.IGNORECASE)),
    ("concise", re.compile(r"\b(?:brief|briefly|short|shorter|concise|succinct|terse|quick|kurz|kürzer|"
                           r"court|courte|breve|corto|tl;?dr)\b", re.IGNORECASE)),
)

_NEGATIONS = frozenset({
    "not", "don't", "dont", "never", "no", "without", "nor", "doesn't", "shouldn't", "won't", "mustn't",
    "stop", "avoid", "skip", "nicht", "nie", "kein", "keine", "keinen", "ne", "n'", "pas", "jamais", "sans",
    "nunca", "sin", "non", "niet", "geen",
})
_NEGATION_PHRASES = re.compile(r"\b(?:instead\s+of|rather\s+than|no\s+need\s+to|hold\s+off\s+on)\s*$", re.I)
_CLAUSE_BREAK = re.compile(r"[.;:!?\n,]|\b(?:but|instead|just|only|then|aber|sondern|mais|pero|sino)\b", re.I)
_WORD = re.compile(r"[\w']+")


def _is_negated(text: str, start: int, end: int) -> bool:
    """True when the match at ``text[start:end]`` is negated within its clause."""
    before = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end():] if breaks else before
    if _NEGATION_PHRASES.search(clause):
        return True
    words = _WORD.findall(clause.lower())[-4:]
    for i, word in enumerate(words):
        if word in _NEGATIONS and (i + 1 >= len(words) or words[i + 1] != "forget"):
            return True
    after = text[end:]
    stop = _CLAUSE_BREAK.search(after)
    trailing = _WORD.findall((after[: stop.start()] if stop else after).lower())[:4]
    return any(w in ("nicht", "pas") for w in trailing)


def extract_tone(text: str) -> str | None:
    """The tone a request asks for (formal, friendly, concise, apologetic), or None."""
    for tone, pattern in _TONE_PATTERNS:
        for match in pattern.finditer(text or ""):
            if not _is_negated(text, match.start(), match.end()):
                return tone
    return None


def _normalise(text: str) -> str:
    return (text or "").replace("\u2019", "'").replace("\u2018", "'").strip()


def _coerce_intent(value: str | Intent | None) -> Intent | None:
    if value is None or value == "":
        return None
    try:
        return Intent(value)
    except ValueError:
        return None


def _confidence(best: float, second: float) -> float:
    """Confidence from the best score's strength and its margin over the runner-up."""
    if best <= 0:
        return 0.0
    strength = 1.0 - math.exp(-best / 1.2)
    margin = max(0.0, best - max(second, 0.0)) / best
    return round(min(1.0, 0.35 + 0.65 * strength * margin), 3)


class RuleClassifier:
    """Weighted keyword/regex rules with negation handling; source ``"rules"``."""

    def __init__(self, rules: Sequence[Rule] | None = None) -> None:
        self._rules = tuple(rules) if rules is not None else None

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rule table in use."""
        return self._rules if self._rules is not None else _rules()

    def scores(self, text: str) -> tuple[dict[Intent, float], list[str], list[Rule]]:
        """Per-intent scores, the names of rules that counted and the rules that were negated."""
        scores = {intent: 0.0 for intent in Intent}
        matched: list[str] = []
        negated: list[Rule] = []
        for rule in self.rules:
            hits = list(rule.pattern.finditer(text))
            if not hits:
                continue
            negatable = rule.negatable and rule.weight > 0
            if negatable and all(_is_negated(text, m.start(), m.end()) for m in hits):
                negated.append(rule)
                continue
            scores[rule.intent] += rule.weight
            matched.append(rule.name)
        return scores, matched, negated

    def classify(self, text: str, *, previous_intent: str | Intent | None = None) -> Classification:
        """Classify ``text``. ``previous_intent`` is the intent of the last AI reply, for refinements."""
        clean = _normalise(text)[:MAX_CLASSIFY_CHARS]
        tone = extract_tone(clean)
        language = detect_language(clean)
        if not clean:
            return Classification(Intent.HELP, 1.0, "rules", tone, language, {"reason": "empty"})
        scores, matched, negated = self.scores(clean)
        details: dict[str, Any] = {
            "scores": {k.value: round(v, 2) for k, v in scores.items() if v},
            "matched": matched,
            "negated": [r.name for r in negated],
            "negated_intents": sorted({r.intent.value for r in negated}),
            "refine": False,
        }
        if any(p.search(clean) for p in _REFINE_PATTERNS):
            intent = self._refine_target(clean, previous_intent)
            details["refine"] = True
            return Classification(intent, 0.9, "rules", tone, language, details)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], _TIE_ORDER.index(kv[0])))
        (best, best_score), (_, second_score) = ranked[0], ranked[1]
        if best_score <= 0:
            # Only negated requests ("don't close this"): sure that it is not that intent.
            confidence = 0.75 if negated else 0.2
            return Classification(Intent.UNCLEAR, confidence, "rules", tone, language, details)
        return Classification(best, _confidence(best_score, second_score), "rules", tone, language, details)

    @staticmethod
    def _refine_target(text: str, previous_intent: str | Intent | None) -> Intent:
        for intent, noun in _OBJECT_NOUNS:
            if noun.search(text):
                return intent
        previous = _coerce_intent(previous_intent)
        return previous if previous in READ_ONLY_INTENTS else Intent.COMMENT_REQUEST


# ------------------------------------------------------------------------------------------ embeddings

PROTOTYPES: dict[Intent, tuple[str, ...]] = {
    Intent.TASK_COMPLETION: (
        "mark this issue as done", "close this ticket", "resolve the issue and note the fix",
        "this is finished, please close it", "move the task to done", "we fixed it, close it out",
    ),
    Intent.EMAIL_REQUEST: (
        "draft an email to the customer about the delay", "write an email to the vendor",
        "send a message to the stakeholders", "compose an email update for the client",
        "email the team about the outage", "write to the supplier asking for an estimate",
    ),
    Intent.COMMENT_REQUEST: (
        "write a comment with a status update", "reply to the reporter's question",
        "post a response explaining the root cause", "add a note for the team",
        "draft an answer to the customer in this ticket", "explain why the build fails",
    ),
    Intent.SUMMARY_REQUEST: (
        "summarize this issue", "what is the current status", "give me a recap of the discussion",
        "tl;dr of the comments", "what decisions were made and what is still open",
        "catch me up on this ticket",
    ),
    Intent.HELP: (
        "help", "what can you do", "list your commands", "how do I use the assistant",
        "which requests do you understand",
    ),
    Intent.UNCLEAR: ("thanks", "ok", "hello there", "lol", "the weather is nice today", "asdf qwerty"),
}


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class EmbeddingClassifier:
    """Nearest prototype phrase by cosine similarity; prototypes are embedded once, lazily."""

    def __init__(
        self,
        embed: Callable[[list[str]], list[list[float]]],
        prototypes: dict[Intent, Sequence[str]] | None = None,
    ) -> None:
        self._embed = embed
        self._prototypes = prototypes or PROTOTYPES
        self._vectors: list[tuple[Intent, list[float]]] | None = None

    def _prototype_vectors(self) -> list[tuple[Intent, list[float]]]:
        if self._vectors is None:
            labels = [(intent, phrase) for intent, phrases in self._prototypes.items() for phrase in phrases]
            vectors = self._embed([phrase for _, phrase in labels])
            if len(vectors) != len(labels):
                raise ValueError("the embedder returned a different number of vectors than phrases")
            self._vectors = [(intent, list(vec)) for (intent, _), vec in zip(labels, vectors, strict=True)]
        return self._vectors

    def classify(self, text: str) -> Classification:
        """Classify ``text`` by its nearest prototype; source ``"embeddings"``."""
        clean = _normalise(text)[:MAX_CLASSIFY_CHARS]
        language = detect_language(clean)
        tone = extract_tone(clean)
        if not clean:
            return Classification(Intent.HELP, 1.0, "embeddings", tone, language, {"reason": "empty"})
        query = self._embed([clean])[0]
        best_by_intent: dict[Intent, float] = {}
        for intent, vector in self._prototype_vectors():
            sim = _cosine(query, vector)
            best_by_intent[intent] = max(sim, best_by_intent.get(intent, -1.0))
        ranked = sorted(best_by_intent.items(), key=lambda kv: -kv[1])
        best, best_sim = ranked[0]
        second_sim = ranked[1][1] if len(ranked) > 1 else 0.0
        confidence = max(0.0, min(1.0, best_sim)) * min(1.0, 0.5 + 5.0 * (best_sim - second_sim))
        runner_up = ranked[1][0].value if len(ranked) > 1 else None
        details = {"similarity": round(best_sim, 3), "runner_up": runner_up}
        return Classification(best, round(confidence, 3), "embeddings", tone, language, details)


# ------------------------------------------------------------------------------------------ chain


class IntentClassifier:
    """Rules first, then embeddings, then the LLM when the result is below ``threshold``."""

    def __init__(
        self,
        rules: RuleClassifier,
        *,
        embeddings: EmbeddingClassifier | None = None,
        llm: ModelGateway | None = None,
        threshold: float = 0.7,
    ) -> None:
        self.rules = rules
        self.embeddings = embeddings
        self.llm = llm
        self.threshold = threshold

    def classify(
        self, text: str, *, tenant_id: str = "local", previous_intent: str | Intent | None = None
    ) -> Classification:
        """Classify a request; never raises for text input (falls back to the best local result)."""
        raw = text if isinstance(text, str) else ""
        clipped = raw[:MAX_CLASSIFY_CHARS]
        result = self.rules.classify(clipped, previous_intent=previous_intent)
        if len(raw) > MAX_CLASSIFY_CHARS:
            result.details["truncated"] = True
        if result.confidence >= self.threshold or result.details.get("refine"):
            return result
        if self.embeddings is not None:
            try:
                other = self.embeddings.classify(clipped)
            except Exception as exc:  # the embedder is a pluggable dependency; never let it break us
                log.warning("embedding classifier failed: %s", type(exc).__name__)
                result.details["embeddings_error"] = type(exc).__name__
            else:
                if other.confidence > result.confidence:
                    other.details = {**result.details, **other.details, "rules_intent": result.intent.value}
                    other.tone = other.tone or result.tone
                    result = other
        if result.confidence >= self.threshold or self.llm is None:
            return result
        if not self.llm.available:
            result.details["llm_skipped"] = "offline"
            return result
        return self._ask_llm(clipped, result, tenant_id)

    def _ask_llm(self, text: str, local: Classification, tenant_id: str) -> Classification:
        assert self.llm is not None
        normalised = " ".join(text.lower().split())
        try:
            completion = self.llm.complete(
                tenant_id=tenant_id,
                intent=CLASSIFIER_INTENT,
                messages=prompts.classification_messages(text),
                max_tokens=80,
                json_schema=CLASSIFICATION_SCHEMA,
                schema_name="intent_classification",
                cache_key=prompts.cache_key("classify", prompts.CLASSIFIER_PROMPT_VERSION, normalised),
            )
            parsed = parse_classification(completion.text, default_language=local.language)
        except (BudgetExceededError, CircuitOpenError, LLMError) as exc:
            local.details["llm_error"] = exc.code
            return local
        parsed.tone = parsed.tone or local.tone
        parsed.details = {**local.details, "local_intent": local.intent.value,
                          "local_confidence": local.confidence, "model": completion.model}
        return parsed


def parse_classification(text: str, *, default_language: str = "en") -> Classification:
    """Parse the model's JSON answer; raises :class:`LLMError` (code ``llm_malformed``) when invalid.

    An unsupported or missing language becomes ``default_language``.
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise LLMError("The classifier's answer was not JSON.", code="llm_malformed") from exc
    if not isinstance(data, dict):
        raise LLMError("The classifier's answer was not a JSON object.", code="llm_malformed")
    intent = _coerce_intent(data.get("intent"))
    if intent is None:
        raise LLMError("The classifier named an unknown intent.", code="llm_malformed")
    try:
        confidence = max(0.0, min(1.0, float(data.get("confidence", 0.0))))
    except (TypeError, ValueError):
        confidence = 0.5
    tone = data.get("tone") if data.get("tone") in TONES else None
    language = str(data.get("language") or "").lower()[:2]
    if language not in LANGUAGE_NAMES:
        language = default_language
    return Classification(intent, confidence, "llm", tone, language, {})
