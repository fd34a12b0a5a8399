"""Bodies and token claims of Forge's calls to a remote, built from the simulated site's records.

Shapes follow Atlassian's Forge reference: product events (``avi:jira:commented:issue``,
``avi:jira:updated:issue``...) carry ``eventType``, ``issue`` {id, key, fields}, ``atlassianId`` and
``associatedUsers``, users as ``{accountId}`` only and comment bodies in ADF; lifecycle events carry the
installation ``id``, the acting account and ``app`` {id, version}; a remote invocation also gets a
``context`` {cloudId, moduleKey}. The Forge Invocation Token (FIT) says who calls: ``iss``
``forge/invocation-token``, ``aud`` the app id, ``app`` {installationId, apiBaseUrl, id, version and
appVersion, environment, module {type, key}, license}, ``context`` and, for a user's UI call,
``principal`` (the account id). Builders are called under the state lock, so each body is a snapshot
of that moment.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from .forge_tokens import FIT_ISSUER
from .render import issue_type, jira_time, priority, project_ref, status_details
from .state import Comment, Issue, SiteState

COMMENTED = "avi:jira:commented:issue"
ISSUE_UPDATED = "avi:jira:updated:issue"
ISSUE_CREATED = "avi:jira:created:issue"
ISSUE_DELETED = "avi:jira:deleted:issue"
INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"


@dataclass(frozen=True)
class AppIdentity:
    """Who the app is on this site, as the FIT's ``app`` claim and lifecycle payloads say it."""

    app_id: str
    installation_id: str
    api_base_url: str
    version: str
    environment_type: str
    environment_id: str
    cloud_id: str
    site_url: str


def user_ref(account_id: str | None) -> dict[str, str] | None:
    """A user as Forge events show one: ``{accountId}``."""
    return {"accountId": account_id} if account_id else None


def issue_ref(state: SiteState, issue: Issue, base: str) -> dict[str, Any]:
    """The ``issue`` of a Jira product event (the fields Forge documents)."""
    fields: dict[str, Any] = {
        "summary": issue.summary,
        "issuetype": issue_type(base),
        "creator": user_ref(issue.creator_id),
        "created": jira_time(issue.created),
        "project": project_ref(state, issue.project_key, base),
        "reporter": user_ref(issue.reporter_id),
        "assignee": user_ref(issue.assignee_id),
        "updated": jira_time(issue.updated),
        "status": status_details(state.status(issue), base),
        "priority": priority(issue.priority, base),
        "labels": list(issue.labels),
    }
    return {"id": issue.id, "key": issue.key, "fields": fields}


def comment_ref(comment: Comment, base: str) -> dict[str, Any]:
    """The ``comment`` of ``avi:jira:commented:issue``: ADF body, authors as ``{accountId}``."""
    out: dict[str, Any] = {
        "id": comment.id,
        "self": f"{base}/rest/api/3/issue/{comment.issue_id}/comment/{comment.id}",
        "author": user_ref(comment.author_id),
        "body": comment.body,
        "updateAuthor": user_ref(comment.update_author_id),
        "created": jira_time(comment.created),
        "updated": jira_time(comment.updated),
        "jsdPublic": True,
    }
    if comment.visibility:
        out["visibility"] = dict(comment.visibility)
    return out


def commented_issue(state: SiteState, issue: Issue, comment: Comment, base: str) -> dict[str, Any]:
    """``avi:jira:commented:issue``, raised when a comment is added and when one is edited."""
    actor = comment.update_author_id or comment.author_id
    return {
        "eventType": COMMENTED,
        "issue": issue_ref(state, issue, base),
        "comment": comment_ref(comment, base),
        "atlassianId": actor,
        "associatedUsers": [user_ref(actor)],
    }


def issue_event(state: SiteState, event: str, issue: Issue, base: str, actor: str | None,
                changelog: dict[str, Any] | None = None) -> dict[str, Any]:
    """``avi:jira:created:issue`` / ``updated`` / ``deleted``; updates carry ``changelog`` {id, items}."""
    out: dict[str, Any] = {"eventType": event, "issue": issue_ref(state, issue, base)}
    if actor:
        out["atlassianId"] = actor
        out["associatedUsers"] = [user_ref(actor)]
    if changelog is not None:
        out["changelog"] = {"id": str(changelog.get("id", "")), "items": list(changelog.get("items") or [])}
    return out


def lifecycle_event(event: str, app: AppIdentity, actor: str) -> dict[str, Any]:
    """``avi:forge:installed:app`` (``installerAccountId``) or ``avi:forge:upgraded:app``
    (``upgraderAccountId``).
    """
    actor_field = "installerAccountId" if event == INSTALLED else "upgraderAccountId"
    return {
        "eventType": event,
        "id": app.installation_id,
        actor_field: actor,
        "app": {"id": app.app_id, "version": app.version},
        "environment": {"id": app.environment_id},
    }


def scheduled_body() -> dict[str, Any]:
    """A scheduled trigger's body: nothing of its own besides the invocation context added on sending."""
    return {}


def invocation_context(app: AppIdentity, module_key: str) -> dict[str, str]:
    """The ``context`` Forge adds to an event or scheduled trigger body sent to a remote."""
    return {"cloudId": app.cloud_id, "moduleKey": module_key}


def ui_extension(state: SiteState, module_type: str, issue: Issue | None) -> dict[str, Any]:
    """``context.extension`` of a UI module: the issue and project for issue modules."""
    out: dict[str, Any] = {"type": module_type}
    if issue is not None:
        project = state.project(issue.project_key)
        out["issue"] = {"key": issue.key, "id": issue.id, "type": "Task", "typeId": "10001"}
        out["project"] = {"id": project.id, "key": project.key, "type": "software"}
    return out


def fit_claims(app: AppIdentity, *, module_type: str, module_key: str, ttl: float,
               extension: dict[str, Any] | None = None, principal: str | None = None) -> dict[str, Any]:
    """The claims of a Forge Invocation Token for one call to the remote."""
    now = int(time.time())
    context: dict[str, Any] = {"cloudId": app.cloud_id, "moduleKey": module_key, "siteUrl": app.site_url}
    if extension is not None:
        context.update({"extension": extension, "localId": f"{app.installation_id}/{module_key}",
                        "environmentType": app.environment_type, "environmentId": app.environment_id})
    claims: dict[str, Any] = {
        "iss": FIT_ISSUER,
        "aud": app.app_id,
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl),
        "jti": str(uuid.uuid4()),
        "app": {
            "installationId": app.installation_id,
            "apiBaseUrl": app.api_base_url,
            "id": app.app_id,
            "version": app.version,  # the contract's name; Atlassian's FIT example calls it appVersion
            "appVersion": app.version,
            "environment": {"type": app.environment_type, "id": app.environment_id},
            "module": {"type": module_type, "key": module_key},
            "license": {"isActive": True},
        },
        "context": context,
    }
    if principal:
        claims["principal"] = principal
    return claims
