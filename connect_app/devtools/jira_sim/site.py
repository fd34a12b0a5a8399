"""What happens on the site: seeding, comments, transitions, edits, deletions, entity properties.

Every change takes the state lock, updates the records and announces the webhook event Jira
would raise through ``emit(event, payload, context)``. Permission checks belong to the caller
(the REST layer checks them; test helpers act as whoever they say).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...errors import BadRequestError, NotFoundError
from . import payloads
from .state import (
    DEFAULT_USER_PERMISSIONS,
    PRIORITIES,
    PROJECT_PERMISSIONS,
    Comment,
    History,
    Issue,
    Project,
    SiteState,
    User,
)
from .wiki import adf_to_wiki, text_to_adf

# emit(event, build): ``build()`` returns (payload, context) and is called at once, under the lock, if needed.
Emit = Callable[[str, Callable[[], tuple[dict[str, Any], dict[str, Any]]]], None]
ACCOUNT_TYPES = ("atlassian", "app", "customer")
EDITABLE_FIELDS = ("summary", "description", "labels", "duedate", "priority", "assignee")


class Site:
    """The simulated Jira site's behaviour over a :class:`SiteState`."""

    def __init__(self, state: SiteState, base_url: Callable[[], str], emit: Emit, *,
                 issue_updated_on_comment: bool = False) -> None:
        self.state = state
        self._base = base_url
        self._emit = emit
        self.issue_updated_on_comment = issue_updated_on_comment

    @property
    def base(self) -> str:
        """The site's base URL."""
        return self._base()

    # -- seeding -------------------------------------------------------------------------------
    def add_user(self, account_id: str, display_name: str, *, account_type: str = "atlassian",
                 email: str | None = None, admin: bool = False) -> User:
        """Create (or replace) a user with the default permissions for its kind."""
        if not account_id or len(account_id) > 128:
            raise BadRequestError("accountId must be 1-128 characters")
        if account_type not in ACCOUNT_TYPES:
            raise BadRequestError(f"accountType must be one of {', '.join(ACCOUNT_TYPES)}")
        with self.state.lock:
            user = User(account_id, display_name, account_type, email)
            self.state.users[account_id] = user
            if admin:
                project_perms, global_perms = frozenset(PROJECT_PERMISSIONS), {"ADMINISTER", "USER_PICKER"}
            elif account_type == "app":
                project_perms, global_perms = frozenset(PROJECT_PERMISSIONS), {"USER_PICKER"}
            else:
                project_perms, global_perms = DEFAULT_USER_PERMISSIONS, {"USER_PICKER"}
            self.state.set_base_permissions(account_id, project_perms, global_perms)
            return user

    def add_project(self, key: str, name: str) -> Project:
        """Create a project; keys are upper-case letters and digits starting with a letter."""
        if not key or not key[0].isalpha() or not key.isalnum() or key != key.upper():
            raise BadRequestError(f"project key {key!r} must be upper-case letters and digits, starting "
                                  "with a letter")
        with self.state.lock:
            if key in self.state.projects:
                raise BadRequestError(f"project {key} already exists")
            project = Project(self.state.next_id("project"), key, name)
            self.state.projects[key] = project
            return project

    def add_issue(self, project_key: str, summary: str, *, description_text: str | None = None,
                  description_adf: Mapping[str, Any] | None = None, status: str = "To Do",
                  assignee: str | None = None, reporter: str | None = None, due_date: str | None = None,
                  priority: str = "Medium", labels: Iterable[str] = (), creator: str | None = None) -> Issue:
        """Create an issue (``jira:issue_created`` is raised)."""
        if priority not in PRIORITIES:
            raise BadRequestError(f"priority must be one of {', '.join(PRIORITIES)}")
        if description_text is not None and description_adf is not None:
            raise BadRequestError("give description_text or description_adf, not both")
        with self.state.lock:
            project = self.state.project(project_key)
            for who in (assignee, reporter, creator):
                if who is not None:
                    self.state.user(who)
            description = (self.text_adf(description_text) if description_text
                           else dict(description_adf) if description_adf else None)
            now = time.time()
            project.last_issue_number += 1
            issue = Issue(
                id=self.state.next_id("issue"), key=f"{project.key}-{project.last_issue_number}",
                project_key=project.key, summary=summary, description=description,
                status_id=self.state.status_by_name(status).id, priority=priority, reporter_id=reporter,
                creator_id=creator or reporter, assignee_id=assignee, due_date=due_date, labels=list(labels),
                created=now, updated=now, status_changed=now,
            )
            if self.state.statuses[issue.status_id].category == "done":
                issue.resolution, issue.resolution_date = "Done", now
            self.state.issues[issue.id] = issue
            self.state.issue_ids_by_key[issue.key] = issue.id
            self._issue_event("jira:issue_created", "issue_created", issue, creator or reporter)
            return issue

    def text_adf(self, text: str) -> dict[str, Any]:
        """ADF for typed text (``[~accountid:ID]`` becomes a mention)."""
        def name(account_id: str) -> str | None:
            user = self.state.users.get(account_id)
            return user.display_name if user else None
        return text_to_adf(text, name)

    # -- lookups -------------------------------------------------------------------------------
    def issue(self, id_or_key: str) -> Issue:
        """The issue, or :class:`NotFoundError`."""
        found = self.state.find_issue(str(id_or_key))
        if found is None:
            raise NotFoundError(f"issue {id_or_key!r} does not exist")
        return found

    def comment(self, issue: Issue, comment_id: str) -> Comment:
        """The comment on this issue, or :class:`NotFoundError`."""
        found = self.state.comments.get(str(comment_id))
        if found is None or found.issue_id != issue.id:
            raise NotFoundError(f"comment {comment_id!r} does not exist on {issue.key}")
        return found

    # -- comments ------------------------------------------------------------------------------
    def add_comment(self, issue: Issue, author_id: str, body: Mapping[str, Any], *,
                    visibility: Mapping[str, Any] | None = None,
                    properties: Mapping[str, Any] | None = None) -> Comment:
        """Add a comment (``comment_created``, and ``jira:issue_updated`` if so configured)."""
        with self.state.lock:
            self.state.user(author_id)
            now = time.time()
            comment = Comment(
                id=self.state.next_id("comment"), issue_id=issue.id, author_id=author_id, body=dict(body),
                created=now, updated=now, update_author_id=author_id,
                visibility=dict(visibility) if visibility else None, properties=dict(properties or {}),
            )
            self.state.comments[comment.id] = comment
            issue.comment_ids.append(comment.id)
            issue.updated = now
            self._comment_event("comment_created", issue, comment)
            if self.issue_updated_on_comment:
                self._issue_event("jira:issue_updated", "issue_commented", issue, author_id, comment=comment)
            return comment

    def update_comment(self, issue: Issue, comment: Comment, by: str, body: Mapping[str, Any], *,
                       visibility: Mapping[str, Any] | None = None) -> Comment:
        """Replace a comment's body (``comment_updated``)."""
        with self.state.lock:
            comment.body = dict(body)
            if visibility is not None:
                comment.visibility = dict(visibility) or None
            comment.updated = time.time()
            comment.update_author_id = by
            self._comment_event("comment_updated", issue, comment)
            return comment

    def delete_comment(self, issue: Issue, comment: Comment) -> None:
        """Remove a comment (``comment_deleted``)."""
        with self.state.lock:
            self.state.comments.pop(comment.id, None)
            if comment.id in issue.comment_ids:
                issue.comment_ids.remove(comment.id)
            self._comment_event("comment_deleted", issue, comment)

    # -- workflow and edits --------------------------------------------------------------------
    def transition(self, issue: Issue, transition_id: str, by: str | None) -> History:
        """Move the issue through a transition (``jira:issue_updated`` with the status change)."""
        with self.state.lock:
            transition = self.state.transitions.get(str(transition_id))
            if transition is None:
                raise BadRequestError(f"Transition id '{transition_id}' is not valid for this issue.")
            old, new = self.state.status(issue), self.state.statuses[transition.to_status_id]
            now = time.time()
            items = [_item("status", "jira", "status", old.id, old.name, new.id, new.name)]
            old_resolution = issue.resolution
            issue.status_id = new.id
            if old.category != new.category:
                issue.status_changed = now
            if new.category == "done" and not issue.resolution:
                issue.resolution, issue.resolution_date = "Done", now
            elif new.category != "done" and issue.resolution:
                issue.resolution, issue.resolution_date = None, None
            if issue.resolution != old_resolution:
                items.insert(0, _item("resolution", "jira", "resolution",
                                      "10000" if old_resolution else None, old_resolution,
                                      "10000" if issue.resolution else None, issue.resolution))
            return self._record(issue, by, items, "issue_generic", now)

    def edit(self, issue: Issue, by: str | None, changes: Mapping[str, Any]) -> History | None:
        """Change fields (``summary``, ``description`` ADF, ``labels``, ``duedate``, ``priority`` name,
        ``assignee`` account id or None); raises ``jira:issue_updated`` when something changed.
        """
        unknown = [name for name in changes if name not in EDITABLE_FIELDS]
        if unknown:
            raise BadRequestError(f"Field '{unknown[0]}' cannot be set. It is not on the appropriate screen, "
                                  "or unknown.")
        with self.state.lock:
            items = [item for name, value in changes.items() if (item := self._apply(issue, name, value))]
            if not items:
                return None
            return self._record(issue, by, items, "issue_updated", time.time())

    def _apply(self, issue: Issue, name: str, value: Any) -> dict[str, Any] | None:
        if name == "summary":
            if not isinstance(value, str) or not value.strip():
                raise BadRequestError("summary: You must specify a summary of the issue.")
            old, issue.summary = issue.summary, value
            return None if old == value else _item("summary", "jira", "summary", None, old, None, value)
        if name == "description":
            old_text = adf_to_wiki(issue.description) if issue.description else None
            issue.description = dict(value) if value else None
            new_text = adf_to_wiki(issue.description) if issue.description else None
            return None if old_text == new_text else _item("description", "jira", "description", None,
                                                           old_text, None, new_text)
        if name == "labels":
            labels = [str(v) for v in value or []]
            old_labels, issue.labels = issue.labels, labels
            return None if old_labels == labels else _item("labels", "jira", "labels", None,
                                                           " ".join(old_labels), None, " ".join(labels))
        if name == "duedate":
            old_due, issue.due_date = issue.due_date, value
            return None if old_due == value else _item("duedate", "jira", "duedate", old_due, old_due,
                                                       value, value)
        if name == "priority":
            if value not in PRIORITIES:
                raise BadRequestError(f"priority: Specify a valid priority ({', '.join(PRIORITIES)})")
            old_priority, issue.priority = issue.priority, value
            return None if old_priority == value else _item("priority", "jira", "priority",
                                                            PRIORITIES[old_priority], old_priority,
                                                            PRIORITIES[value], value)
        # assignee
        if value is not None:
            self.state.user(value)
        old_assignee, issue.assignee_id = issue.assignee_id, value
        if old_assignee == value:
            return None
        return _item("assignee", "jira", "assignee", old_assignee, self._name(old_assignee), value,
                     self._name(value))

    def _name(self, account_id: str | None) -> str | None:
        user = self.state.users.get(account_id) if account_id else None
        return user.display_name if user else None

    def _record(self, issue: Issue, by: str | None, items: list[dict[str, Any]], type_name: str,
                now: float) -> History:
        history = History(self.state.next_id("history"), by or "", now, items)
        issue.histories.append(history)
        issue.updated = now
        self._issue_event("jira:issue_updated", type_name, issue, by, history=history)
        return history

    def delete_issue(self, issue: Issue, by: str | None) -> None:
        """Remove an issue and its comments (``jira:issue_deleted``, then ``comment_deleted`` for each)."""
        with self.state.lock:
            self._issue_event("jira:issue_deleted", "issue_deleted", issue, by)
            for comment in self.state.issue_comments(issue):
                self._comment_event("comment_deleted", issue, comment)
                self.state.comments.pop(comment.id, None)
            self.state.issues.pop(issue.id, None)
            self.state.issue_ids_by_key.pop(issue.key, None)

    # -- events --------------------------------------------------------------------------------
    def _comment_event(self, event: str, issue: Issue, comment: Comment) -> None:
        self._emit(event, lambda: (payloads.comment_event(self.state, event, issue, comment, self.base),
                                   payloads.event_context(self.state, issue, comment)))

    def _issue_event(self, event: str, type_name: str, issue: Issue, user_id: str | None, *,
                     history: History | None = None, comment: Comment | None = None) -> None:
        def build() -> tuple[dict[str, Any], dict[str, Any]]:
            body = payloads.issue_event(self.state, event, type_name, issue, user_id, self.base, history,
                                        comment)
            return body, payloads.event_context(self.state, issue, comment)
        self._emit(event, build)


def _item(field: str, fieldtype: str, field_id: str, from_id: str | None, from_string: str | None,
          to_id: str | None, to_string: str | None) -> dict[str, Any]:
    """A changelog item as Jira writes it."""
    return {"field": field, "fieldtype": fieldtype, "fieldId": field_id, "from": from_id,
            "fromString": from_string, "to": to_id, "toString": to_string}
