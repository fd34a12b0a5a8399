"""Static texts: the command list (help) and the clarifying question (unclear). No model, no cost.

Both are written in the request's language (``messages``); the examples are requests the classifier
understands in that language.
"""

from __future__ import annotations

from ...models import Draft, Intent
from .. import prompts
from ..messages import text
from .base import GenerationRequest

MAX_ECHO_CHARS = 120

# The intents the assistant offers, in the order they are listed.
CAPABILITIES: tuple[Intent, ...] = (
    Intent.SUMMARY_REQUEST,
    Intent.EMAIL_REQUEST,
    Intent.COMMENT_REQUEST,
    Intent.TASK_COMPLETION,
)
_EXTRA_EXAMPLES = frozenset({Intent.SUMMARY_REQUEST, Intent.COMMENT_REQUEST})
_ACTIONS = frozenset(intent.value for intent in CAPABILITIES)


def _example(trigger: str, words: str) -> str:
    return f"`{trigger} {words}`"


def help_text(trigger: str = "@ai", language: str = "en") -> str:
    """The command list with examples, in Markdown (no line starts with the trigger)."""
    lines = [text("help.intro", language, trigger=trigger), ""]
    for intent in CAPABILITIES:
        examples = [_example(trigger, text(f"example.{intent.value}", language))]
        if intent in _EXTRA_EXAMPLES:
            examples.append(_example(trigger, text(f"example2.{intent.value}", language)))
        label = text(f"cap.{intent.value}", language)
        lines.append(f"- **{label}:** {text('help.or', language).join(examples)}")
    refine = [_example(trigger, text(f"example.{kind}", language)) for kind in ("shorter", "formal")]
    lines.append(f"- **{text('help.refine', language)}:** {text('help.or', language).join(refine)}")
    lines += ["", text("help.transition_note", language), "", text("help.tone_note", language)]
    return "\n".join(lines)


def _echo(words: str) -> str:
    flat = " ".join((words or "").split()).replace("`", "'")
    if len(flat) > MAX_ECHO_CHARS:
        flat = flat[: MAX_ECHO_CHARS - 1].rstrip() + "…"
    return flat


def _understood(req: GenerationRequest) -> str | None:
    details = req.classification.details if req.classification else {}
    negated = [i for i in details.get("negated_intents", []) if i in _ACTIONS]
    if negated:
        return text("clarify.negated", req.language, action=text(f"do.{negated[0]}", req.language))
    scores = details.get("scores") or {}
    candidates = [(score, intent) for intent, score in scores.items() if intent in _ACTIONS and score > 0]
    for key in ("local_intent", "rules_intent"):
        if details.get(key) in _ACTIONS:
            candidates.append((0.1, details[key]))
    if candidates:
        _, intent = max(candidates)
        return text("clarify.maybe", req.language, action=text(f"do.{intent}", req.language))
    return None


def help_draft(req: GenerationRequest) -> Draft:
    """The help reply (static, cost 0), in the request's language."""
    version = prompts.PROMPT_VERSIONS[Intent.HELP]
    return Draft(intent=Intent.HELP, markdown=help_text(req.trigger, req.language), prompt_version=version)


def clarify_draft(req: GenerationRequest) -> Draft:
    """A short clarifying question that echoes what was understood and lists what the assistant can do."""
    lang = req.language
    echo = _echo(req.request)
    lines = [text("clarify.unsure_echo", lang, echo=echo) if echo else text("clarify.unsure", lang)]
    understood = _understood(req)
    if understood:
        lines.append(understood)
    lines += ["", text("clarify.i_can", lang)]
    for intent in CAPABILITIES:
        lines.append(text("clarify.item", lang, label=text(f"cap.{intent.value}", lang),
                          example=_example(req.trigger, text(f"example.{intent.value}", lang))))
    lines += ["", text("clarify.which", lang)]
    return Draft(
        intent=Intent.UNCLEAR,
        markdown="\n".join(lines),
        prompt_version=prompts.PROMPT_VERSIONS[Intent.UNCLEAR],
        data={"understood": understood},
    )
