"""Webhook bodies as Jira Cloud sends them (REST v2 representations inside).

``comment_*`` events carry the comment (body in wiki markup, mentions as ``[~accountid:ID]``)
and a slim issue; ``jira:issue_*`` events carry the acting user, the whole issue and, for updates,
the changelog. Built while the caller holds the state lock, so each is a snapshot of that moment.
"""

from __future__ import annotations

import time
from typing import Any

from .render import comment_v2, history_json, issue_fields, maybe_user
from .state import Comment, History, Issue, SiteState

SLIM_ISSUE_FIELDS = ("summary", "issuetype", "project", "assignee", "priority", "status")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _issue(state: SiteState, issue: Issue, base: str, *, slim: bool) -> dict[str, Any]:
    fields = issue_fields(state, issue, base, v2=True)
    if slim:
        fields = {name: fields[name] for name in SLIM_ISSUE_FIELDS}
    else:
        fields.pop("comment", None)
    return {"id": issue.id, "self": f"{base}/rest/api/2/issue/{issue.id}", "key": issue.key, "fields": fields}


def comment_event(state: SiteState, event: str, issue: Issue, comment: Comment, base: str) -> dict[str, Any]:
    """``comment_created`` / ``comment_updated`` / ``comment_deleted``."""
    return {
        "timestamp": _now_ms(),
        "webhookEvent": event,
        "comment": comment_v2(state, comment, base),
        "issue": _issue(state, issue, base, slim=True),
    }


def issue_event(state: SiteState, event: str, type_name: str, issue: Issue, user_id: str | None, base: str,
                history: History | None = None, comment: Comment | None = None) -> dict[str, Any]:
    """``jira:issue_created`` / ``jira:issue_updated`` / ``jira:issue_deleted``.

    ``type_name`` is Jira's ``issue_event_type_name`` (``issue_generic`` for a transition,
    ``issue_updated`` for an edit, ``issue_commented``, ``issue_created``, ``issue_deleted``).
    """
    out: dict[str, Any] = {
        "timestamp": _now_ms(),
        "webhookEvent": event,
        "issue_event_type_name": type_name,
        "user": maybe_user(state, user_id, base, v2=True),
        "issue": _issue(state, issue, base, slim=False),
    }
    if history is not None:
        out["changelog"] = history_json(state, history, base, webhook=True)
    if comment is not None:
        out["comment"] = comment_v2(state, comment, base)
    return {k: v for k, v in out.items() if v is not None}


def event_context(state: SiteState, issue: Issue, comment: Comment | None = None) -> dict[str, Any]:
    """Values for webhook URL variables (``{issue.key}``...) and issue properties for ``propertyKeys``."""
    project = state.project(issue.project_key)
    context: dict[str, Any] = {
        "issue.id": issue.id, "issue.key": issue.key, "project.id": project.id, "project.key": project.key,
        "issue_properties": dict(issue.properties),
    }
    if comment is not None:
        context["comment.id"] = comment.id
    return context
