"""JSON shapes of the simulated site's records, as Jira Cloud's REST v3 (and v2 for webhooks) shows them.

Each function takes records from :mod:`.state` plus the site's base URL and returns plain dicts
that match the schemas in Atlassian's OpenAPI spec (``components.schemas``): ``UserDetails``,
``User``, ``Comment``, ``IssueBean`` fields, ``IssueTransition``, ``StatusDetails``...
The caller holds the state lock.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from .state import ISSUE_TYPE, PRIORITIES, STATUS_CATEGORIES, Comment, History, Issue, SiteState, Status, User
from .wiki import adf_to_wiki

ALL_FIELDS = (
    "summary", "description", "status", "project", "issuetype", "priority", "assignee", "reporter",
    "creator", "duedate", "labels", "created", "updated", "resolution", "resolutiondate",
    "statuscategorychangedate", "comment",
)
FIELD_NAMES = {
    "summary": "Summary", "description": "Description", "status": "Status", "project": "Project",
    "issuetype": "Issue Type", "priority": "Priority", "assignee": "Assignee", "reporter": "Reporter",
    "creator": "Creator", "duedate": "Due date", "labels": "Labels", "created": "Created",
    "updated": "Updated", "resolution": "Resolution", "resolutiondate": "Resolved",
    "statuscategorychangedate": "Status Category Changed", "comment": "Comment",
}
NOT_NAVIGABLE = frozenset({"comment"})


def jira_time(epoch: float) -> str:
    """Jira's timestamp format, e.g. ``2024-05-01T09:30:00.000+0000``."""
    whole = int(epoch)
    millis = round((epoch - whole) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}+0000"


def avatar_urls(base: str, account_id: str) -> dict[str, str]:
    """The four avatar sizes Jira lists for a user."""
    ident = quote(account_id, safe="")
    return {f"{n}x{n}": f"{base}/secure/useravatar?size={n}&accountId={ident}" for n in (48, 24, 16, 32)}


def user_details(user: User, base: str, *, with_email: bool = True) -> dict[str, Any]:
    """``UserDetails``: how authors, assignees and reporters appear."""
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/user?accountId={quote(user.account_id, safe='')}",
        "accountId": user.account_id,
        "avatarUrls": avatar_urls(base, user.account_id),
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": user.time_zone,
        "accountType": user.account_type,
    }
    if with_email and user.email:
        out["emailAddress"] = user.email
    return out


def user_full(user: User, base: str) -> dict[str, Any]:
    """``User``: the answer of ``getCurrentUser``."""
    out = user_details(user, base)
    out.update({
        "locale": "en_US",
        "groups": {"size": 1 if user.account_type == "app" else 2, "items": []},
        "applicationRoles": {"size": 0 if user.account_type == "app" else 1, "items": []},
        "expand": "groups,applicationRoles",
    })
    return out


def maybe_user(state: SiteState, account_id: str | None, base: str, *,
               v2: bool = False) -> dict[str, Any] | None:
    """``UserDetails`` for an account id, or None; ``v2`` is the webhook form (REST v2 self, no email)."""
    if not account_id or account_id not in state.users:
        return None
    out = user_details(state.users[account_id], base, with_email=not v2)
    if v2:
        out["self"] = out["self"].replace("/rest/api/3/", "/rest/api/2/")
    return out


def status_category(key: str, base: str) -> dict[str, Any]:
    """``StatusCategory``."""
    cat = STATUS_CATEGORIES[key]
    return {"self": f"{base}/rest/api/3/statuscategory/{cat['id']}", **cat}


def status_details(status: Status, base: str) -> dict[str, Any]:
    """``StatusDetails``."""
    return {
        "self": f"{base}/rest/api/3/status/{status.id}",
        "description": status.description,
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": status_category(status.category, base),
    }


def issue_type(base: str) -> dict[str, Any]:
    """The one issue type of the simulator (Task)."""
    return {
        "self": f"{base}/rest/api/3/issuetype/{ISSUE_TYPE['id']}",
        "id": ISSUE_TYPE["id"],
        "description": ISSUE_TYPE["description"],
        "iconUrl": f"{base}/images/icons/issuetypes/task.svg",
        "name": ISSUE_TYPE["name"],
        "subtask": False,
        "hierarchyLevel": 0,
    }


def priority(name: str, base: str) -> dict[str, Any]:
    """A priority."""
    pid = PRIORITIES[name]
    return {"self": f"{base}/rest/api/3/priority/{pid}", "iconUrl": f"{base}/images/icons/priorities/"
            f"{name.lower()}.svg", "name": name, "id": pid}


def project_ref(state: SiteState, project_key: str, base: str) -> dict[str, Any]:
    """A project as an issue's ``project`` field shows it."""
    project = state.project(project_key)
    return {
        "self": f"{base}/rest/api/3/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "simplified": False,
        "avatarUrls": {f"{n}x{n}": f"{base}/secure/projectavatar?pid={project.id}&size={n}"
                       for n in (48, 24, 16, 32)},
    }


def comment_json(state: SiteState, comment: Comment, base: str, expand: Iterable[str] = ()) -> dict[str, Any]:
    """``Comment`` with an ADF body; ``expand`` may hold ``renderedBody`` and ``properties``."""
    wanted = set(expand)
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/issue/{comment.issue_id}/comment/{comment.id}",
        "id": comment.id,
        "author": maybe_user(state, comment.author_id, base),
        "body": comment.body,
        "updateAuthor": maybe_user(state, comment.update_author_id, base),
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
        "jsdPublic": True,
    }
    if comment.visibility:
        out["visibility"] = dict(comment.visibility)
    if "renderedBody" in wanted:
        out["renderedBody"] = "<p>" + html.escape(adf_to_wiki(comment.body)).replace("\n", "<br/>") + "</p>"
    if "properties" in wanted:
        out["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
    return {k: v for k, v in out.items() if v is not None}


def comment_v2(state: SiteState, comment: Comment, base: str) -> dict[str, Any]:
    """A comment as webhooks carry it: REST v2, body in wiki markup, users without email."""
    out = comment_json(state, comment, base)
    out["self"] = f"{base}/rest/api/2/issue/{comment.issue_id}/comment/{comment.id}"
    out["body"] = adf_to_wiki(comment.body)
    out["author"] = maybe_user(state, comment.author_id, base, v2=True)
    out["updateAuthor"] = maybe_user(state, comment.update_author_id, base, v2=True)
    return {k: v for k, v in out.items() if v is not None}


def history_json(state: SiteState, history: History, base: str, *, webhook: bool = False) -> dict[str, Any]:
    """``Changelog``; REST omits null ``from``/``to`` (typed as strings), webhooks keep them."""
    items = [item if webhook else {k: v for k, v in item.items() if v is not None} for item in history.items]
    if webhook:
        return {"id": history.id, "items": items}
    return {"id": history.id, "author": maybe_user(state, history.author_id, base),
            "created": jira_time(history.created), "items": items}


def issue_fields(state: SiteState, issue: Issue, base: str, *, v2: bool = False) -> dict[str, Any]:
    """Every field of the issue; ``v2`` shows the description as wiki markup (webhooks)."""
    status = state.status(issue)
    comments = state.issue_comments(issue)
    if v2:
        description: Any = adf_to_wiki(issue.description) if issue.description else None
        comment_list = [comment_v2(state, c, base) for c in comments]
    else:
        description = issue.description
        comment_list = [comment_json(state, c, base) for c in comments]
    return {
        "summary": issue.summary,
        "description": description,
        "status": status_details(status, base),
        "project": project_ref(state, issue.project_key, base),
        "issuetype": issue_type(base),
        "priority": priority(issue.priority, base),
        "assignee": maybe_user(state, issue.assignee_id, base, v2=v2),
        "reporter": maybe_user(state, issue.reporter_id, base, v2=v2),
        "creator": maybe_user(state, issue.creator_id, base, v2=v2),
        "duedate": issue.due_date,
        "labels": list(issue.labels),
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "resolution": _resolution(issue, base),
        "resolutiondate": jira_time(issue.resolution_date) if issue.resolution_date else None,
        "statuscategorychangedate": jira_time(issue.status_changed or issue.created),
        "comment": {
            "comments": comment_list,
            "self": f"{base}/rest/api/{2 if v2 else 3}/issue/{issue.id}/comment",
            "maxResults": len(comment_list),
            "total": len(comment_list),
            "startAt": 0,
        },
    }


def _resolution(issue: Issue, base: str) -> dict[str, Any] | None:
    if not issue.resolution:
        return None
    return {"self": f"{base}/rest/api/3/resolution/10000", "id": "10000",
            "description": "Work has been completed on this issue.", "name": issue.resolution}


def select_fields(requested: list[str]) -> list[str]:
    """Field ids for getIssue's ``fields`` parameter: ``*all``, ``*navigable``, names and ``-name``."""
    chosen: list[str] = []
    excluded: set[str] = set()
    for raw in requested or ["*all"]:
        for name in (part.strip() for part in raw.split(",")):
            if not name:
                continue
            if name == "*all":
                chosen.extend(ALL_FIELDS)
            elif name == "*navigable":
                chosen.extend(f for f in ALL_FIELDS if f not in NOT_NAVIGABLE)
            elif name.startswith("-"):
                excluded.add(name[1:])
            elif name in ALL_FIELDS:
                chosen.append(name)
    seen: list[str] = []
    for name in chosen:
        if name not in excluded and name not in seen:
            seen.append(name)
    return seen


def issue_bean(state: SiteState, issue: Issue, base: str, *, fields: list[str] | None = None,
               expand: Iterable[str] = (), properties: Iterable[str] = (),
               transitions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``IssueBean`` for getIssue: chosen ``fields``, and ``names``/``renderedFields``/``changelog``/
    ``transitions`` when expanded, ``properties`` for the property keys asked for.
    """
    wanted = set(expand)
    names = select_fields(fields or ["*all"])
    everything = issue_fields(state, issue, base)
    chosen = {name: everything[name] for name in names}
    out: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id,
        "self": f"{base}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
        "fields": chosen,
    }
    if "names" in wanted:
        out["names"] = {name: FIELD_NAMES[name] for name in names}
    if "renderedFields" in wanted:
        rendered: dict[str, Any] = {name: None for name in names}
        if "description" in rendered and issue.description:
            rendered["description"] = "<p>" + html.escape(adf_to_wiki(issue.description)) + "</p>"
        out["renderedFields"] = rendered
    if "changelog" in wanted:
        histories = [history_json(state, h, base) for h in issue.histories]
        out["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                            "histories": histories}
    if "transitions" in wanted and transitions is not None:
        out["transitions"] = transitions
    keys = [k for k in properties if k and k in issue.properties]
    if keys:
        out["properties"] = {k: issue.properties[k] for k in keys}
    return out


def transition_json(state: SiteState, transition_id: str, base: str) -> dict[str, Any]:
    """``IssueTransition`` for a global transition (no screen, always available)."""
    transition = state.transitions[transition_id]
    return {
        "id": transition.id,
        "name": transition.name,
        "to": status_details(state.statuses[transition.to_status_id], base),
        "hasScreen": False,
        "isGlobal": True,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }
