"""What the simulator needs to know from a Forge app's ``manifest.yml``: triggers, scheduled triggers,
remote endpoints and the UI modules that call them.

:func:`default_manifest` is the app this repository builds (the routes of ``connect_app/web/forge.py``);
:meth:`ForgeManifest.from_dict` reads any manifest with the same structure (``modules.trigger``,
``modules.scheduledTrigger``, ``modules.endpoint``, UI modules with ``resolver.endpoint``, ``remotes``,
``permissions.scopes``), e.g. the repository's ``forge/manifest.yml`` loaded with a YAML parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import BadRequestError

UI_MODULE_TYPES = ("jira:issueContext", "jira:issuePanel", "jira:adminPage", "jira:projectPage",
                   "jira:globalPage", "jira:issueGlance", "jira:issueAction")
INTERVALS = {"fiveMinute": 300, "hour": 3600, "day": 86_400, "week": 604_800}
TRIGGER_TYPE = "core:trigger"
SCHEDULED_TYPE = "core:scheduledTrigger"


@dataclass(frozen=True)
class Endpoint:
    """A remote endpoint: the remote's base URL plus ``route.path``, and the tokens Forge adds."""

    key: str
    remote: str
    path: str
    system_token: bool
    user_token: bool


@dataclass(frozen=True)
class Trigger:
    """A ``trigger`` module delivering ``events`` to ``endpoint`` (``ignoreSelf`` skips the app's own)."""

    key: str
    endpoint: str
    events: tuple[str, ...]
    ignore_self: bool = False


@dataclass(frozen=True)
class Scheduled:
    """A ``scheduledTrigger`` module calling ``endpoint`` every ``interval`` (fiveMinute/hour/day/week)."""

    key: str
    endpoint: str
    interval: str


@dataclass(frozen=True)
class UiModule:
    """A UI module (issue context panel, admin page...) whose ``invokeRemote`` goes to ``endpoint``."""

    key: str
    type: str
    endpoint: str | None


@dataclass(frozen=True)
class ForgeManifest:
    """The parts of a manifest the simulator acts on."""

    app_id: str
    triggers: tuple[Trigger, ...]
    scheduled: tuple[Scheduled, ...]
    endpoints: Mapping[str, Endpoint]
    ui_modules: Mapping[str, UiModule]
    remotes: Mapping[str, str]  # remote key -> baseUrl
    scopes: frozenset[str]

    @classmethod
    def from_dict(cls, manifest: Mapping[str, Any]) -> ForgeManifest:
        """Read a parsed ``manifest.yml``; :class:`BadRequestError` says what is missing or dangling."""
        app = _map(manifest.get("app") or {}, "app")
        app_id = str(app.get("id") or "")
        if not app_id:
            raise BadRequestError("the manifest has no app.id")
        modules = _map(manifest.get("modules"), "modules")
        endpoints = {}
        for item in _list(modules.get("endpoint"), "modules.endpoint"):
            auth = _map(item.get("auth") or {}, "endpoint auth")
            route = _map(item.get("route") or {}, "endpoint route")
            endpoints[str(item["key"])] = Endpoint(
                key=str(item["key"]), remote=str(item.get("remote") or ""), path=str(route.get("path") or ""),
                system_token=_enabled(auth.get("appSystemToken")),
                user_token=_enabled(auth.get("appUserToken")))
        triggers = tuple(
            Trigger(key=str(t["key"]), endpoint=str(t.get("endpoint") or ""),
                    events=tuple(str(e) for e in t.get("events") or ()),
                    ignore_self=bool(_map(t.get("filter") or {}, "trigger filter").get("ignoreSelf")))
            for t in _list(modules.get("trigger"), "modules.trigger"))
        scheduled = tuple(
            Scheduled(key=str(s["key"]), endpoint=str(s.get("endpoint") or ""),
                      interval=str(s.get("interval")))
            for s in _list(modules.get("scheduledTrigger"), "modules.scheduledTrigger"))
        ui_modules = {}
        for module_type in UI_MODULE_TYPES:
            for item in _list(modules.get(module_type), f"modules.{module_type}"):
                resolver = _map(item.get("resolver") or {}, "resolver")
                ui_modules[str(item["key"])] = UiModule(str(item["key"]), module_type,
                                                        str(resolver["endpoint"]) if resolver.get("endpoint")
                                                        else None)
        remotes = {str(r["key"]): str(r.get("baseUrl") or "")
                   for r in _list(manifest.get("remotes"), "remotes")}
        permissions = _map(manifest.get("permissions") or {}, "permissions")
        scopes = frozenset(str(s) for s in permissions.get("scopes") or ())
        out = cls(app_id, triggers, scheduled, endpoints, ui_modules, remotes, scopes)
        out._check()
        return out

    def _check(self) -> None:
        for ref in [t.endpoint for t in self.triggers] + [s.endpoint for s in self.scheduled] + [
                m.endpoint for m in self.ui_modules.values() if m.endpoint]:
            if ref not in self.endpoints:
                raise BadRequestError(f"the manifest refers to endpoint {ref!r}, which it does not define")
        for endpoint in self.endpoints.values():
            if endpoint.remote not in self.remotes:
                raise BadRequestError(f"endpoint {endpoint.key!r} names remote {endpoint.remote!r}, which "
                                      "the manifest does not define")
        for item in self.scheduled:
            if item.interval not in INTERVALS:
                raise BadRequestError(f"scheduled trigger {item.key!r} has interval {item.interval!r}; "
                                      f"expected one of {', '.join(INTERVALS)}")

    def triggers_for(self, event: str) -> list[Trigger]:
        """The trigger modules subscribed to ``event``."""
        return [t for t in self.triggers if event in t.events]


def default_manifest(app_id: str, base_url: str = "https://jira-ai.example.com") -> dict[str, Any]:
    """The manifest of this repository's Forge app, as a parsed ``manifest.yml`` (routes of the backend)."""
    def endpoint(key: str, path: str, *, user: bool = False) -> dict[str, Any]:
        auth: dict[str, Any] = {"appSystemToken": {"enabled": True}}
        if user:
            auth["appUserToken"] = {"enabled": True}
        out: dict[str, Any] = {"key": key, "remote": "jira-ai-backend", "auth": auth}
        if path:
            out["route"] = {"path": path}
        return out

    return {
        "app": {"id": app_id, "runtime": {"name": "nodejs22.x"}},
        "modules": {
            "trigger": [
                {"key": "comment-trigger", "endpoint": "events-endpoint",
                 "events": ["avi:jira:commented:issue"], "filter": {"ignoreSelf": True}},
                {"key": "issue-updated-trigger", "endpoint": "issue-events-endpoint",
                 "events": ["avi:jira:updated:issue"], "filter": {"ignoreSelf": True}},
                {"key": "lifecycle-trigger", "endpoint": "lifecycle-endpoint",
                 "events": ["avi:forge:installed:app", "avi:forge:upgraded:app"]},
            ],
            "scheduledTrigger": [{"key": "token-refresh", "endpoint": "scheduled-endpoint",
                                  "interval": "hour"}],
            "jira:issueContext": [{"key": "ai-email-panel", "resource": "email-panel",
                                   "title": "AI email draft", "resolver": {"endpoint": "ui-endpoint"}}],
            "jira:adminPage": [{"key": "ai-admin-page", "resource": "admin", "title": "Jira AI Assistant",
                                "useAsConfig": True, "resolver": {"endpoint": "ui-endpoint"}}],
            "endpoint": [
                endpoint("events-endpoint", "/forge/events/comment"),
                endpoint("issue-events-endpoint", "/forge/events/issue-updated"),
                endpoint("lifecycle-endpoint", "/forge/lifecycle"),
                endpoint("scheduled-endpoint", "/forge/scheduled/token-refresh"),
                endpoint("ui-endpoint", "", user=True),
            ],
        },
        "remotes": [{"key": "jira-ai-backend", "baseUrl": base_url, "operations": ["compute", "fetch"]}],
        "permissions": {"scopes": ["read:jira-work", "write:jira-work", "read:jira-user",
                                   "read:app-system-token", "read:app-user-token"]},
    }


def connect_scopes(oauth_scopes: frozenset[str]) -> frozenset[str]:
    """The simulator's coarse REST scopes (READ, WRITE, DELETE, ADMIN) that OAuth scopes amount to.

    ``read:*`` grants READ, ``write:*`` WRITE and DELETE (Jira's delete operations take write scopes),
    ``delete:*`` DELETE and ``manage:*`` everything; token-only scopes grant nothing.
    """
    out: set[str] = set()
    for scope in oauth_scopes:
        if scope in ("read:app-system-token", "read:app-user-token"):
            continue
        verb = scope.split(":", 1)[0]
        if verb == "read":
            out.add("READ")
        elif verb == "write":
            out.update({"WRITE", "DELETE"})
        elif verb == "delete":
            out.add("DELETE")
        elif verb == "manage":
            out.update({"READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN"})
    return frozenset(out)


def _enabled(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value.get("enabled"))
    return bool(value)


def _map(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadRequestError(f"the manifest's {name} must be a mapping")
    return value


def _list(value: Any, name: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) and v.get("key") for v in value):
        raise BadRequestError(f"the manifest's {name} must be a list of mappings with a key")
    return value
