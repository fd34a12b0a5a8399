"""The simulated site's data: users, projects, issues, comments, workflow and permissions.

Plain records plus one :class:`SiteState` that owns them and the lock that guards them. Nothing
here speaks HTTP or JSON; :mod:`.site` changes the state and :mod:`.render` shows it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ...errors import BadRequestError, NotFoundError

# ---------------------------------------------------------------------- workflow (Jira's defaults)
STATUS_CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class Status:
    """A workflow status and its category key (``new``, ``indeterminate`` or ``done``)."""

    id: str
    name: str
    category: str
    description: str = ""


@dataclass(frozen=True)
class Transition:
    """A global workflow transition into ``to_status_id``."""

    id: str
    name: str
    to_status_id: str


STATUSES: tuple[Status, ...] = (
    Status("10000", "To Do", "new", "The issue is open and ready for the assignee to start work on it."),
    Status("3", "In Progress", "indeterminate", "This issue is being actively worked on at the moment."),
    Status("10001", "Done", "done", "Work has finished on this issue."),
)
TRANSITIONS: tuple[Transition, ...] = (
    Transition("11", "To Do", "10000"),
    Transition("21", "In Progress", "3"),
    Transition("31", "Done", "10001"),
)
PRIORITIES: dict[str, str] = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
ISSUE_TYPE = {"id": "10001", "name": "Task", "description": "A small, distinct piece of work."}

# ---------------------------------------------------------------------- permissions
# key -> (id, name, description); ids and names as Jira Cloud reports them.
PROJECT_PERMISSIONS: dict[str, tuple[str, str, str]] = {
    "BROWSE_PROJECTS": ("10", "Browse Projects", "Ability to browse projects and the issues within them."),
    "CREATE_ISSUES": ("11", "Create Issues", "Ability to create issues."),
    "EDIT_ISSUES": ("12", "Edit Issues", "Ability to edit issues."),
    "ASSIGN_ISSUES": ("13", "Assign Issues", "Ability to assign issues to other people."),
    "RESOLVE_ISSUES": ("14", "Resolve Issues", "Ability to resolve and reopen issues."),
    "ADD_COMMENTS": ("15", "Add Comments", "Ability to comment on issues."),
    "DELETE_ISSUES": ("16", "Delete Issues", "Ability to delete issues."),
    "ASSIGNABLE_USER": ("17", "Assignable User", "Users with this permission may be assigned to issues."),
    "CLOSE_ISSUES": ("18", "Close Issues", "Ability to close issues."),
    "EDIT_ALL_COMMENTS": ("34", "Edit All Comments", "Ability to edit all comments made on issues."),
    "EDIT_OWN_COMMENTS": ("35", "Edit Own Comments", "Ability to edit own comments made on issues."),
    "DELETE_ALL_COMMENTS": ("36", "Delete All Comments", "Ability to delete all comments made on issues."),
    "DELETE_OWN_COMMENTS": ("37", "Delete Own Comments", "Ability to delete own comments made on issues."),
    "TRANSITION_ISSUES": ("46", "Transition Issues", "Ability to transition issues."),
}
GLOBAL_PERMISSIONS: dict[str, tuple[str, str, str]] = {
    "ADMINISTER": ("0", "Administer Jira", "Ability to perform most administration functions (excluding "
                   "Import & Export, SMTP Configuration, etc.)."),
    "SYSTEM_ADMIN": ("44", "Administer Jira", "Ability to perform all administration functions."),
    "USER_PICKER": ("27", "Browse users and groups",
                    "Ability to select a user or group from a popup window."),
}
# What a new human user may do in every project until revoked.
DEFAULT_USER_PERMISSIONS = frozenset({
    "BROWSE_PROJECTS", "CREATE_ISSUES", "ADD_COMMENTS", "TRANSITION_ISSUES", "ASSIGNABLE_USER",
    "EDIT_OWN_COMMENTS", "DELETE_OWN_COMMENTS",
})
# Connect app users sit in the atlassian-addons-project-access role, which holds every project permission.
ALL_PROJECT_PERMISSIONS = frozenset(PROJECT_PERMISSIONS)
ANY_PROJECT = "*"

DEFAULT_ADMIN_ID = "5b10ac8d82e05b22cc7d4ef5"


def permission_kind(key: str) -> str:
    """``"PROJECT"`` or ``"GLOBAL"``; :class:`BadRequestError` for an unknown permission key."""
    if key in PROJECT_PERMISSIONS:
        return "PROJECT"
    if key in GLOBAL_PERMISSIONS:
        return "GLOBAL"
    raise BadRequestError(f"unknown permission {key!r}")


# ---------------------------------------------------------------------- records
@dataclass
class User:
    """A Jira user (``accountType`` atlassian, app or customer)."""

    account_id: str
    display_name: str
    account_type: str = "atlassian"
    email: str | None = None
    active: bool = True
    time_zone: str = "Etc/UTC"


@dataclass
class Project:
    """A project; issue numbers count up from 1."""

    id: str
    key: str
    name: str
    last_issue_number: int = 0


@dataclass
class Comment:
    """A comment; ``body`` is ADF."""

    id: str
    issue_id: str
    author_id: str
    body: dict[str, Any]
    created: float
    updated: float
    update_author_id: str
    visibility: dict[str, Any] | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class History:
    """One changelog entry: who changed what, when. Items use Jira's changelog item keys."""

    id: str
    author_id: str
    created: float
    items: list[dict[str, Any]]


@dataclass
class Issue:
    """An issue. ``description`` is ADF (or None); dates are epoch seconds; ``due_date`` is YYYY-MM-DD."""

    id: str
    key: str
    project_key: str
    summary: str
    description: dict[str, Any] | None
    status_id: str
    priority: str
    reporter_id: str | None
    creator_id: str | None
    assignee_id: str | None
    due_date: str | None
    labels: list[str]
    created: float
    updated: float
    resolution: str | None = None
    resolution_date: float | None = None
    status_changed: float = 0.0
    comment_ids: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    histories: list[History] = field(default_factory=list)


# ---------------------------------------------------------------------- the site
class SiteState:
    """Every record of one simulated site, guarded by :attr:`lock` (re-entrant)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.issues: dict[str, Issue] = {}
        self.issue_ids_by_key: dict[str, str] = {}
        self.comments: dict[str, Comment] = {}
        self.statuses: dict[str, Status] = {s.id: s for s in STATUSES}
        self.transitions: dict[str, Transition] = {t.id: t for t in TRANSITIONS}
        self._counters: dict[str, int] = {}
        self._base_permissions: dict[str, frozenset[str]] = {}
        self._global_permissions: dict[str, set[str]] = {}
        self._grants: dict[tuple[str, str], set[str]] = {}
        self._revokes: dict[tuple[str, str], set[str]] = {}

    # -- ids -----------------------------------------------------------------------------------
    def next_id(self, kind: str, start: int = 10000) -> str:
        """The next numeric id (as a string) for ``kind`` (issue, comment, project, history)."""
        with self.lock:
            value = self._counters.get(kind, start - 1) + 1
            self._counters[kind] = value
            return str(value)

    # -- lookups -------------------------------------------------------------------------------
    def user(self, account_id: str) -> User:
        """The user, or :class:`NotFoundError`."""
        found = self.users.get(account_id)
        if found is None:
            raise NotFoundError(f"no user with accountId {account_id!r}")
        return found

    def project(self, key: str) -> Project:
        """The project by key (case-insensitive), or :class:`NotFoundError`."""
        found = self.projects.get(key.upper())
        if found is None:
            raise NotFoundError(f"No project could be found with key '{key}'.")
        return found

    def project_by_id(self, project_id: str) -> Project | None:
        """The project with this id, or None."""
        return next((p for p in self.projects.values() if p.id == project_id), None)

    def find_issue(self, id_or_key: str) -> Issue | None:
        """The issue by numeric id or key (case-insensitive), or None."""
        if id_or_key.isdigit():
            return self.issues.get(id_or_key)
        issue_id = self.issue_ids_by_key.get(id_or_key.upper())
        return self.issues.get(issue_id) if issue_id else None

    def issue_comments(self, issue: Issue) -> list[Comment]:
        """The issue's comments, oldest first."""
        return [self.comments[c] for c in issue.comment_ids if c in self.comments]

    def status(self, issue: Issue) -> Status:
        """The issue's current status."""
        return self.statuses[issue.status_id]

    def status_by_name(self, name: str) -> Status:
        """The status with this name (case-insensitive), or :class:`BadRequestError`."""
        for status in self.statuses.values():
            if status.name.lower() == name.lower():
                return status
        raise BadRequestError(f"unknown status {name!r}; known: {', '.join(s.name for s in STATUSES)}")

    # -- permissions ---------------------------------------------------------------------------
    def set_base_permissions(self, account_id: str, project_permissions: frozenset[str],
                             global_permissions: set[str]) -> None:
        """The permissions a user holds everywhere before any grant or revoke."""
        with self.lock:
            self._base_permissions[account_id] = project_permissions
            self._global_permissions[account_id] = set(global_permissions)

    def grant(self, account_id: str, permission: str, project_key: str | None = None) -> None:
        """Give ``permission`` (in ``project_key``, or in every project when None)."""
        with self.lock:
            if permission_kind(permission) == "GLOBAL":
                self._global_permissions.setdefault(account_id, set()).add(permission)
                return
            scope = (account_id, self._scope(project_key))
            self._revokes.get(scope, set()).discard(permission)
            self._grants.setdefault(scope, set()).add(permission)

    def revoke(self, account_id: str, permission: str, project_key: str | None = None) -> None:
        """Take ``permission`` away (in ``project_key``, or in every project when None)."""
        with self.lock:
            if permission_kind(permission) == "GLOBAL":
                self._global_permissions.get(account_id, set()).discard(permission)
                return
            scope = (account_id, self._scope(project_key))
            self._grants.get(scope, set()).discard(permission)
            self._revokes.setdefault(scope, set()).add(permission)

    def has_global(self, account_id: str, permission: str) -> bool:
        """True if the user holds the global permission."""
        with self.lock:
            return permission in self._global_permissions.get(account_id, set())

    def has_project(self, account_id: str, permission: str, project_key: str) -> bool:
        """True if the user holds the project permission in ``project_key``."""
        with self.lock:
            user = self.users.get(account_id)
            if user is None or not user.active:
                return False
            key = project_key.upper()
            held = set(self._base_permissions.get(account_id, frozenset()))
            held |= self._grants.get((account_id, ANY_PROJECT), set())
            held -= self._revokes.get((account_id, ANY_PROJECT), set())
            held |= self._grants.get((account_id, key), set())
            held -= self._revokes.get((account_id, key), set())
            return permission in held

    def has_in_any_project(self, account_id: str, permission: str) -> bool:
        """True if the user holds the project permission in at least one project."""
        with self.lock:
            return any(self.has_project(account_id, permission, key) for key in self.projects)

    def can_see(self, account_id: str, issue: Issue) -> bool:
        """True if the user may browse the issue's project."""
        return self.has_project(account_id, "BROWSE_PROJECTS", issue.project_key)

    def _scope(self, project_key: str | None) -> str:
        if project_key is None:
            return ANY_PROJECT
        return self.project(project_key).key
