"""Deterministic drafts from templates and the issue's own data, for when no model can answer.

Every draft ends with a visible label saying it was generated without an AI model. The writer never
invents: each line comes from a field, a description sentence or a comment of the issue. The framing
(headings, field names, sentences around the data) is in the request's language (``messages``); the
issue's own data stays as written.
"""

from __future__ import annotations

import re
from typing import Any

from ...models import CommentInfo, Draft, Intent, IssueContext
from ..messages import is_offline_label, text
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


def open_questions(comments: list[CommentInfo], language: str = "en") -> list[str]:
    """Sentences ending in '?' in the comments, newest first, with their author."""
    found: list[str] = []
    for comment in reversed(comments):
        for sentence in sentences(comment.text):
            if sentence.endswith("?") and len(sentence.split()) >= 3:
                item = f"{gist(sentence)} ({comment.author_name or text('someone', language)})"
                if item not in found:
                    found.append(item)
    return found[:MAX_QUESTIONS]


def decisions(comments: list[CommentInfo], language: str = "en") -> list[str]:
    """Sentences in the comments that record a decision, newest first, with their author."""
    found: list[str] = []
    for comment in reversed(comments):
        for sentence in sentences(comment.text):
            if _DECISION.search(sentence) and not sentence.endswith("?"):
                item = f"{gist(sentence)} ({comment.author_name or text('someone', language)})"
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


def _field_lines(context: IssueContext, *, full: bool = True, language: str = "en") -> list[str]:
    def field(name: str, value: str) -> str:
        return f"- {text(f'field.{name}', language)}: {value}"

    status = context.status or text("field.not_recorded", language)
    if context.status_category and context.status_category.lower() != status.lower():
        status += f" ({context.status_category})"
    assignee = context.assignee or text("field.unassigned", language)
    lines = [field("status", status), field("assignee", assignee)]
    if context.priority:
        lines.append(field("priority", context.priority))
    lines.append(field("due_date", short_date(context.due_date) or text("field.not_set", language)))
    if full and context.reporter:
        lines.append(field("reporter", context.reporter))
    if full and context.labels:
        lines.append(field("labels", ", ".join(context.labels)))
    return lines


def _title(context: IssueContext) -> str:
    return f"{context.key}: {context.summary}" if context.summary else context.key


# ------------------------------------------------------------------------------------------ the writer


class OfflineWriter:
    """Writes useful drafts per intent from templates and issue data; deterministic, no model."""

    def __init__(self, label: str = OFFLINE_LABEL) -> None:
        self.label = label

    def label_for(self, language: str) -> str:
        """The label in ``language`` (a custom label given to the writer is used as is)."""
        return text("offline.label", language) if self.label == OFFLINE_LABEL else self.label

    def _draft(self, intent: Intent, body: str, language: str = "en", **fields: Any) -> Draft:
        label = self.label_for(language)
        draft = Draft(intent=intent, markdown=f"{body.strip()}\n\n{label}", offline=True, **fields)
        draft.data.setdefault("offline_template", intent.value)
        draft.data["language"] = language
        return draft

    # -------------------------------------------------------------- summary
    def summary(self, req: GenerationRequest) -> Draft:
        """State, background, recent activity, decisions and open questions from the issue."""
        ctx, lang = req.context, req.language
        people = human_comments(ctx, req.trigger)
        parts = [text("summary.title", lang, title=_title(ctx)), "", text("summary.current_state", lang),
                 *_field_lines(ctx, language=lang)]
        background = " ".join(sentences(ctx.description)[:2])
        parts += ["", text("summary.background", lang), background or text("summary.no_description", lang)]
        parts += ["", text("summary.recent", lang)]
        recent = people[-3:]
        parts += [
            f"- {c.author_name or text('someone_start', lang)}"
            f"{f' ({short_date(c.created)})' if c.created else ''}: {gist(c.text, trigger=req.trigger)}"
            for c in reversed(recent)
        ] or [text("summary.no_comments", lang)]
        found = decisions(people, lang)
        parts += ["", text("summary.decisions", lang), *(f"- {d}" for d in found)]
        if not found:
            parts.append(text("summary.no_decisions", lang))
        questions = open_questions(people, lang)
        parts += ["", text("summary.questions", lang), *(f"- {q}" for q in questions)]
        if not questions:
            parts.append(text("summary.no_questions", lang))
        return self._draft(Intent.SUMMARY_REQUEST, "\n".join(parts), lang)

    # -------------------------------------------------------------- comment
    def comment(self, req: GenerationRequest) -> Draft:
        """A status update from the issue's fields and latest comment (or a shortened previous reply)."""
        target, lang = req.refine_target, req.language
        if target and _SHORTER.search(req.request):
            shortened = self._shorten(target)
            return self._draft(req.intent, shortened, lang, data={"refined": True})
        ctx = req.context
        parts: list[str] = []
        if target:
            parts += [text("comment.cant_rewrite", lang), ""]
        elif not _STATUS_WORDS.search(req.request or ""):
            parts += [text("comment.cant_tailor", lang), ""]
        parts += [text("comment.title", lang, title=_title(ctx)), ""]
        parts += _field_lines(ctx, full=False, language=lang)
        people = human_comments(ctx, req.trigger)
        if people:
            last = people[-1]
            when = f", {short_date(last.created)}" if last.created else ""
            who = last.author_name or text("someone", lang)
            latest = gist(last.text, trigger=req.trigger)
            parts.append(text("comment.latest", lang, who=who, when=when, text=latest))
        parts += ["", _next_step(ctx, language=lang)]
        questions = open_questions(people, lang)
        if questions:
            parts += ["", text("comment.questions", lang), *(f"- {q}" for q in questions[:3])]
        return self._draft(Intent.COMMENT_REQUEST, "\n".join(parts), lang)

    @staticmethod
    def _shorten(text: str) -> str:
        blocks = [b.strip() for b in text.split("\n\n") if b.strip() and not is_offline_label(b)]
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
        ctx, lang = req.context, req.language
        tone = req.effective_tone or EMAIL_DEFAULT_TONE
        purpose = request_purpose(req.request)
        base_subject = f"{ctx.summary} ({ctx.key})" if ctx.summary else ctx.key
        subject = clean_subject(
            text("email.subject_purpose", lang, purpose=purpose, subject=base_subject) if purpose
            else text("email.subject", lang, subject=base_subject)
        )
        paragraphs = [_greeting(recipient, tone, ctx, lang)]
        about = f"\u201c{ctx.summary}\u201d ({ctx.key})" if ctx.summary else ctx.key
        opening = tone if tone in ("apologetic", "friendly", "concise") else "formal"
        paragraphs.append(text(f"email.open.{opening}", lang, about=about))
        paragraphs.append(_status_sentence(ctx, lang))
        people = human_comments(ctx, req.trigger)
        if people and tone != "concise":
            paragraphs.append(text("email.latest", lang, text=gist(people[-1].text, trigger=req.trigger)))
        paragraphs.append(_next_step(ctx, email=True, language=lang))
        closing = text(f"signoff.{opening}", lang)
        if ctx.requester_name:
            closing += f"\n{ctx.requester_name}"
        paragraphs.append(closing)
        body = "\n\n".join(paragraphs)
        draft = email_draft(subject, body, tone=tone, recipient=recipient, label=self.label_for(lang))
        draft.offline = True
        draft.data["offline_template"] = Intent.EMAIL_REQUEST.value
        draft.data["language"] = lang
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
        lang = req.language
        lines = [text("note.title", lang), ""]
        if from_status and to_status:
            lines.append(text("note.status_change", lang, from_status=from_status, to_status=to_status)
                         + (text("note.via", lang, name=transition_name) if transition_name else ""))
        elif to_status or transition_name:
            lines.append(text("note.status", lang, status=to_status or transition_name))
        words = own_words(req.request, trigger=req.trigger)
        if words:
            lines.append(text("note.what", lang, words=words))
        statements = [c for c in human_comments(req.context, req.trigger) if not gist(c.text).endswith("?")]
        people = statements[-2:]
        for comment in reversed(people):
            author = comment.author_name or text("note.a_comment", lang)
            lines.append(text("note.from", lang, author=author, text=gist(comment.text, trigger=req.trigger)))
        if not words and not people:
            lines.append(text("note.no_details", lang))
        return self._draft(Intent.TASK_COMPLETION, "\n".join(lines), lang)


_RECIPIENTS = frozenset({"customer", "vendor", "stakeholders", "team"})


def _greeting(recipient: str | None, tone: str, ctx: IssueContext, language: str = "en") -> str:
    formal = tone in ("formal", "apologetic")
    if recipient == "reporter" and ctx.reporter:
        return text("email.dear_name" if formal else "email.hi_name", language, name=ctx.reporter)
    who = recipient if recipient in _RECIPIENTS else "other"
    return text(f"greet.{who}.{'formal' if formal else 'casual'}", language)


def _status_sentence(ctx: IssueContext, language: str = "en") -> str:
    parts = [text("email.status", language, status=ctx.status or text("field.not_recorded", language))]
    if ctx.assignee and _category(ctx) != "done":
        parts.append(text("email.assigned", language, name=ctx.assignee))
    if ctx.due_date:
        parts.append(text("email.due", language, date=short_date(ctx.due_date)))
    return " ".join(parts)


def _next_step(ctx: IssueContext, *, email: bool = False, language: str = "en") -> str:
    category = _category(ctx)
    if category not in ("done", "in_progress", "todo"):
        category = "unknown"
    return text(f"email.next.{category}" if email else f"next.{category}", language)
