"""Static texts: the command list (help) and the clarifying question (unclear). No model, no cost."""

from __future__ import annotations

from ...models import Draft, Intent
from .. import prompts
from .base import GenerationRequest

MAX_ECHO_CHARS = 120

# (intent, what it does, example request without the trigger)
CAPABILITIES: tuple[tuple[Intent, str, str], ...] = (
    (Intent.SUMMARY_REQUEST, "Summarize the issue", "summarize this"),
    (Intent.EMAIL_REQUEST, "Draft an email", "draft an email to the customer about the delay"),
    (Intent.COMMENT_REQUEST, "Write a comment", "write a status update for the team"),
    (Intent.TASK_COMPLETION, "Complete the task", "mark this done and note what was fixed"),
)
_EXTRA_EXAMPLES: dict[Intent, str] = {
    Intent.SUMMARY_REQUEST: "what's the status?",
    Intent.COMMENT_REQUEST: "reply to the reporter's question",
}
_ACTIONS: dict[str, str] = {
    Intent.SUMMARY_REQUEST.value: "summarize the issue",
    Intent.EMAIL_REQUEST.value: "draft an email",
    Intent.COMMENT_REQUEST.value: "write a comment",
    Intent.TASK_COMPLETION.value: "complete or close the issue",
}


def _example(trigger: str, text: str) -> str:
    return f"`{trigger} {text}`"


def help_text(trigger: str = "@ai") -> str:
    """The command list with examples, in Markdown (no line starts with the trigger)."""
    lines = [f"**Here is what I can do.** Write `{trigger}` followed by your request in a comment:", ""]
    for intent, label, example in CAPABILITIES:
        examples = [_example(trigger, example)]
        if intent in _EXTRA_EXAMPLES:
            examples.append(_example(trigger, _EXTRA_EXAMPLES[intent]))
        lines.append(f"- **{label}:** {' or '.join(examples)}")
    lines.append(f"- **Refine my last reply:** {_example(trigger, 'make it shorter')} or "
                 f"{_example(trigger, 'more formal')}")
    lines += [
        "",
        "Completing a task moves the issue to its done status only when your permissions and the workflow "
        "allow it.",
        "",
        "Ask for a tone with words like *formal*, *friendly*, *brief* or *apologize*. "
        "I reply in the language you write in.",
    ]
    return "\n".join(lines)


def _echo(text: str) -> str:
    flat = " ".join((text or "").split()).replace("`", "'")
    if len(flat) > MAX_ECHO_CHARS:
        flat = flat[: MAX_ECHO_CHARS - 1].rstrip() + "…"
    return flat


def _understood(req: GenerationRequest) -> str | None:
    details = req.classification.details if req.classification else {}
    negated = [i for i in details.get("negated_intents", []) if i in _ACTIONS]
    if negated:
        return (f"I understood that you do not want me to {_ACTIONS[negated[0]]}, so I have not done that.")
    scores = details.get("scores") or {}
    candidates = [(score, intent) for intent, score in scores.items() if intent in _ACTIONS and score > 0]
    for key in ("local_intent", "rules_intent"):
        if details.get(key) in _ACTIONS:
            candidates.append((0.1, details[key]))
    if candidates:
        _, intent = max(candidates)
        return f"It sounds like you might want me to {_ACTIONS[intent]}."
    return None


def help_draft(req: GenerationRequest) -> Draft:
    """The help reply (static, cost 0)."""
    version = prompts.PROMPT_VERSIONS[Intent.HELP]
    return Draft(intent=Intent.HELP, markdown=help_text(req.trigger), prompt_version=version)


def clarify_draft(req: GenerationRequest) -> Draft:
    """A short clarifying question that echoes what was understood and lists what the assistant can do."""
    echo = _echo(req.request)
    opening = (f"I'm not sure what you'd like me to do with \u201c{echo}\u201d." if echo
               else "I'm not sure what you'd like me to do.")
    lines = [opening]
    understood = _understood(req)
    if understood:
        lines.append(understood)
    lines += ["", "I can:"]
    for _intent, label, example in CAPABILITIES:
        lines.append(f"- {label}, for example {_example(req.trigger, example)}")
    lines += ["", "Which would you like?"]
    return Draft(
        intent=Intent.UNCLEAR,
        markdown="\n".join(lines),
        prompt_version=prompts.PROMPT_VERSIONS[Intent.UNCLEAR],
        data={"understood": understood},
    )
