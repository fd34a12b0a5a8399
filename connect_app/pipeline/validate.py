"""Quality and safety checks on a draft before it is posted, then Markdown -> ADF checked by schema.

Recoverable problems are fixed and reported as warnings (secrets redacted, trigger echoes and user
mentions neutralised, over-long replies truncated, invalid ADF replaced by plain text). Unrecoverable
ones raise :class:`ValidationFailedError` with a stable code: ``reply_empty``, ``reply_placeholder``,
``reply_tone`` or ``reply_adf_invalid``; and, for model-written replies only (a person's own text or our
templates are not checked), ``reply_prompt_leak`` (it reproduces the system prompt) or
``reply_false_action`` (it claims a change in Jira the app did not make). The pipeline answers those two
with the labelled offline draft instead (:data:`MODEL_OUTPUT_REJECTIONS`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationFailedError
from ..jira.adf import adf_to_text, markdown_to_adf, plain_text_adf, validate_adf
from ..models import Draft
from . import messages
from .events import INVISIBLE_CHARS, extract_request, strip_invisible
from .prompts import instruction_texts

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
TRUNCATION_SUFFIX = "…(truncated)"
TRIGGER_REPLACEMENT = "AI"

_FENCE = re.compile(r"(?ms)^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$|`[^`\n]+`")

_SECRETS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
        REDACTED,
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), REDACTED),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), REDACTED),
    ("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"), REDACTED),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    ("atlassian_token", re.compile(r"\bATATT[A-Za-z0-9_=-]{20,}"), REDACTED),
    ("bearer", re.compile(r"(?i)\b(bearer)\s+(?!\[redacted\])[A-Za-z0-9\-._~+/]{12,}=*"), rf"\1 {REDACTED}"),
    (
        "assignment",
        re.compile(
            r"(?i)\b(password|passwd|pwd|passphrase|secret|client_secret|api[_-]?key|secret[_-]?key|access[_-]?token|"
            r"auth[_-]?token|aws_secret_access_key)(\s*=\s*|\s*:\s*(?=\S*\d))(?!\[redacted\])(\"[^\"\n]*\"|'[^'\n]*'|"
            r"[^\s,;]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
)

_PLACEHOLDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("{{...}}", re.compile(r"\{\{\s*[^{}\n]{1,40}\s*\}\}")),
    ("{name}", re.compile(r"(?<![{$\w])\{[A-Za-z_][A-Za-z0-9_ .-]{0,30}\}(?!\})")),
    (
        "[Name]",
        re.compile(
            r"\[(?:(?:your|customer|client|recipient|company|insert|vendor|team|manager|contact|product|sender|"
            r"first|last|full|project|person|user)(?:'s)?[ _-]?){0,3}"
            r"(?:name|date|company|recipient|client|customer|title|phone|e-?mail|address|link|signature|position|role|number|amount|time|details?|here)\]"
            r"(?!\()",
            re.I,
        ),
    ),
    (
        "<placeholder>",
        re.compile(
            r"<(?:(?:your|customer|client|recipient|company|insert|first|last|full)[ _-]?){0,3}(?:name|date|"
            r"placeholder|company|recipient|email|signature|title|details)>",
            re.I,
        ),
    ),
    ("XXX", re.compile(r"(?<![\w-])X{3,}(?![\w-])")),
    ("TBD:", re.compile(r"\b(?:TBD|TODO|FIXME|TBC)\s*:")),
)

_PROFANITY = re.compile(
    r"\b(?:fuck\w*|shit\w*|bullshit|bitch\w*|asshole\w*|bastard\w*|dickhead\w*|motherfuck\w*|cunt\w*|"
    r"wank\w*|retarded|idiot\w*|moron\w*|stupid|dumbass|crap(?:py)?|scheiße|scheisse|arschloch|putain|merde|"
    r"connard\w*|mierda|gilipollas|cabrón)\b",
    re.IGNORECASE,
)
_MENTION = re.compile(r"\[~(?:accountid:)?[^\]\n]{1,128}\]")

#: Rejections of what a model wrote that the pipeline answers with the offline draft instead.
MODEL_OUTPUT_REJECTIONS = frozenset({"reply_prompt_leak", "reply_false_action"})

# Prompt reproduction: a run of this many words found in the system texts (phrases of a task description
# can recur in an honest reply, "the current state, decisions made, open questions and next steps" is
# ten), or a whole line or sentence of at least LEAK_MIN_SENTENCE_WORDS words of them.
LEAK_SHINGLE_WORDS = 6
LEAK_RUN_WORDS = 14
LEAK_MIN_SENTENCE_WORDS = 6
_WORDS = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# First-person claims of a change in Jira: "I have transitioned this issue", "I've closed it and reassigned
# it", "I went ahead and assigned PROJ-1". The clause of a sentence that starts "I (have) <action verb>" is
# searched for every action on the issue. History ("the status changed to Done", "Alex closed it") and
# others' actions are not claims.
_ACTION_VERBS = (
    r"(?:transitioned|closed|resolved|re-?opened|(?:re|un)?assigned|deleted|removed|archived|moved|marked|"
    r"changed|updated|set)"
)
_CLAIM_START = re.compile(
    r"(?<![\w'’])I(?:\s+have|\s*['’]ve)?"
    r"(?:\s+(?:just|now|already|also|successfully|(?:gone|went)\s+ahead\s+and))*\s+"
    rf"(?={_ACTION_VERBS}\b)",
    re.IGNORECASE,
)
_ACTION = re.compile(
    rf"\b(?P<verb>{_ACTION_VERBS})\s+"
    r"(?:(?:this|the|your|that)\s+(?:jira\s+)?(?:issue|ticket|task|bug|story|epic|request|comment|status|"
    r"priority|assignee|resolution)\b|it\b|this\b|[A-Z][A-Z0-9_]+-\d+\b)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.!?;:\n]")
#: Verbs a reply may use about a transition the app made in this run.
_TRANSITION_VERBS = frozenset(
    {"transitioned", "closed", "resolved", "moved", "marked", "changed", "updated", "set"}
)


def apply_note(markdown: str, note: str | None) -> str:
    """Label a reply with its note once: merged into the offline label when there is one, else on top."""
    if not note or f"_{note.strip()}" in markdown:
        return markdown
    note = note.strip()
    for language, label in messages.offline_labels():
        if label in markdown:
            merged = messages.text("offline.label_merged", language, note=note.rstrip("."))
            return markdown.replace(label, merged, 1)
    return f"_{note}_\n\n{markdown}"


@dataclass
class ValidatedReply:
    """A reply ready to post: final Markdown, its ADF, warnings, and whether ADF fell back to plain text."""

    markdown: str
    adf: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    used_fallback_adf: bool = False


# ------------------------------------------------------------------------------------------ helpers


def _outside_code(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that are not fenced code blocks or inline code."""
    position = 0
    for match in _FENCE.finditer(text):
        if match.start() > position:
            yield position, match.start()
        position = match.end()
    if position < len(text):
        yield position, len(text)


def _prose(text: str) -> str:
    """``text`` with code blocks and inline code blanked out (same length, line structure kept)."""
    chars = list(text)
    for match in _FENCE.finditer(text):
        for i in range(match.start(), match.end()):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def redact_secrets(text: str) -> tuple[str, list[str]]:
    """``text`` with credentials replaced by ``[redacted]``, and the kinds found."""
    kinds: list[str] = []
    for kind, pattern, replacement in _SECRETS:
        text, count = pattern.subn(replacement, text)
        if count:
            kinds.append(kind)
    return text, kinds


def find_placeholder(text: str) -> str | None:
    """The first unfilled template placeholder outside code, or None."""
    prose = _prose(text)
    for _kind, pattern in _PLACEHOLDERS:
        match = pattern.search(prose)
        if match:
            return match.group(0)
    return None


def neutralise_trigger(text: str, trigger: str) -> tuple[str, int]:
    """Rewrite the trigger to ``AI`` wherever a line starts with it (after whitespace/markup)."""
    if not trigger:
        return text, 0
    # Any whitespace but a newline, markup, or an invisible character, as the trigger detector skips them.
    # Possessive: no backtracking on long runs of markup characters.
    markup = rf"(?:[^\S\n]|[>*_~`#+\-{INVISIBLE_CHARS}])*+"
    pattern = re.compile(
        rf"(?im)^(?P<lead>{markup}(?:\d++[.)]{markup})?)" + re.escape(trigger) + r"(?![\w-])"
    )
    return pattern.subn(lambda m: m.group("lead") + TRIGGER_REPLACEMENT, text)


def remove_mentions(text: str) -> tuple[str, int]:
    """Replace Jira wiki mentions (``[~accountid:...]``, ``[~user]``) with plain text."""
    return _MENTION.subn("a teammate", text)


def tone_problem(text: str) -> str | None:
    """Why the reply's tone is unacceptable (profanity, shouting), or None."""
    prose = _prose(text)
    match = _PROFANITY.search(prose)
    if match:
        return "it contains profanity or abusive language"
    for paragraph in re.split(r"\n\s*\n", prose):
        letters = [c for c in paragraph if c.isalpha()]
        words = re.findall(r"[^\W\d_]{2,}", paragraph)
        if len(letters) >= 20 and len(words) >= 4:
            upper = sum(1 for c in letters if c.isupper())
            if upper / len(letters) >= 0.8:
                return "a paragraph is written in capital letters (shouting)"
    return None


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(text)]


@functools.lru_cache(maxsize=8)
def _instruction_index(trigger: str) -> tuple[frozenset[tuple[str, ...]], tuple[str, ...]]:
    """The system texts' word shingles, and their lines and sentences of enough words (space-joined)."""
    shingles: set[tuple[str, ...]] = set()
    sentences: set[str] = set()
    for text in instruction_texts(trigger):
        words = _words(text)
        last = len(words) - LEAK_SHINGLE_WORDS
        shingles.update(tuple(words[i:i + LEAK_SHINGLE_WORDS]) for i in range(last + 1))
        for line in text.splitlines():
            for sentence in (line, *_SENTENCE_END.split(line)):
                sentence_words = _words(sentence)
                if len(sentence_words) >= LEAK_MIN_SENTENCE_WORDS:
                    sentences.add(" ".join(sentence_words))
    return frozenset(shingles), tuple(sorted(sentences))


def prompt_leak(text: str, *, trigger: str = "@ai") -> bool:
    """True when ``text`` reproduces the system prompt: a line or sentence of it, or a long run of it."""
    shingles, sentences = _instruction_index(trigger)
    words = _words(text)
    joined = f" {' '.join(words)} "
    if any(f" {sentence} " in joined for sentence in sentences):
        return True
    run_end = -1  # the end (exclusive) of the current run of words covered by shared shingles
    run_start = 0
    for i in range(len(words) - LEAK_SHINGLE_WORDS + 1):
        if tuple(words[i:i + LEAK_SHINGLE_WORDS]) not in shingles:
            continue
        if i > run_end:
            run_start = i
        run_end = i + LEAK_SHINGLE_WORDS
        if run_end - run_start >= LEAK_RUN_WORDS:
            return True
    return False


def false_action_claim(text: str, *, transitioned: bool = False) -> str | None:
    """The verb of a first-person claim of a Jira change the app did not make (outside code), or None.

    ``transitioned``: the app moved the issue in this run, so claims of that move are true.
    """
    prose = _prose(text)
    for start in _CLAIM_START.finditer(prose):
        end = _CLAUSE_END.search(prose, start.end())
        clause = prose[start.end():end.start() if end else len(prose)]
        for action in _ACTION.finditer(clause):
            verb = action.group("verb").lower()
            if not (transitioned and verb in _TRANSITION_VERBS):
                return verb
    return None


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut at a paragraph boundary so that, with the suffix, it fits in ``max_chars``."""
    suffix = f"\n\n{TRUNCATION_SUFFIX}"
    budget = max(0, max_chars - len(suffix) - 4)
    head = text[:budget]
    for separator in ("\n\n", "\n", " "):
        cut = head.rfind(separator)
        if cut >= budget * 0.5:
            head = head[:cut]
            break
    head = head.rstrip()
    if head.count("```") % 2 == 1:
        head += "\n```"
    return head + suffix


def _has_mention_node(node: Any) -> bool:
    if isinstance(node, dict):
        if node.get("type") == "mention":
            return True
        return any(_has_mention_node(child) for child in node.get("content") or [])
    return False


# ------------------------------------------------------------------------------------------ entry point


def validate_reply(draft: Draft, *, trigger: str = "@ai", max_chars: int = 12000) -> ValidatedReply:
    """Check and repair ``draft``; return the Markdown and ADF to post.

    Raises :class:`ValidationFailedError` when the reply is empty, has unfilled placeholders,
    an unacceptable tone, or cannot be expressed as valid ADF even as plain text; and when a model-written
    reply reproduces the system prompt or claims a change in Jira the app did not make.
    """
    # Invisible characters (zero-width, bidi controls) cannot hide a trigger, a placeholder or a rude word.
    markdown = strip_invisible(draft.markdown or "").strip()
    if not markdown:
        raise ValidationFailedError("The generated reply is empty.", code="reply_empty")
    warnings: list[str] = []

    markdown, kinds = redact_secrets(markdown)
    warnings += [f"secret_redacted:{kind}" for kind in kinds]

    placeholder = find_placeholder(markdown)
    if placeholder:
        raise ValidationFailedError(
            f"The generated reply contains an unfilled placeholder ({placeholder[:40]!r}).",
            code="reply_placeholder",
        )
    problem = tone_problem(markdown)
    if problem:
        raise ValidationFailedError(f"The generated reply was rejected because {problem}.", code="reply_tone")
    if draft.model and not draft.offline:
        _check_model_output(markdown, draft, trigger)

    markdown, mentions = remove_mentions(markdown)
    if mentions:
        warnings.append("mention_removed")

    markdown = apply_note(markdown, draft.note)

    markdown, echoes = neutralise_trigger(markdown, trigger)
    if echoes:
        warnings.append("trigger_neutralised")

    if len(markdown) > max_chars:
        markdown = truncate(markdown, max_chars)
        warnings.append("truncated")

    adf, used_fallback = _to_adf(markdown, warnings)
    if extract_request(adf_to_text(adf), trigger=trigger) is not None:
        # Markdown can spell the trigger so that only the rendered text shows it ("\\@ai", "**@**ai",
        # "&#64;ai"): the reply is posted as its plain text with the trigger neutralised instead.
        plain, _count = neutralise_trigger(strip_invisible(adf_to_text(adf)), trigger)
        adf, used_fallback = plain_text_adf(plain), True
        warnings.append("trigger_neutralised")
    return ValidatedReply(markdown=markdown, adf=adf, warnings=warnings, used_fallback_adf=used_fallback)


def _check_model_output(markdown: str, draft: Draft, trigger: str) -> None:
    """Reject what only a model that followed injected instructions would write (no content is logged)."""
    if prompt_leak(markdown, trigger=trigger):
        raise ValidationFailedError("The generated reply reproduces the assistant's instructions.",
                                    code="reply_prompt_leak")
    transitioned = draft.data.get("action_result") == "transitioned"
    verb = false_action_claim(markdown, transitioned=transitioned)
    if verb:
        raise ValidationFailedError(f"The generated reply claims an action the app did not take ({verb}).",
                                    code="reply_false_action")


def _to_adf(markdown: str, warnings: list[str]) -> tuple[dict[str, Any], bool]:
    """Markdown -> ADF validated against the schema; plain-text ADF when conversion fails or is invalid."""
    try:
        adf = markdown_to_adf(markdown)
        errors = validate_adf(adf)
        if not errors and _has_mention_node(adf):
            errors = ["the document contains a mention node"]
    except Exception as exc:  # a converter bug must not lose the reply: fall back to plain text
        log.warning("markdown to ADF conversion failed: %s", type(exc).__name__)
        errors = [f"conversion failed ({type(exc).__name__})"]
    if not errors:
        return adf, False
    warnings.append(f"adf_fallback:{errors[0][:120]}")
    plain = plain_text_adf(markdown)
    plain_errors = validate_adf(plain)
    if plain_errors:
        raise ValidationFailedError(
            f"The reply could not be converted to a valid Jira document: {plain_errors[0][:200]}",
            code="reply_adf_invalid",
        )
    return plain, True
