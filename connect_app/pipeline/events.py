"""Turn a door's raw event payload into an :class:`AiEvent`, or say why it needs no work.

Pure functions: no I/O. Connect webhooks carry ``comment.body`` as Jira's webhook sends it (a wiki
markup string, mentions as ``[~accountid:…]``); Forge events carry ADF. Both are reduced to text.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequestError
from ..jira.adf import adf_to_text
from ..models import AiEvent

MAX_REQUEST_CHARS = 4000
MAX_ID_CHARS = 128
# Characters a reader does not see: C0 controls (not tab/newline), soft hyphen, zero-width and bidi
# controls, word joiners, the BOM. They are removed before looking for the trigger, so what counts as a
# request is what a person sees: "\u200b@ai help" is a request, and so is "@\u200bai help".
INVISIBLE_CHARS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
)
_INVISIBLE = re.compile(f"[{INVISIBLE_CHARS}]")
_WIKI_MENTION = re.compile(r"\[~accountid:([A-Za-z0-9:\-_]+)\]")
_LEADING_MARKUP = re.compile(r"^[\s>*_~\-+#]*")
_ID = re.compile(r"[A-Za-z0-9_\-]+")
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")
MAX_ISSUE_KEY_CHARS = 64


@dataclass
class Drop:
    """An event that needs no work, with the reason (logged and counted)."""

    reason: str


def strip_invisible(text: str) -> str:
    """``text`` without the characters a reader cannot see (see ``INVISIBLE_CHARS``)."""
    return _INVISIBLE.sub("", text)


def comment_text(body: Any) -> str:
    """Plain text of a comment body, whether a wiki-markup string or an ADF document."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        return adf_to_text(body)
    return ""


def adf_mentions(body: Any) -> set[str]:
    """Account ids mentioned in an ADF body."""
    found: set[str] = set()

    def walk(node: Any, depth: int = 0) -> None:
        if depth > 64:
            return
        if isinstance(node, dict):
            if node.get("type") == "mention" and isinstance(node.get("attrs"), dict):
                account = node["attrs"].get("id")
                if isinstance(account, str):
                    found.add(account)
            children = node.get("content")
            if isinstance(children, list):
                for child in children:
                    walk(child, depth + 1)
        elif isinstance(node, list):
            for child in node:
                walk(child, depth + 1)

    walk(body)
    return found


def extract_request(
    text: str, *, trigger: str = "@ai", app_account_id: str | None = None, mentioned: set[str] | None = None
) -> str | None:
    """The request addressed to the assistant, or None when the comment is not for us.

    A comment is for us when a line starts with the trigger word (``@ai`` followed by a non-word
    character or the end of the line), or when it mentions the app's own user. Invisible characters
    (zero-width, bidi controls) are ignored, and the request is returned without them.
    """
    trigger_low = trigger.lower()
    text = strip_invisible(text)
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = _LEADING_MARKUP.sub("", line)
        if stripped.lower().startswith(trigger_low):
            rest = stripped[len(trigger) :]
            if rest and (rest[0].isalnum() or rest[0] == "_"):
                continue  # "@aiden" is not "@ai"
            request = "\n".join([rest.lstrip(" :,-\t*_~"), *lines[index + 1 :]]).strip()
            return request[:MAX_REQUEST_CHARS]
    if app_account_id:
        wiki_hit = f"[~accountid:{app_account_id}]" in text
        if wiki_hit or (mentioned and app_account_id in mentioned):
            request = text.replace(f"[~accountid:{app_account_id}]", " ")
            return re.sub(r"[ \t]+", " ", request).strip()[:MAX_REQUEST_CHARS]
    return None


def is_issue_key(value: str) -> bool:
    """True for a Jira issue key such as ``SUP-12`` (at most 64 characters)."""
    return len(value) <= MAX_ISSUE_KEY_CHARS and bool(_ISSUE_KEY.fullmatch(value))


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestError(f"payload field {name!r} must be an object")
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _id(value: Any, name: str) -> str:
    """An id field (a string or an integer, as Jira sends them); ``""`` when absent; 400 otherwise."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and _ID.fullmatch(value):
        return value
    raise BadRequestError(f"payload field {name!r} is not an id")


def _text_field(value: Any, name: str) -> str:
    """An optional string field; ``""`` when absent; 400 when it is something else."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequestError(f"payload field {name!r} must be a string")
    return value[:MAX_ID_CHARS * 2]


def is_app_author(author: dict[str, Any], app_account_id: str | None) -> bool:
    """True when a comment was written by an app (ours or another), never a person."""
    if author.get("accountType") == "app":
        return True
    return bool(app_account_id) and author.get("accountId") == app_account_id


def parse_comment_event(
    payload: Any,
    *,
    tenant_id: str,
    door: str,
    delivery_id: str,
    app_account_id: str | None,
    trigger: str = "@ai",
) -> AiEvent | Drop:
    """Normalise a ``comment_created`` (Connect) or ``avi:jira:commented:issue`` (Forge) payload."""
    payload = _dict(payload, "body")
    comment = _dict(payload.get("comment"), "comment")
    issue = _dict(payload.get("issue"), "issue")
    author = comment.get("author") or {}
    if not isinstance(author, dict):
        raise BadRequestError("payload field 'comment.author' must be an object")
    comment_id = _id(comment.get("id"), "comment.id")
    issue_id = _id(issue.get("id"), "issue.id")
    author_id = _text_field(author.get("accountId"), "comment.author.accountId")
    author_name = _text_field(author.get("displayName"), "comment.author.displayName")
    issue_key = _str(issue.get("key"))
    if not comment_id or not issue_key:
        raise BadRequestError("payload needs comment.id and issue.key")
    if not is_issue_key(issue_key):
        raise BadRequestError("issue.key is not an issue key")
    if is_app_author(author, app_account_id):
        return Drop("self_authored")
    body = comment.get("body")
    text = comment_text(body)
    request = extract_request(
        text, trigger=trigger, app_account_id=app_account_id, mentioned=adf_mentions(body)
    )
    if request is None:
        return Drop("no_trigger")
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
    project_key = _str(project.get("key")) or issue_key.rsplit("-", 1)[0]
    return AiEvent(
        tenant_id=tenant_id,
        door=door,
        kind="comment",
        delivery_id=delivery_id,
        issue_key=issue_key,
        issue_id=issue_id,
        project_key=project_key,
        comment_id=comment_id,
        text=request,
        raw_text=text[: MAX_REQUEST_CHARS * 4],
        author_account_id=author_id,
        author_name=author_name,
        received_at=time.time(),
        source="comment",
    )


def parse_issue_updated(
    payload: Any, *, tenant_id: str, door: str, delivery_id: str, app_account_id: str | None
) -> AiEvent | Drop:
    """Normalise ``jira:issue_updated``: only a move into a done-category status is of interest."""
    payload = _dict(payload, "body")
    issue = _dict(payload.get("issue"), "issue")
    issue_key = _str(issue.get("key"))
    if not is_issue_key(issue_key):
        raise BadRequestError("payload needs issue.key")
    changelog = payload.get("changelog") if isinstance(payload.get("changelog"), dict) else {}
    items = changelog.get("items") if isinstance(changelog.get("items"), list) else []
    status_change = next((i for i in items if isinstance(i, dict) and i.get("field") == "status"), None)
    if status_change is None:
        return Drop("no_status_change")
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    if category.get("key") != "done":
        return Drop("not_done")
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
    return AiEvent(
        tenant_id=tenant_id,
        door=door,
        kind="issue_done",
        delivery_id=delivery_id,
        issue_key=issue_key,
        issue_id=_str(issue.get("id")),
        project_key=_str(project.get("key")) or issue_key.rsplit("-", 1)[0],
        comment_id="",
        text="",
        author_account_id=_str(user.get("accountId")),
        author_name=_str(user.get("displayName")),
        received_at=time.time(),
        source="webhook",
        extra={
            "changelog_id": _str(changelog.get("id")),
            "to_status": _str(status_change.get("toString")),
            "by_app": is_app_author(user, app_account_id),
        },
    )


def dedupe_key(event: AiEvent) -> str:
    """The logical identity of a request: one reply per request comment, one summary per done move."""
    if event.kind == "comment":
        return f"{event.tenant_id}:comment:{event.comment_id}"
    change = event.extra.get("changelog_id") or event.delivery_id
    return f"{event.tenant_id}:{event.kind}:{event.issue_id or event.issue_key}:{change}"
