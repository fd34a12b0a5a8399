"""forge/manifest.yml: Atlassian's own validator accepts it, and it matches the backend it calls.

``forge/scripts/validate.mjs`` runs ``validate()`` from the npm package ``@forge/manifest`` (installed
by ``make forge``, never committed) plus our own checks, offline; see ``conftest.py`` for how the
packages and the Custom UI resources are prepared, and when these tests are skipped.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from connect_app.app import create_app
from connect_app.settings import Settings
from connect_app.web import forge as forge_door
from connect_app.web import forge_auth
from tests.conftest import APP_URL
from tests.forge.conftest import BUILT, FORGE_DIR, ROOT, ForgeTools

MANIFEST = FORGE_DIR / "manifest.yml"

# The backend's routes and the module keys each accepts (connect_app/web/forge.py, forge_auth.py).
ROUTE_MODULES = {
    forge_door.ROUTES["comment"]: forge_auth.COMMENT_MODULES,
    forge_door.ROUTES["issue_updated"]: forge_auth.ISSUE_UPDATED_MODULES,
    forge_door.ROUTES["lifecycle"]: forge_auth.LIFECYCLE_MODULES,
    forge_door.ROUTES["token_refresh"]: forge_auth.SCHEDULED_MODULES,
}


def _break(manifest: str) -> str:
    """A copy of the manifest with mistakes only a real validator catches; resources stay reachable."""
    broken = manifest.replace("    - read:app-user-token\n", "")
    broken = broken.replace("    - read:jira-work\n", "")
    broken = broken.replace("- avi:jira:updated:issue", "- avi:jira:updated:issues")
    broken = broken.replace("endpoint: scheduled-endpoint", "endpoint: no-such-endpoint")
    broken = re.sub(r"path: static/", f"path: {BUILT}/", broken)
    assert broken.count(f"path: {BUILT}/") == 2 and "no-such-endpoint" in broken
    return broken


@pytest.fixture(scope="module")
def reports(forge_tools: ForgeTools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The manifest and a broken copy, validated in one process (the schema compiles once)."""
    broken = tmp_path_factory.mktemp("forge") / "manifest.yml"
    broken.write_text(_break(MANIFEST.read_text()))
    done = forge_tools.run("scripts/validate.mjs", str(MANIFEST), str(broken),
                           env={**os.environ, "APP_BASE_URL": APP_URL})
    assert done.returncode in (0, 1), done.stderr + done.stdout
    real, wrong = json.loads(done.stdout)
    return {"real": real, "broken": wrong}


@pytest.fixture(scope="module")
def report(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return reports["real"]


@pytest.fixture(scope="module")
def app_summary(report: dict[str, Any]) -> dict[str, Any]:
    return report["app"]


def _endpoints(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {endpoint["key"]: endpoint for endpoint in summary["endpoints"]}


def test_atlassian_validator_accepts_the_manifest(report: dict[str, Any]) -> None:
    assert report["errors"] == [], json.dumps(report["errors"], indent=2)
    assert report["warnings"] == [], json.dumps(report["warnings"], indent=2)
    assert report["valid"] is True
    assert report["appBaseUrlSource"] == "environment"


def test_the_validator_reports_each_mistake_of_a_broken_copy(reports: dict[str, dict[str, Any]]) -> None:
    broken = reports["broken"]
    messages = [(item["source"], item["message"]) for item in broken["errors"]]
    assert broken["valid"] is False

    def found(source: str, *words: str) -> bool:
        return any(src == source and all(w in msg for w in words) for src, msg in messages)

    assert found("atlassian", "no-such-endpoint"), messages
    assert found("atlassian", "avi:jira:commented:issue", "read:jira-work"), messages
    assert found("project", "avi:jira:updated:issues", "not an event"), messages
    assert found("project", "appUserToken", "read:app-user-token"), messages


def test_the_remote_is_our_base_url_and_declares_its_data(app_summary: dict[str, Any]) -> None:
    (remote,) = app_summary["remotes"]
    assert remote["key"] == "jira-ai-backend"
    assert remote["baseUrl"] == APP_URL  # from APP_BASE_URL, as `forge deploy` reads it
    assert "compute" in remote["operations"]  # required for invokeRemote
    assert "storage" in remote["operations"] and remote["inScopeEUD"] is True  # we keep issue text
    assert {e["remote"] for e in app_summary["endpoints"]} == {"jira-ai-backend"}


def test_triggers_deliver_the_events_the_backend_handles(app_summary: dict[str, Any]) -> None:
    endpoints = _endpoints(app_summary)
    triggers = {t["key"]: t for t in app_summary["triggers"]}
    assert set(triggers) == {"comment-trigger", "issue-updated-trigger", "lifecycle-trigger"}
    assert triggers["comment-trigger"]["events"] == ["avi:jira:commented:issue"]
    assert triggers["issue-updated-trigger"]["events"] == ["avi:jira:updated:issue"]
    assert triggers["lifecycle-trigger"]["events"] == ["avi:forge:installed:app", "avi:forge:upgraded:app"]
    assert triggers["comment-trigger"]["ignoreSelf"] and triggers["issue-updated-trigger"]["ignoreSelf"]
    (refresh,) = app_summary["scheduledTriggers"]
    assert (refresh["key"], refresh["interval"]) == ("token-refresh", "hour")
    # Every backend call carries the app system token; only the screens act for a user.
    for trigger in [*triggers.values(), refresh]:
        endpoint = endpoints[trigger["endpoint"]]
        assert endpoint["appSystemToken"] and not endpoint["appUserToken"], endpoint
        assert endpoint["route"], endpoint


def test_scopes_are_only_the_ones_the_app_uses(app_summary: dict[str, Any]) -> None:
    """Each scope is used: ``manage:jira-configuration`` by the worker's permission checks for another
    user (task completion, posting from the panel), ``read:app-system-token`` by every endpoint, and
    ``read:app-user-token`` by the screens' calls the backend makes as the user (the admin check, the
    panel's issue read: ``tests/web/test_forge_door.py``), the only endpoint asking for it."""
    user_token_endpoints = {e["key"] for e in app_summary["endpoints"] if e["appUserToken"]}
    assert user_token_endpoints == {m["endpoint"] for m in app_summary["uiModules"]} == {"ui-endpoint"}
    assert forge_auth.USER_TOKEN_HEADER == "x-forge-oauth-user"  # what the backend reads for them
    assert sorted(app_summary["scopes"]) == sorted([
        "read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-configuration",
        "read:app-system-token", "read:app-user-token",
    ])


def test_the_screens_call_the_backend_through_a_remote_resolver(app_summary: dict[str, Any]) -> None:
    endpoints = _endpoints(app_summary)
    modules = {(m["type"], m["key"]): m for m in app_summary["uiModules"]}
    assert set(modules) == {("jira:issueContext", "ai-email-panel"), ("jira:adminPage", "ai-admin-page")}
    assert modules[("jira:adminPage", "ai-admin-page")]["useAsConfig"] is True
    resources = {r["key"]: r["path"] for r in app_summary["resources"]}
    for module in modules.values():
        endpoint = endpoints[module["endpoint"]]
        assert endpoint["appSystemToken"] and endpoint["appUserToken"] and endpoint["route"] is None
        assert resources[module["resource"]] == f"static/{module['resource']}"
        assert (FORGE_DIR / resources[module["resource"]] / "index.html").is_file()


@pytest.fixture
def backend_rules(tmp_path: Path) -> dict[str, set[str]]:
    """The Flask app's URL rules (path -> methods), built as gunicorn builds it."""
    settings = Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "test-secret-key-0123456789",
        "FORGE_APP_ID": "ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000",
    }, env_file=None)
    app = create_app(settings)
    rules: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        rules.setdefault(rule.rule, set()).update(rule.methods or ())
    return rules


def test_every_route_the_manifest_names_exists_in_the_backend(app_summary: dict[str, Any],
                                                              backend_rules: dict[str, set[str]]) -> None:
    for endpoint in app_summary["endpoints"]:
        if endpoint["route"]:  # triggers and scheduled triggers: Forge POSTs to the route
            assert "POST" in backend_rules.get(endpoint["route"], set()), endpoint
    # The screens' paths: transport-forge.js sends /api/ui/<rest> as /forge/ui/<rest>, same method.
    ui_rules = {path: methods for path, methods in backend_rules.items() if path.startswith("/api/ui/")}
    assert ui_rules, "the screens' API (/api/ui) is not registered"
    for path, methods in ui_rules.items():
        twin = forge_door.UI_PREFIX + path[len("/api/ui"):]
        assert twin in backend_rules, f"{path} has no Forge twin {twin}"
        assert methods - {"HEAD", "OPTIONS"} <= backend_rules[twin], (path, twin)


def test_the_backend_accepts_exactly_the_module_keys_the_manifest_sends(app_summary: dict[str, Any]) -> None:
    """A FIT names the module it was issued for: the trigger's key or its endpoint's (Forge documents
    ``core:endpoint`` invocations by endpoint), the UI module's key or its endpoint's. The backend must
    accept each of those for its route, and nothing that cannot reach it."""
    endpoints = _endpoints(app_summary)
    callers = [*app_summary["triggers"], *app_summary["scheduledTriggers"]]
    for route, expected in ROUTE_MODULES.items():
        delivering = {t["key"] for t in callers if endpoints[t["endpoint"]]["route"] == route}
        delivering |= {e["key"] for e in endpoints.values() if e["route"] == route}
        assert delivering, f"no manifest module delivers to {route}"
        assert set(expected) == delivering, f"{route}: backend accepts {sorted(expected)}, manifest {sorted(delivering)}"
    screens = {m["key"] for m in app_summary["uiModules"]} | {m["endpoint"] for m in app_summary["uiModules"]}
    assert set(forge_auth.UI_MODULES) == screens


def test_the_simulator_runs_the_same_app(app_summary: dict[str, Any]) -> None:
    """The Jira simulator's Forge mode delivers to the endpoints and modules this manifest declares."""
    from connect_app.devtools.jira_sim.forge_manifest import ForgeManifest, default_manifest

    sim = ForgeManifest.from_dict(default_manifest(app_summary["appId"], APP_URL))
    endpoints = _endpoints(app_summary)
    assert {k: (e.path or None, e.system_token, e.user_token) for k, e in sim.endpoints.items()} == {
        k: (e["route"], e["appSystemToken"], e["appUserToken"]) for k, e in endpoints.items()}
    assert {(t.key, t.endpoint, t.events, t.ignore_self) for t in sim.triggers} == {
        (t["key"], t["endpoint"], tuple(t["events"]), t["ignoreSelf"]) for t in app_summary["triggers"]}
    assert {(s.key, s.endpoint, s.interval) for s in sim.scheduled} == {
        (s["key"], s["endpoint"], s["interval"]) for s in app_summary["scheduledTriggers"]}
    assert {(m.key, m.type, m.endpoint) for m in sim.ui_modules.values()} == {
        (m["key"], m["type"], m["endpoint"]) for m in app_summary["uiModules"]}


def test_the_built_screens_load_only_their_own_files(report: dict[str, Any]) -> None:
    for resource, screen_script in (("email-panel", "email-panel.js"), ("admin", "admin.js")):
        folder = BUILT / resource
        html = (folder / "index.html").read_text()
        assert "{{" not in html and "{%" not in html
        assert '<script src="./app.js" defer></script>' in html
        assert "all.js" not in html and "transport-connect" not in html
        assert not re.search(r'(src|href)="(https?:)?//', html), "a resource must not load from outside"
        for href in re.findall(r'(?:src|href)="\./([^"]+)"', html):
            assert (folder / href).is_file(), href
        bundle = (folder / "app.js").read_text()
        assert "/forge/ui" in bundle and "__bridge" in bundle  # transport-forge + @forge/bridge
        assert "JiraAITransport" in bundle and screen_script  # the shared screen script reads it


def test_the_connect_pages_never_load_the_forge_transport() -> None:
    for template in (ROOT / "templates").glob("*.html"):
        text = template.read_text()
        assert "transport-forge" not in text and "@forge/bridge" not in text, template.name
