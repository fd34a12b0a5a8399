"""What the assistant knows about an issue when it answers: the issue and its recent comments, as text.

:func:`build_context` fetches them from Jira (one call for the issue, one for the comments);
:func:`context_from_dict` reads an issue dict the caller already has, either Jira's REST shape
(``{"id", "key", "fields": {...}}``) or a flat one (``{"key", "summary", "description", "status",
"assignee", ...}``, as the offline ``ask`` command takes). Descriptions and comment bodies may be ADF
or plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadRequestError
from ..jira.adf import adf_to_text
from ..models import CommentInfo, IssueContext

if TYPE_CHECKING:
    from ..jira.client import JiraClient

REPLY_PROPERTY_KEY = "jira-ai-reply"
"""Comment property that marks a comment as the assistant's reply (set when the reply is posted)."""


def build_context(
    jira: JiraClient,
    *,
    issue_key: str,
    requester_account_id: str = "",
    requester_name: str = "",
    app_account_id: str | None = None,
    max_comments: int = 6,
    exclude_comment_id: str | None = None,
    comments: list[dict[str, Any]] | None = None,
) -> IssueContext:
    """Fetch the issue and its newest comments and reduce them to an :class:`IssueContext`.

    ``comments``, when the caller fetched them already (newest first, with properties), saves the
    second call.

    Comments come oldest to newest, at most ``max_comments`` of them, without the request comment
    itself (``exclude_comment_id``). A comment is marked ``is_ai`` when the app wrote it (see
    :func:`is_app_comment`).
    """
    if not isinstance(issue_key, str) or not issue_key.strip():
        raise BadRequestError("an issue key is required to build the issue context")
    if not isinstance(max_comments, int) or max_comments < 0:
        raise BadRequestError("max_comments must be a non-negative integer")
    context = context_from_dict(jira.get_issue(issue_key))
    context.requester_account_id = requester_account_id
    context.requester_name = requester_name
    if max_comments:
        # One extra, so that leaving out the request comment still leaves max_comments.
        fetch = max_comments + (1 if exclude_comment_id else 0)
        newest = comments if comments is not None else jira.get_comments(
            issue_key, max_results=fetch, newest_first=True, expand_properties=True)
        kept = [c for c in newest if not exclude_comment_id or str(c.get("id")) != str(exclude_comment_id)]
        oldest_first = reversed(kept[:max_comments])
        context.comments = [comment_info(c, app_account_id=app_account_id) for c in oldest_first]
    return context


def context_from_dict(issue: Mapping[str, Any]) -> IssueContext:
    """An :class:`IssueContext` from an issue dict in Jira's REST shape or the flat shape."""
    if not isinstance(issue, Mapping):
        raise BadRequestError("an issue must be a JSON object")
    key = issue.get("key")
    if not isinstance(key, str) or not key.strip():
        raise BadRequestError('an issue needs a non-empty "key" (e.g. "PROJ-123")')
    fields = issue.get("fields")
    if isinstance(fields, Mapping):
        return _from_rest(key.strip(), issue, fields)
    return _from_flat(key.strip(), issue)


def comment_info(comment: Mapping[str, Any], *, app_account_id: str | None = None) -> CommentInfo:
    """A Jira comment (REST shape) or a flat one (``author``, ``text``) as :class:`CommentInfo`."""
    author = comment.get("author")
    if isinstance(author, Mapping):
        author_id = str(author.get("accountId") or "")
        author_name = str(author.get("displayName") or "") or "Unknown user"
    else:
        author_id = str(comment.get("author_account_id") or "")
        author_name = str(author or comment.get("author_name") or "") or "Unknown user"
    body = comment.get("body", comment.get("text"))
    return CommentInfo(
        id=str(comment.get("id") or ""),
        author_account_id=author_id,
        author_name=author_name,
        text=_text(body),
        created=str(comment.get("created") or ""),
        is_ai=bool(comment.get("is_ai")) or is_app_comment(comment, app_account_id=app_account_id),
        meta=reply_marker(comment),
    )


def reply_marker(comment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The value of our reply property on the comment (intent, request, ...), if it carries one."""
    properties = comment.get("properties")
    for prop in properties if isinstance(properties, list) else []:
        if isinstance(prop, Mapping) and prop.get("key") == REPLY_PROPERTY_KEY:
            value = prop.get("value")
            return dict(value) if isinstance(value, Mapping) else {"value": value}
    meta = comment.get("meta")
    return dict(meta) if isinstance(meta, Mapping) else None


def is_app_comment(comment: Mapping[str, Any], *, app_account_id: str | None = None) -> bool:
    """True when the app wrote the comment: its account, an app account, or our reply property."""
    author = comment.get("author")
    if isinstance(author, Mapping):
        if app_account_id and author.get("accountId") == app_account_id:
            return True
        if author.get("accountType") == "app":
            return True
    properties = comment.get("properties")
    if isinstance(properties, list):
        return any(isinstance(p, Mapping) and p.get("key") == REPLY_PROPERTY_KEY for p in properties)
    return False


def _from_rest(key: str, issue: Mapping[str, Any], fields: Mapping[str, Any]) -> IssueContext:
    status = fields.get("status")
    status_category = status.get("statusCategory") if isinstance(status, Mapping) else None
    embedded = fields.get("comment")
    comments = embedded.get("comments") if isinstance(embedded, Mapping) else None
    return IssueContext(
        key=key,
        issue_id=str(issue.get("id") or ""),
        summary=str(fields.get("summary") or ""),
        description=_text(fields.get("description")),
        status=_name(status),
        status_category=_name(status_category, "key"),
        issue_type=_name(fields.get("issuetype")),
        priority=_name(fields.get("priority")),
        assignee=_name(fields.get("assignee"), "displayName"),
        reporter=_name(fields.get("reporter"), "displayName"),
        due_date=str(fields.get("duedate") or ""),
        labels=_labels(fields.get("labels")),
        project_key=_name(fields.get("project"), "key") or key.rpartition("-")[0],
        comments=_comments(comments),
    )


def _from_flat(key: str, issue: Mapping[str, Any]) -> IssueContext:
    status = issue.get("status")
    status_category = issue.get("status_category")
    if status_category is None and isinstance(status, Mapping):
        status_category = status.get("statusCategory")
    return IssueContext(
        key=key,
        issue_id=str(issue.get("issue_id") or issue.get("id") or ""),
        summary=str(issue.get("summary") or ""),
        description=_text(issue.get("description")),
        status=_name(status),
        status_category=_name(status_category, "key"),
        issue_type=_name(issue.get("issue_type", issue.get("issuetype"))),
        priority=_name(issue.get("priority")),
        assignee=_name(issue.get("assignee"), "displayName"),
        reporter=_name(issue.get("reporter"), "displayName"),
        due_date=str(issue.get("due_date") or issue.get("duedate") or ""),
        labels=_labels(issue.get("labels")),
        project_key=_name(issue.get("project_key", issue.get("project")), "key") or key.rpartition("-")[0],
        comments=_comments(issue.get("comments")),
    )


def _labels(value: Any) -> list[str]:
    return [str(label) for label in value] if isinstance(value, list) else []


def _comments(value: Any) -> list[CommentInfo]:
    """Comments embedded in an issue dict (no app account id is known here; see :func:`is_app_comment`)."""
    return [comment_info(c) for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []


def _name(value: Any, attr: str = "name") -> str:
    """A field that is either a plain string or an object carrying it under ``attr``."""
    if isinstance(value, Mapping):
        return str(value.get(attr) or "")
    return str(value) if value is not None else ""


def _text(body: Any) -> str:
    """Plain text of a description or comment body given as ADF or as a string."""
    if isinstance(body, Mapping):
        return adf_to_text(dict(body)).strip()
    if isinstance(body, str):
        return body.strip()
    return ""
