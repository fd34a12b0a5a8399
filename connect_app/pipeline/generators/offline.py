"""Deterministic drafts from templates and the issue's own data, for when no model can answer.

Every draft ends with a visible label saying it was generated without an AI model. The writer never
invents: each line comes from a field, a description sentence or a comment of the issue.
"""

from __future__ import annotations

import re
from typing import Any

from ...models import CommentInfo, Draft, Intent, IssueContext
from .base import EMAIL_DEFAULT_TONE, OFFLINE_LABEL, GenerationRequest
from .email_format import clean_subject, email_draft

MAX_GIST_CHARS = 220
MAX_QUESTIONS = 5
MAX_DECISIONS = 5

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_DECISION = re.compile(r"\b(?:decided|agreed|we will|we'll|going with|approved|decision)\b", re.IGNORECASE)
_PURPOSE = re.compile(
    r"\b(?:about|regarding|concerning|on the subject of|re:)\s+(?P<purpose>[^.,;!?\n]{3,80})", re.IGNORECASE
)
_COMPLETION_PHRASES = re.compile(
    r"\b(?:please\s+)?(?:mark|set|move|transition|flag)\s+(?:it|this|that|the\s+\w+)?\s*(?:as\s+|to\s+)?"
    r"(?:done|completed?|resolved|finished|closed|fixed)\b|\b(?:please\s+)?(?:close|wrap)\s+(?:it|this|that|the\s+\w+)?"
    r"\s*(?:out|up)\b|\b(?:please\s+)?(?:close|resolve|complete|finish)\s+(?:it|this|that|the\s+\w+)\b|"
    r"^\W*(?:please\s+)?(?:close|resolve|done)\b(?:\s+(?:it|this|that)\b)?",
    re.IGNORECASE,
)
_LEADING_FILLER = re.compile(
    r"^(?:\W+|and\b|then\b|because\b|since\b|as\b|with\b|(?:add\s+a\s+)?note\s+(?:that|saying)?|"
    r"(?:please\s+)?(?:record|say|mention|log|write)\s+(?:that|down)?|that\b)\s*",
    re.IGNORECASE,
)
_SIGN_OFFS = {"friendly": "Best,", "concise": "Regards,", "apologetic": "With apologies and kind regards,"}
_STATUS_WORDS = re.compile(r"\b(?:status|update|progress|where|state)\b", re.IGNORECASE)
_SHORTER = re.compile(
    r"\b(?:short|shorter|brief|briefer|concise|condense|shorten|too\s+long|kürzer|court|corto)\b",
    re.IGNORECASE,
)


# ------------------------------------------------------------------------------------------ text helpers


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (whitespace collapsed)."""
    flat = " ".join((text or "").split())
    return [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]


def gist(text: str, limit: int = MAX_GIST_CHARS, *, trigger: str = "@ai") -> str:
    """The first sentence of ``text`` (leading trigger removed), cut to ``limit`` characters."""
    flat = " ".join((text or "").split())
    if flat.lower().startswith(trigger.lower()):
        flat = flat[len(trigger):].lstrip(" ,:")
    first = sentences(flat)[0] if flat else ""
    if len(first) > limit:
        first = first[: limit - 1].rsplit(" ", 1)[0] + "…"
    return first


def short_date(value: str) -> str:
    """The date part of an ISO timestamp (the value itself otherwise)."""
    return value[:10] if re.match(r"\d{4}-\d{2}-\d{2}", value or "") else (value or "")


def human_comments(context: IssueContext, trigger: str = "@ai") -> list[CommentInfo]:
    """Comments written by people, without requests to the assistant."""
    return [
        c for c in context.comments
        if not c.is_ai and c.text.strip() and not c.text.strip().lower().startswith(trigger.lower())
    ]


def open_questions(comments: list[CommentInfo]) -> list[str]:
    """Sentences ending in '?' in the comments, newest first, with their author."""
    found: list[str] = []
    for comment in reversed(comments):
        for sentence in sentences(comment.text):
            if sentence.endswith("?") and len(sentence.split()) >= 3:
                item = f"{gist(sentence)} ({comment.author_name or 'someone'})"
                if item not in found:
                    found.append(item)
    return found[:MAX_QUESTIONS]


def decisions(comments: list[CommentInfo]) -> list[str]:
    """Sentences in the comments that record a decision, newest first, with their author."""
    found: list[str] = []
    for comment in reversed(comments):
        for sentence in sentences(comment.text):
            if _DECISION.search(sentence) and not sentence.endswith("?"):
                item = f"{gist(sentence)} ({comment.author_name or 'someone'})"
                if item not in found:
                    found.append(item)
    return found[:MAX_DECISIONS]


def request_purpose(request: str) -> str | None:
    """What an email is about, from "about ..."/"regarding ..." in the request."""
    match = _PURPOSE.search(request or "")
    return match.group("purpose").strip() if match else None


def own_words(request: str, *, trigger: str = "@ai") -> str | None:
    """What the requester said was done, with the command words removed ("mark done and note X" -> "X")."""
    text = " ".join((request or "").split())
    if text.lower().startswith(trigger.lower()):
        text = text[len(trigger):].strip()
    text = _COMPLETION_PHRASES.sub(" ", text).strip()
    previous = None
    while previous != text:
        previous, text = text, _LEADING_FILLER.sub("", text).strip()
    if len(text.split()) < 3 or text.lower().startswith(("what ", "how ", "why ")):
        return None
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _category(context: IssueContext) -> str:
    value = (context.status_category or context.status or "").strip().lower()
    if value in ("done", "closed", "resolved", "complete", "completed"):
        return "done"
    if value in ("in progress", "indeterminate", "in review", "review"):
        return "in_progress"
    if value in ("to do", "new", "open", "backlog", "todo"):
        return "todo"
    return "unknown"


def _field_lines(context: IssueContext, *, full: bool = True) -> list[str]:
    status = context.status or "not recorded"
    if context.status_category and context.status_category.lower() != status.lower():
        status += f" ({context.status_category})"
    lines = [f"- Status: {status}", f"- Assignee: {context.assignee or 'Unassigned'}"]
    if context.priority:
        lines.append(f"- Priority: {context.priority}")
    lines.append(f"- Due date: {short_date(context.due_date) or 'not set'}")
    if full and context.reporter:
        lines.append(f"- Reporter: {context.reporter}")
    if full and context.labels:
        lines.append(f"- Labels: {', '.join(context.labels)}")
    return lines


def _title(context: IssueContext) -> str:
    return f"{context.key}: {context.summary}" if context.summary else context.key


# ------------------------------------------------------------------------------------------ the writer


class OfflineWriter:
    """Writes useful drafts per intent from templates and issue data; deterministic, no model."""

    def __init__(self, label: str = OFFLINE_LABEL) -> None:
        self.label = label

    def _draft(self, intent: Intent, body: str, **fields: Any) -> Draft:
        draft = Draft(intent=intent, markdown=f"{body.strip()}\n\n{self.label}", offline=True, **fields)
        draft.data.setdefault("offline_template", intent.value)
        return draft

    # -------------------------------------------------------------- summary
    def summary(self, req: GenerationRequest) -> Draft:
        """State, background, recent activity, decisions and open questions from the issue."""
        ctx = req.context
        people = human_comments(ctx, req.trigger)
        parts = [f"**Summary of {_title(ctx)}**", "", "**Current state**", *_field_lines(ctx)]
        background = " ".join(sentences(ctx.description)[:2])
        parts += ["", "**Background**", background or "No description has been written yet."]
        parts += ["", "**Recent activity**"]
        recent = people[-3:]
        parts += [
            f"- {c.author_name or 'Someone'}{f' ({short_date(c.created)})' if c.created else ''}: "
            f"{gist(c.text, trigger=req.trigger)}"
            for c in reversed(recent)
        ] or ["- No comments yet."]
        found = decisions(people)
        parts += ["", "**Decisions**", *(f"- {d}" for d in found)]
        if not found:
            parts.append("- None recorded in the comments.")
        questions = open_questions(people)
        parts += ["", "**Open questions**", *(f"- {q}" for q in questions)]
        if not questions:
            parts.append("- None found in the comments.")
        return self._draft(Intent.SUMMARY_REQUEST, "\n".join(parts))

    # -------------------------------------------------------------- comment
    def comment(self, req: GenerationRequest) -> Draft:
        """A status update from the issue's fields and latest comment (or a shortened previous reply)."""
        target = req.refine_target
        if target and _SHORTER.search(req.request):
            shortened = self._shorten(target)
            return self._draft(req.intent, shortened, data={"refined": True})
        ctx = req.context
        parts: list[str] = []
        if target:
            parts += ["I can't rewrite the previous reply without an AI model; here is a fresh status update "
                      "from the issue's data.", ""]
        elif not _STATUS_WORDS.search(req.request or ""):
            parts += ["I can't write a tailored reply without an AI model, so here is the current state "
                      "recorded on the issue.", ""]
        parts += [f"**Status update on {_title(ctx)}**", "", *_field_lines(ctx, full=False)]
        people = human_comments(ctx, req.trigger)
        if people:
            last = people[-1]
            when = f", {short_date(last.created)}" if last.created else ""
            parts.append(f"- Latest update ({last.author_name or 'someone'}{when}): "
                         f"{gist(last.text, trigger=req.trigger)}")
        parts += ["", _next_step(ctx)]
        questions = open_questions(people)
        if questions:
            parts += ["", "Open questions:", *(f"- {q}" for q in questions[:3])]
        return self._draft(Intent.COMMENT_REQUEST, "\n".join(parts))

    @staticmethod
    def _shorten(text: str) -> str:
        blocks = [b.strip() for b in text.split("\n\n") if b.strip() and not b.strip().startswith("_Offline")]
        kept: list[str] = []
        for block in blocks:
            if block.startswith(("- ", "* ")):
                kept.append("\n".join(block.splitlines()[:3]))
            else:
                kept.append(" ".join(sentences(block)[:2]))
            if len(kept) == 2:
                break
        return "\n\n".join(kept) or gist(text)

    # -------------------------------------------------------------- email
    def email(self, req: GenerationRequest, *, recipient: str | None) -> Draft:
        """An email with subject, greeting by recipient and tone, status, next steps and sign-off."""
        ctx = req.context
        tone = req.effective_tone or EMAIL_DEFAULT_TONE
        purpose = request_purpose(req.request)
        base_subject = f"{ctx.summary} ({ctx.key})" if ctx.summary else ctx.key
        subject = clean_subject(
            f"Update on {purpose}: {base_subject}" if purpose else f"Update: {base_subject}"
        )
        paragraphs = [_greeting(recipient, tone, ctx)]
        about = f"\u201c{ctx.summary}\u201d ({ctx.key})" if ctx.summary else ctx.key
        if tone == "apologetic":
            paragraphs.append(f"I'm sorry for the inconvenience around {about}, and thank you for your "
                              "patience. Here is where things stand.")
        elif tone == "friendly":
            paragraphs.append(f"Here's a quick update on {about}.")
        elif tone == "concise":
            paragraphs.append(f"Update on {about}:")
        else:
            paragraphs.append(f"I am writing with an update on {about}.")
        paragraphs.append(_status_sentence(ctx))
        people = human_comments(ctx, req.trigger)
        if people and tone != "concise":
            paragraphs.append(f"Latest update: {gist(people[-1].text, trigger=req.trigger)}")
        paragraphs.append(_next_step(ctx, email=True))
        closing = _SIGN_OFFS.get(tone, "Kind regards,")
        if ctx.requester_name:
            closing += f"\n{ctx.requester_name}"
        paragraphs.append(closing)
        body = "\n\n".join(paragraphs)
        draft = email_draft(subject, body, tone=tone, recipient=recipient, label=self.label)
        draft.offline = True
        draft.data["offline_template"] = Intent.EMAIL_REQUEST.value
        return draft

    # -------------------------------------------------------------- completion note
    def completion_note(
        self,
        req: GenerationRequest,
        *,
        transition_name: str | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
    ) -> Draft:
        """What was done, from the request's own words and the latest comments."""
        lines = ["**Completion note**", ""]
        if from_status and to_status:
            lines.append(f"- Status: {from_status} → {to_status}"
                         + (f" (via \u201c{transition_name}\u201d)" if transition_name else ""))
        elif to_status or transition_name:
            lines.append(f"- Status: {to_status or transition_name}")
        words = own_words(req.request, trigger=req.trigger)
        if words:
            lines.append(f"- What was done: {words}")
        statements = [c for c in human_comments(req.context, req.trigger) if not gist(c.text).endswith("?")]
        people = statements[-2:]
        for comment in reversed(people):
            author = comment.author_name or "a comment"
            lines.append(f"- From {author}: {gist(comment.text, trigger=req.trigger)}")
        if not words and not people:
            lines.append("- No details of the work were recorded in the request or the recent comments.")
        return self._draft(Intent.TASK_COMPLETION, "\n".join(lines))


def _greeting(recipient: str | None, tone: str, ctx: IssueContext) -> str:
    formal = tone in ("formal", "apologetic")
    if recipient == "reporter" and ctx.reporter:
        return f"Dear {ctx.reporter}," if formal else f"Hi {ctx.reporter},"
    table = {
        "customer": ("Dear customer,", "Hi there,"),
        "vendor": ("Hello,", "Hi,"),
        "stakeholders": ("Dear stakeholders,", "Hi all,"),
        "team": ("Hello team,", "Hi team,"),
    }
    formal_greeting, casual_greeting = table.get(recipient or "", ("Hello,", "Hi,"))
    return formal_greeting if formal else casual_greeting


def _status_sentence(ctx: IssueContext) -> str:
    parts = [f"Current status: {ctx.status or 'not recorded'}."]
    if ctx.assignee and _category(ctx) != "done":
        parts.append(f"{ctx.assignee} is assigned to it.")
    if ctx.due_date:
        parts.append(f"The due date is {short_date(ctx.due_date)}.")
    return " ".join(parts)


def _next_step(ctx: IssueContext, *, email: bool = False) -> str:
    category = _category(ctx)
    if category == "done":
        return ("The issue is resolved. Please let us know if anything still does not work as expected."
                if email else "Next step: none recorded; the issue is resolved.")
    if category == "in_progress":
        return ("Work is in progress, and we will follow up with further updates."
                if email else "Next step: work is in progress; no further steps are recorded on the issue.")
    if category == "todo":
        return ("The work has not started yet; we will follow up once it does."
                if email else "Next step: the work has not started yet.")
    return "We will follow up with further updates." if email else "Next step: not recorded on the issue."
