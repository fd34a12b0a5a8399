"""Email drafts as people copy them: subject/body parsing, the Markdown layout, recipient guessing."""

from __future__ import annotations

import re

from ...models import Draft, Intent

MAX_SUBJECT_CHARS = 150

_SUBJECT_LINE = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*|__)?\s*(?:subject|betreff|objet|asunto|oggetto|assunto|onderwerp)\s*(?:\*\*|__)?\s*:"
    r"\s*(?:\*\*|__)?(?P<subject>.*?)(?:\*\*|__)?\s*$",
    re.IGNORECASE,
)

_RECIPIENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("customer", r"\b(?:customers?|clients?|kunden?|kundin|clientes?|acheteur)\b"),
        ("vendor", r"\b(?:vendors?|suppliers?|lieferanten?|fournisseurs?|proveedor(?:es)?|contractors?)\b"),
        ("stakeholders", r"\b(?:stakeholders?|management|leadership|executives?|sponsors?)\b"),
        ("reporter", r"\b(?:reporter|requester|requestor)\b"),
        ("team", r"\b(?:team|équipe|equipo|colleagues|everyone|devs|developers)\b"),
    )
)


def guess_recipient(request: str) -> str | None:
    """Who the email is for, from the request's words: customer, vendor, stakeholders, reporter, team."""
    for name, pattern in _RECIPIENTS:
        if pattern.search(request or ""):
            return name
    return None


def clean_subject(subject: str) -> str:
    """A single-line subject without Markdown emphasis or quotes, at most 150 characters."""
    line = " ".join((subject or "").split()).strip("*_\"' ")
    if len(line) > MAX_SUBJECT_CHARS:
        line = line[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
    return line


def parse_email(text: str) -> tuple[str | None, str]:
    """Split a model's email into ``(subject, body)``; subject is None when there is no Subject line."""
    lines = (text or "").strip().splitlines()
    for index, line in enumerate(lines[:5]):
        match = _SUBJECT_LINE.match(line)
        if match and match.group("subject").strip():
            body = "\n".join(lines[index + 1:]).strip()
            return clean_subject(match.group("subject")), body
    return None, "\n".join(lines).strip()


def email_markdown(subject: str, body: str) -> str:
    """The reply layout: a bold subject line, a blank line, then the body."""
    return f"**Subject:** {subject}\n\n{body.strip()}"


def email_draft(
    subject: str, body: str, *, tone: str | None, recipient: str | None, label: str = ""
) -> Draft:
    """A Draft of an email (markdown, subject and ``data['email']``); ``label`` is appended when given."""
    markdown = email_markdown(subject, body)
    if label:
        markdown += f"\n\n{label}"
    return Draft(
        intent=Intent.EMAIL_REQUEST,
        markdown=markdown,
        subject=subject,
        data={"email": {"subject": subject, "body": body.strip(), "tone": tone, "recipient": recipient}},
    )
