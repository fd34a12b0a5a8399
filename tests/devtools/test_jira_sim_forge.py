"""The Jira simulator's Forge mode behaves like Forge Remote for what the app uses.

A tiny remote (a Flask app on 127.0.0.1) verifies every Forge Invocation Token with PyJWT's JWKS client
against the JWKS the simulator serves, the way a real remote does, and records what it received. The
app calls the simulated REST API back through ``/ex/jira/<cloudId>`` with the system token it was given.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.jira_sim.forge_manifest import ForgeManifest, default_manifest
from connect_app.errors import BadRequestError, NotFoundError

APP_ID = "ari:cloud:ecosystem::app/0b7c5e0e-51c4-4d39-9b8a-2f1c0e6b1d11"
DANA = "5b10ac8d82e05b22cc7d4ef5"  # the seeded admin
SAM = "5b10a0effa615349cb016cd8"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class FakeRemote:
    """A Forge remote that checks FITs like a real one (RS256, kid from the JWKS, iss, aud)."""

    def __init__(self) -> None:
        self.flask = Flask("fake_forge_remote")
        self.server = make_server("127.0.0.1", 0, self.flask, threaded=True, request_handler=_Quiet)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.jwks: pyjwt.PyJWKClient | None = None
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.flask.add_url_rule("/<path:path>", "any", self._any, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _any(self, path: str):  # type: ignore[no-untyped-def]
        entry: dict[str, Any] = {"method": request.method, "path": "/" + path, "headers": dict(request.headers),
                                 "json": request.get_json(silent=True), "claims": None, "error": None}
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            key = self.jwks.get_signing_key_from_jwt(token).key
            entry["claims"] = pyjwt.decode(token, key, algorithms=["RS256"], audience=APP_ID,
                                           issuer="forge/invocation-token",
                                           options={"require": ["exp", "iat", "nbf", "aud", "iss"]})
        except Exception as exc:
            entry["error"] = type(exc).__name__
        with self.lock:
            self.received.append(entry)
            status = self.statuses.pop(0) if self.statuses else 200
        if self.delay:
            time.sleep(self.delay)
        if entry["error"]:
            return jsonify({"error": "unauthorized"}), 401
        return jsonify({"echo": entry["json"], "path": entry["path"]}), status

    def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [r for r in self.received if r["path"] == path]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.statuses.clear()
        self.delay = 0.0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def remote():
    r = FakeRemote()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sim(remote):
    s = JiraSimulator(forge_retry_base_delay=0.05, forge_timeout=3.0)
    s.start()
    remote.jwks = pyjwt.PyJWKClient(s.forge_jwks_url, cache_keys=True)
    s.add_user(SAM, "Sam Okafor")
    s.add_project("SUP", "Support")
    s.install_forge(remote.base_url, app_id=APP_ID)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _clean(remote, sim):
    sim.forge.wait_idle(5)
    remote.clear()
    yield


def gateway(sim, path: str) -> str:
    return f"{sim.forge.api_base_url}/rest/api/3{path}"


# ---------------------------------------------------------------------- install and tokens
def test_install_sends_the_installed_event_with_a_verifiable_fit(sim, remote):
    inst = sim.forge.installation()
    result = sim.install_forge(remote.base_url, app_id=APP_ID)  # a reinstall is a new installation
    new = result["installation"]
    assert new["installation_id"] != inst.installation_id
    assert new["installation_id"].startswith("ari:cloud:ecosystem::installation/")
    assert sim.forge.installation(inst.installation_id).installed is False
    assert result["deliveries"][0]["state"] == "delivered"
    [call] = remote.wait_for("/forge/lifecycle")
    assert call["error"] is None and call["method"] == "POST"
    claims = call["claims"]
    assert claims["aud"] == APP_ID and claims["iss"] == "forge/invocation-token"
    assert claims["app"]["installationId"] == new["installation_id"]
    assert claims["app"]["apiBaseUrl"] == f"{sim.base_url}/ex/jira/{sim.forge.cloud_id}"
    assert claims["app"]["module"] == {"type": "core:trigger", "key": "lifecycle-trigger"}
    assert claims["context"]["cloudId"] == sim.forge.cloud_id
    assert "principal" not in claims
    body = call["json"]
    assert body["eventType"] == "avi:forge:installed:app"
    assert body["id"] == new["installation_id"] and body["installerAccountId"] == DANA
    assert body["app"]["id"] == APP_ID and body["context"]["moduleKey"] == "lifecycle-trigger"
    assert call["headers"]["X-Forge-Oauth-System"] == new["system_token"]
    header = pyjwt.get_unverified_header(call["headers"]["Authorization"].removeprefix("Bearer "))
    assert header["alg"] == "RS256" and header["kid"] == sim.forge.keys.current_kid


def test_upgrade_keeps_the_installation_and_sends_upgraded(sim, remote):
    inst = sim.forge.installation()
    result = sim.forge.upgrade(version="7")
    assert result["installation"]["installation_id"] == inst.installation_id
    [call] = remote.wait_for("/forge/lifecycle")
    assert call["json"]["eventType"] == "avi:forge:upgraded:app"
    assert call["json"]["upgraderAccountId"] == DANA
    assert call["claims"]["app"]["version"] == "7"


def test_system_token_reaches_the_rest_api_through_the_gateway_only(sim):
    issue = sim.add_issue("SUP", "Gateway check")
    token = sim.forge.system_token()
    ok = requests.get(gateway(sim, f"/issue/{issue['key']}"), headers={"Authorization": f"Bearer {token}"},
                      timeout=5)
    assert ok.status_code == 200 and ok.json()["key"] == issue["key"]
    me = requests.get(gateway(sim, "/myself"), headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert me["accountType"] == "app" and me["accountId"] == sim.forge.installation().app_account_id
    posted = requests.post(gateway(sim, f"/issue/{issue['key']}/comment"), timeout=5,
                           headers={"Authorization": f"Bearer {token}"},
                           json={"body": {"type": "doc", "version": 1, "content": [
                               {"type": "paragraph", "content": [{"type": "text", "text": "from the app"}]}]}})
    assert posted.status_code == 201
    assert sim.comments(issue["key"])[-1]["author_type"] == "app"
    # Not at the site's own paths, not unknown tokens, not Connect JWTs at the gateway, not another cloudId.
    direct = requests.get(f"{sim.base_url}/rest/api/3/issue/{issue['key']}",
                          headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert direct.status_code == 401
    unknown = requests.get(gateway(sim, "/myself"), headers={"Authorization": "Bearer eyJ.forged.token"}, timeout=5)
    assert unknown.status_code == 401
    jwt_at_gateway = requests.get(gateway(sim, "/myself"), headers={"Authorization": "JWT abc"}, timeout=5)
    assert jwt_at_gateway.status_code == 401
    other = requests.get(f"{sim.base_url}/ex/jira/not-this-site/rest/api/3/myself",
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert other.status_code == 404
    notes = [c["note"] for c in sim.calls("/myself")]
    assert any("not issued by this site" in n for n in notes)


def test_expired_system_tokens_are_refused_and_replaced(sim):
    old = sim.forge.system_token()
    assert sim.forge.expire_tokens() >= 1
    res = requests.get(gateway(sim, "/myself"), headers={"Authorization": f"Bearer {old}"}, timeout=5)
    assert res.status_code == 401
    assert "expired" in sim.calls("/myself")[-1]["note"]
    new = sim.forge.system_token()
    assert new != old
    assert requests.get(gateway(sim, "/myself"), headers={"Authorization": f"Bearer {new}"}, timeout=5).ok
    claims = pyjwt.decode(new, options={"verify_signature": False})
    assert claims["exp"] > time.time() + 3000  # an app can read the expiry from the token


# ---------------------------------------------------------------------- product events
def test_comment_created_and_edited_raise_commented_issue(sim, remote):
    issue = sim.add_issue("SUP", "Checkout fails", assignee=SAM)
    comment = sim.add_comment(issue["key"], SAM, "@ai summarize this")
    [call] = remote.wait_for("/forge/events/comment")
    assert call["error"] is None
    assert call["claims"]["app"]["module"] == {"type": "core:trigger", "key": "comment-trigger"}
    body = call["json"]
    assert body["eventType"] == "avi:jira:commented:issue"
    assert body["issue"]["key"] == issue["key"] and body["issue"]["id"] == issue["id"]
    assert body["issue"]["fields"]["assignee"] == {"accountId": SAM}
    assert body["issue"]["fields"]["project"]["key"] == "SUP"
    assert body["comment"]["id"] == comment["id"]
    assert body["comment"]["author"] == {"accountId": SAM}
    assert body["comment"]["body"]["type"] == "doc"  # ADF, not wiki markup
    assert body["atlassianId"] == SAM
    assert body["context"] == {"cloudId": sim.forge.cloud_id, "moduleKey": "comment-trigger"}
    assert call["headers"]["X-Forge-Oauth-System"]
    sim.update_comment(issue["key"], comment["id"], "@ai summarize this, please")
    calls = remote.wait_for("/forge/events/comment", count=2)
    assert len(calls) == 2 and calls[1]["json"]["comment"]["id"] == comment["id"]
    assert "please" in str(calls[1]["json"]["comment"]["body"])


def test_transition_raises_updated_issue_with_the_changelog(sim, remote):
    issue = sim.add_issue("SUP", "Cache TTL")
    sim.transition_issue(issue["key"], "Done", by=SAM)
    [call] = remote.wait_for("/forge/events/issue-updated")
    body = call["json"]
    assert body["eventType"] == "avi:jira:updated:issue" and body["atlassianId"] == SAM
    assert body["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert any(i["field"] == "status" and i["toString"] == "Done" for i in body["changelog"]["items"])
    assert call["claims"]["app"]["module"]["key"] == "issue-updated-trigger"


def test_ignore_self_skips_the_apps_own_comments(sim, remote):
    issue = sim.add_issue("SUP", "Self")
    sim.add_comment(issue["key"], sim.forge.installation().app_account_id, "@ai an app's own reply")
    sim.add_comment(issue["key"], SAM, "a person")
    calls = remote.wait_for("/forge/events/comment", count=2, timeout=0.5)
    assert [c["json"]["comment"]["author"]["accountId"] for c in calls] == [SAM]


def test_failed_deliveries_are_retried_with_fresh_tokens(sim, remote):
    remote.statuses = [500, 429]
    issue = sim.add_issue("SUP", "Retry")
    sim.add_comment(issue["key"], SAM, "@ai help")
    calls = remote.wait_for("/forge/events/comment", count=3)
    assert [c["error"] for c in calls] == [None, None, None]
    assert len({c["claims"]["jti"] for c in calls}) == 3
    assert sim.forge.wait_idle(5)
    [delivery] = [d for d in sim.forge.deliveries("avi:jira:commented:issue")
                  if d["payload"]["issue"]["key"] == issue["key"]]
    assert [a["status"] for a in delivery["attempts"]] == [500, 429, 200]
    assert delivery["state"] == "delivered"


def test_timeouts_are_retried_and_then_given_up(sim, remote):
    remote.delay = 0.5
    sim.forge.dispatcher.timeout = 0.3  # Forge gives 5 s; shorter here to keep the test quick
    try:
        issue = sim.add_issue("SUP", "Slow")
        sim.add_comment(issue["key"], SAM, "@ai help")
        assert sim.forge.wait_idle(15)
    finally:
        sim.forge.dispatcher.timeout = 3.0
    [delivery] = [d for d in sim.forge.deliveries("avi:jira:commented:issue")
                  if d["payload"]["issue"]["key"] == issue["key"]]
    assert [a["error"] for a in delivery["attempts"]] == ["timeout"] * 5  # the first try and 4 retries
    assert delivery["state"] == "failed"


def test_held_deliveries_can_be_sent_by_hand_with_tampered_tokens(sim, remote):
    issue = sim.add_issue("SUP", "Held")
    with sim.forge.holding():
        sim.add_comment(issue["key"], SAM, "@ai summarize this")
    time.sleep(0.2)
    assert remote.wait_for("/forge/events/comment", timeout=0.1) == []
    [held] = [d for d in sim.forge.deliveries("avi:jira:commented:issue") if d["state"] == "held"]
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = [
        {"aud": "ari:cloud:ecosystem::app/another-app"},
        {"iss": "someone-else"},
        {"expires_in": -600},
        {"kid": "no-such-kid", "sign_with": rogue},
        {"sign_with": rogue},  # the current kid, but not its key
        {"drop": ["exp"]},
        {"algorithm": "HS256"},
    ]
    for tamper in bad:
        attempt = sim.forge.send(held["identifier"], **tamper)
        assert attempt["status"] == 401, tamper
    errors = [c["error"] for c in remote.wait_for("/forge/events/comment", count=len(bad))]
    assert all(errors), errors
    module_mismatch = sim.forge.send(held["identifier"], module_key="token-refresh")
    assert module_mismatch["status"] == 200  # signed fine; checking the module key is the app's job
    assert remote.received[-1]["claims"]["app"]["module"]["key"] == "token-refresh"
    wrapped = sim.forge.send(held["identifier"], envelope="payload")
    assert set(remote.received[-1]["json"]) == {"payload", "context"}
    assert wrapped["status"] == 200
    no_token = sim.forge.send(held["identifier"], system_token=None)
    assert no_token["status"] == 200 and "X-Forge-Oauth-System" not in remote.received[-1]["headers"]
    with pytest.raises(BadRequestError, match="unknown tampering"):
        sim.forge.send(held["identifier"], audience="x")


def test_redelivery_sends_the_same_body_again(sim, remote):
    issue = sim.add_issue("SUP", "Redeliver")
    sim.add_comment(issue["key"], SAM, "@ai help")
    [first] = remote.wait_for("/forge/events/comment")
    [delivery] = [d for d in sim.forge.deliveries("avi:jira:commented:issue")
                  if d["payload"]["issue"]["key"] == issue["key"]]
    sim.forge.redeliver(delivery["identifier"])
    calls = remote.wait_for("/forge/events/comment", count=2)
    assert calls[1]["json"] == first["json"]
    assert calls[1]["claims"]["jti"] != first["claims"]["jti"]


def test_expired_system_token_on_purpose(sim, remote):
    issue = sim.add_issue("SUP", "Expired token")
    with sim.forge.holding():
        sim.add_comment(issue["key"], SAM, "@ai help")
    [held] = [d for d in sim.forge.deliveries("avi:jira:commented:issue") if d["state"] == "held"]
    sim.forge.send(held["identifier"], system_token_ttl=-5)
    token = remote.received[-1]["headers"]["X-Forge-Oauth-System"]
    assert pyjwt.decode(token, options={"verify_signature": False})["exp"] < time.time()
    res = requests.get(gateway(sim, "/myself"), headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert res.status_code == 401


# ---------------------------------------------------------------------- scheduled triggers
def test_scheduled_trigger_runs_on_demand_and_on_its_interval(sim, remote):
    [delivery] = sim.forge.run_scheduled("token-refresh")
    assert delivery["state"] == "delivered"
    [call] = remote.wait_for("/forge/scheduled/token-refresh")
    assert call["claims"]["app"]["module"] == {"type": "core:scheduledTrigger", "key": "token-refresh"}
    assert call["json"]["context"]["moduleKey"] == "token-refresh"
    assert call["headers"]["X-Forge-Oauth-System"] == sim.forge.system_token()
    with pytest.raises(NotFoundError):
        sim.forge.run_scheduled("no-such-trigger")


def test_schedule_seconds_fires_scheduled_triggers_by_itself():
    own = FakeRemote()
    try:
        with JiraSimulator(forge_schedule_seconds=0.3) as quick:
            own.jwks = pyjwt.PyJWKClient(quick.forge_jwks_url)
            quick.install_forge(own.base_url, app_id=APP_ID)
            calls = own.wait_for("/forge/scheduled/token-refresh", count=2, timeout=3)
            assert len(calls) >= 2 and all(c["error"] is None for c in calls)
    finally:
        own.close()


# ---------------------------------------------------------------------- UI modules
def test_invoke_remote_from_the_issue_panel(sim, remote):
    issue = sim.add_issue("SUP", "Panel")
    result = sim.forge.invoke_remote("ai-email-panel", "/forge/ui/drafts", "POST", {"tone": "formal"},
                                     account_id=SAM, issue_key=issue["key"])
    assert result["status"] == 200 and result["body"]["echo"] == {"tone": "formal"}
    [call] = remote.wait_for("/forge/ui/drafts")
    claims = call["claims"]
    assert claims["principal"] == SAM
    assert claims["app"]["module"] == {"type": "jira:issueContext", "key": "ai-email-panel"}
    extension = claims["context"]["extension"]
    assert extension["issue"]["key"] == issue["key"] and extension["issue"]["id"] == issue["id"]
    assert extension["project"]["key"] == "SUP"
    user_token = call["headers"]["X-Forge-Oauth-User"]
    me = requests.get(gateway(sim, "/myself"), headers={"Authorization": f"Bearer {user_token}"}, timeout=5)
    assert me.json()["accountId"] == SAM  # the user token acts as the user
    assert call["headers"]["X-Forge-Oauth-System"] == sim.forge.system_token()


def test_invoke_remote_from_the_admin_page_and_its_errors(sim, remote):
    remote.statuses = [403]
    result = sim.forge.invoke_remote("ai-admin-page", "/forge/ui/admin", account_id=SAM)
    assert result["status"] == 403 and result["ok"] is False
    [call] = remote.wait_for("/forge/ui/admin")
    assert call["method"] == "GET" and call["json"] is None
    assert call["claims"]["context"]["extension"] == {"type": "jira:adminPage"}
    expired = sim.forge.invoke_remote("ai-admin-page", "/forge/ui/admin", account_id=DANA, expires_in=-600)
    assert expired["status"] == 401
    with pytest.raises(BadRequestError):
        sim.forge.invoke_remote("comment-trigger", "/forge/ui/admin", account_id=DANA)
    with pytest.raises(BadRequestError):
        sim.forge.invoke_remote("ai-admin-page", "forge/ui/admin", account_id=DANA)
    with pytest.raises(NotFoundError):
        sim.forge.invoke_remote("ai-email-panel", "/forge/ui/panel", account_id=DANA, issue_key="SUP-999")


def test_the_user_token_acts_as_the_viewer_with_their_own_permissions(sim, remote):
    """``x-forge-oauth-user`` names the viewer: Jira answers it with the viewer's permissions, even
    where the app's system token could do more; a negative test can leave it out or send an expired one."""
    sim.add_project("USR", "User token")
    hidden = sim.add_issue("USR", "Only for some")
    sim.revoke(SAM, "BROWSE_PROJECTS", "USR")
    sim.grant(sim.forge.installation().app_account_id, "ADMINISTER")  # the app could administer
    try:
        sim.forge.invoke_remote("ai-admin-page", "/forge/ui/admin", account_id=SAM)
        sim.forge.invoke_remote("ai-admin-page", "/forge/ui/admin", account_id=DANA)
        sam, dana = (call["headers"]["X-Forge-Oauth-User"] for call in remote.wait_for("/forge/ui/admin", 2))

        def administers(token: str) -> bool:
            res = requests.get(gateway(sim, "/mypermissions?permissions=ADMINISTER"),
                               headers={"Authorization": f"Bearer {token}"}, timeout=5)
            return res.json()["permissions"]["ADMINISTER"]["havePermission"]

        assert (administers(sam), administers(dana), administers(sim.forge.system_token())) == (False, True, True)
        read = [requests.get(gateway(sim, f"/issue/{hidden['key']}"), headers={"Authorization": f"Bearer {t}"},
                             timeout=5).status_code for t in (sam, dana, sim.forge.system_token())]
        assert read == [404, 200, 200]
        assert {c["account_id"] for c in sim.calls("/mypermissions")} >= {SAM, DANA}
    finally:
        sim.revoke(sim.forge.installation().app_account_id, "ADMINISTER")
    remote.clear()
    sim.forge.invoke_remote("ai-admin-page", "/forge/ui/admin", account_id=SAM, user_token=None)
    expired = sim.forge.invoke_remote("ai-admin-page", "/forge/ui/x", account_id=SAM, user_token_ttl=-5)
    assert expired["status"] == 200
    [without] = remote.wait_for("/forge/ui/admin")
    [stale] = remote.wait_for("/forge/ui/x")
    assert "X-Forge-Oauth-User" not in without["headers"] and "X-Forge-Oauth-System" in without["headers"]
    stale_token = stale["headers"]["X-Forge-Oauth-User"]
    res = requests.get(gateway(sim, "/myself"), headers={"Authorization": f"Bearer {stale_token}"}, timeout=5)
    assert res.status_code == 401


def test_no_user_token_without_the_read_app_user_token_scope():
    own = FakeRemote()
    with JiraSimulator() as other:
        manifest = default_manifest(APP_ID, own.base_url)
        manifest["permissions"]["scopes"].remove("read:app-user-token")
        own.jwks = pyjwt.PyJWKClient(other.forge_jwks_url)
        other.install_forge(own.base_url, app_id=APP_ID, manifest=manifest)
        other.forge.invoke_remote("ai-admin-page", "/forge/ui/admin", account_id=other.admin_account_id)
        [call] = own.wait_for("/forge/ui/admin")
        assert "X-Forge-Oauth-User" not in call["headers"] and "X-Forge-Oauth-System" in call["headers"]
    own.close()


# ---------------------------------------------------------------------- keys and manifests
def test_key_rotation_publishes_the_new_key_and_keeps_the_old(sim, remote):
    # PyJWT refetches the JWKS for an unknown kid only if its last fetch is older than its cooldown
    # (30 s by default); this remote has fetched moments ago, so it gets a client without one.
    remote.jwks = pyjwt.PyJWKClient(sim.forge_jwks_url, cache_keys=True, cooldown_duration=0)
    remote.jwks.get_signing_keys()
    old = sim.forge.keys.current_kid
    new = sim.forge.keys.rotate()
    kids = [k["kid"] for k in requests.get(sim.forge_jwks_url, timeout=5).json()["keys"]]
    assert old in kids and new in kids
    sim.forge.run_scheduled("token-refresh")
    [call] = remote.wait_for("/forge/scheduled/token-refresh")
    assert call["error"] is None  # PyJWKClient refetched the JWKS for the unknown kid
    sim.forge.keys.retire(old)
    assert old not in [k["kid"] for k in sim.forge.keys.jwks()["keys"]]


def test_uninstalled_apps_get_nothing_and_their_tokens_stop():
    own = FakeRemote()
    with JiraSimulator() as other:
        other.add_project("SUP", "Support")
        own.jwks = pyjwt.PyJWKClient(other.forge_jwks_url)
        other.install_forge(own.base_url, app_id=APP_ID)
        token = other.forge.system_token()
        other.forge.uninstall()
        issue = other.add_issue("SUP", "After uninstall")
        other.add_comment(issue["key"], other.admin_account_id, "@ai help")
        assert other.forge.deliveries("avi:jira:commented:issue") == []
        res = requests.get(f"{other.forge.api_base_url}/rest/api/3/myself",
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert res.status_code == 401
    own.close()


def test_manifests_are_read_and_checked():
    manifest = default_manifest(APP_ID, "https://app.example.com")
    parsed = ForgeManifest.from_dict(manifest)
    assert parsed.endpoints["events-endpoint"].path == "/forge/events/comment"
    assert parsed.endpoints["ui-endpoint"].user_token is True
    assert [t.key for t in parsed.triggers_for("avi:jira:commented:issue")] == ["comment-trigger"]
    assert parsed.ui_modules["ai-admin-page"].type == "jira:adminPage"
    manifest["modules"]["trigger"][0]["endpoint"] = "missing-endpoint"
    with pytest.raises(BadRequestError, match="missing-endpoint"):
        ForgeManifest.from_dict(manifest)
    with pytest.raises(BadRequestError, match=r"no app\.id"):
        ForgeManifest.from_dict({"modules": {}})


def test_the_default_manifest_matches_the_repositorys_forge_manifest():
    """The simulator's built-in manifest stays the app's: same routes, triggers, UI modules and tokens."""
    yaml = pytest.importorskip("yaml")
    path = Path(__file__).resolve().parents[2] / "forge" / "manifest.yml"
    if not path.is_file():
        pytest.skip("forge/manifest.yml is not in this checkout")
    real = ForgeManifest.from_dict(yaml.safe_load(path.read_text()))
    ours = ForgeManifest.from_dict(default_manifest(real.app_id))
    assert dict(real.endpoints) == dict(ours.endpoints)
    assert real.triggers == ours.triggers and real.scheduled == ours.scheduled
    assert dict(real.ui_modules) == dict(ours.ui_modules)
