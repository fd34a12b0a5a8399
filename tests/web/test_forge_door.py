"""The Forge door through Flask's test client: real RS256 FITs against a local JWKS, Jira stubbed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import pytest
import responses

from connect_app.app import create_app
from connect_app.errors import TokenExpiredError
from connect_app.jobs.queue import Runner
from connect_app.models import Tenant
from connect_app.platform.forge.keys import ForgeKeys
from connect_app.settings import Settings
from tests.conftest import APP_URL, make_keypair
from tests.platform.forge.fitkit import (
    API_BASE,
    APP_ID,
    CLOUD_ID,
    INSTALLATION_ID,
    USER,
    JwksServer,
    fit,
    fit_claims,
    sign,
    system_token,
)

API = f"{API_BASE}/rest/api/3"
COMMENT = "/forge/events/comment"
UPDATED = "/forge/events/issue-updated"
LIFECYCLE = "/forge/lifecycle"
REFRESH = "/forge/scheduled/token-refresh"
FORM = {"recipient": "customer", "purpose": "delay", "tone": "friendly", "notes": "New date: Friday."}
ADMIN = "5b10a2844c20165700ede21g"


@pytest.fixture(scope="module")
def key():
    return make_keypair("forge-door-key-1")


@pytest.fixture(scope="module")
def rogue():
    return make_keypair("forge-door-rogue")


@pytest.fixture(scope="module")
def jwks(key):
    with JwksServer([key]) as server:
        yield server


@pytest.fixture
def settings(tmp_path, jwks):
    return Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "test-secret-key-0123456789",
        "JOB_RETRY_DELAY_SECONDS": "0", "FORGE_APP_ID": APP_ID, "FORGE_JWKS_URL": jwks.url,
        "FORGE_ALLOWED_API_HOSTS": "api.atlassian.com,127.0.0.1",
    }, env_file=None)


class CannedRunner(Runner):
    """Answers UI jobs like a worker would, without Jira or a model."""

    def __init__(self):
        self.jobs = []

    def run_ui(self, kind, payload, *, job_id, tenant_id, account_id):
        self.jobs.append((kind, payload, tenant_id, account_id))
        return {"subject": "Update", "body": "Hello,", "drafts": 1}


@pytest.fixture
def app(settings, jwks):
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    svc.forge_keys = ForgeKeys(jwks.url, lifespan=600, timeout=2, cooldown=0)  # refetches are observable
    svc.queue.runner = CannedRunner()
    yield app
    svc.close()


@pytest.fixture
def svc(app):
    return app.extensions["jira_ai"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def enqueued(svc, monkeypatch):
    events = []
    original = svc.queue.enqueue

    def record(event):
        events.append(event)
        return original(event)

    monkeypatch.setattr(svc.queue, "enqueue", record)
    return events


@pytest.fixture
def jira():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def post(client, path, body, token, *, system=None, raw=False):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if system:
        headers["x-forge-oauth-system"] = system
    data = body if raw else json.dumps(body)
    return client.post(path, data=data, headers=headers, content_type="application/json")


def adf(text):
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def comment_event(text="@ai summarize this", *, comment_id="10100", author=None, wrap=False):
    now = "2026-04-02T10:00:00.000+0000"
    event = {
        "eventType": "avi:jira:commented:issue", "atlassianId": USER,
        "issue": {"id": "10001", "key": "SUP-1",
                  "fields": {"summary": "Login fails", "project": {"id": "10000", "key": "SUP"}}},
        "comment": {"id": comment_id, "body": adf(text), "created": now, "updated": now,
                    "author": author or {"accountId": USER, "accountType": "atlassian", "displayName": "Dana"}},
    }
    return {"payload": event, "context": {"cloudId": CLOUD_ID}} if wrap else event


def done_event(*, changelog_id="20001", category="done"):
    return {"eventType": "avi:jira:updated:issue", "atlassianId": USER,
            "issue": {"id": "10001", "key": "SUP-1", "fields": {
                "project": {"key": "SUP"}, "status": {"name": "Done", "statusCategory": {"key": category}}}},
            "changelog": {"id": changelog_id, "items": [{"field": "status", "fromString": "In Progress",
                                                         "toString": "Done"}]}}


def installed(client, key, *, token_exp=None, event="avi:forge:installed:app"):
    token = system_token(token_exp or time.time() + 3600)
    body = {"eventType": event, "id": INSTALLATION_ID, "installerAccountId": ADMIN,
            "app": {"id": APP_ID, "version": "2.1.0"}, "environment": {"id": "env-1"}}
    return post(client, LIFECYCLE, body, fit("lifecycle-trigger", key), system=token), token


def ui_fit(key, *, issue="SUP-7", principal=USER, module="ai-email-panel"):
    extension = {"type": "jira:issueContext", "issue": {"key": issue, "id": "10007"}} if issue else {
        "type": "jira:adminPage"}
    return fit(module, key, principal=principal,
               context={"cloudId": CLOUD_ID, "moduleKey": module, "extension": extension})


def ui_headers(token, system=None, user=None):
    headers = {"Authorization": f"Bearer {token}"}
    if system:
        headers["x-forge-oauth-system"] = system
    if user:
        headers["x-forge-oauth-user"] = user
    return headers


def user_token(account=USER, exp=None):
    """A user token shaped like Forge's ``x-forge-oauth-user`` (a JWT with exp), never verified by us."""
    return system_token(exp or time.time() + 900, marker=f"user:{account}")


def as_user(jira, token, method, url, **answer):
    """Jira answers ``url`` only for calls carrying ``token``; anyone else gets a 401."""
    def reply(request):
        if request.headers.get("Authorization") != f"Bearer {token}":
            return 401, {}, json.dumps({"errorMessages": ["wrong token"]})
        return answer.get("status", 200), {}, json.dumps(answer.get("json", {}))

    jira.add_callback(method, url, callback=reply, content_type="application/json")


def drain(svc, limit=10):
    for _ in range(limit):
        task = svc.queue.huey.dequeue()
        if task is None:
            return
        svc.queue.huey.execute(task)


# ---------------------------------------------------------------------- lifecycle and tokens
def test_install_creates_the_site_with_a_sealed_system_token(client, svc, key, enqueued, caplog):
    caplog.set_level(logging.DEBUG)
    exp = int(time.time()) + 3000
    res, token = installed(client, key, token_exp=exp)
    assert res.status_code == 200 and res.get_json() == {"status": "ok"}
    tenant = svc.stores.tenants.get(INSTALLATION_ID)
    assert tenant.door == "forge" and tenant.api_base_url == API_BASE and tenant.cloud_id == CLOUD_ID
    assert tenant.base_url == API_BASE and tenant.app_key == svc.settings.app_key
    assert tenant.system_token == token and tenant.system_token_expires_at == exp
    raw = svc.stores.tenants.raw(INSTALLATION_ID)
    assert token not in json.dumps(raw) and "sealed" in raw["system_token"]
    assert [e.kind for e in enqueued] == ["site_setup"] and enqueued[0].door == "forge"
    assert token not in caplog.text


def test_upgrade_and_the_scheduled_refresh_update_the_token(client, svc, key):
    installed(client, key, token_exp=time.time() + 600)
    res, newer = installed(client, key, token_exp=time.time() + 1800, event="avi:forge:upgraded:app")
    assert res.status_code == 200 and svc.stores.tenants.get(INSTALLATION_ID).system_token == newer
    freshest = system_token(time.time() + 3600, marker="refresh")
    res = post(client, REFRESH, {"context": {"cloudId": CLOUD_ID}}, fit("token-refresh", key), system=freshest)
    assert res.status_code == 200
    tenant = svc.stores.tenants.get(INSTALLATION_ID)
    assert tenant.system_token == freshest and tenant.installed_at <= tenant.updated_at


def test_an_unknown_lifecycle_event_is_acknowledged_and_ignored(client, key, enqueued):
    res, _ = installed(client, key, event="avi:forge:something:else")
    assert res.status_code == 200 and res.get_json()["status"] == "ignored" and not enqueued


def test_jira_calls_for_a_forge_site_use_the_api_base_and_the_current_token(client, svc, key, jira):
    _, token = installed(client, key)
    jira.get(f"{API}/myself", json={"accountId": "app-account"})
    tenant = svc.stores.tenants.get(INSTALLATION_ID)
    client_ = svc.jira_for(tenant)
    assert client_.get_myself()["accountId"] == "app-account"
    assert jira.calls[0].request.headers["Authorization"] == f"Bearer {token}"
    newer = system_token(time.time() + 7200, marker="new")
    post(client, REFRESH, {}, fit("token-refresh", key), system=newer)
    client_.get_myself()  # the same client picks up the token stored since
    assert jira.calls[1].request.headers["Authorization"] == f"Bearer {newer}"


def test_an_expired_token_makes_jobs_wait_not_fail(svc):
    svc.stores.tenants.save(Tenant(tenant_id="inst-x", door="forge", base_url=API_BASE, api_base_url=API_BASE,
                                   system_token="old", system_token_expires_at=time.time() - 5))
    with pytest.raises(TokenExpiredError) as info:
        svc.jira_for(svc.stores.tenants.get("inst-x"))
    assert svc.pipeline.wait_before_retry(info.value) == svc.settings.forge_token_wait_seconds


# ---------------------------------------------------------------------- comment events
def test_a_comment_event_is_enqueued_and_answered_fast(client, svc, key, enqueued):
    installed(client, key)
    enqueued.clear()
    started = time.perf_counter()
    res = post(client, COMMENT, comment_event(), fit("comment-trigger", key), system=system_token(time.time() + 60))
    assert res.status_code == 200 and res.get_json()["status"] == "accepted"
    assert time.perf_counter() - started < 1.0
    (event,) = enqueued
    assert (event.door, event.kind, event.tenant_id) == ("forge", "comment", INSTALLATION_ID)
    assert (event.issue_key, event.comment_id, event.text) == ("SUP-1", "10100", "summarize this")
    assert event.author_account_id == USER and event.project_key == "SUP"
    assert svc.stores.dedupe.seen(f"{INSTALLATION_ID}:comment:10100")


def test_a_redelivery_and_an_edit_of_the_same_comment_make_no_second_job(client, key, enqueued):
    token = fit("comment-trigger", key)
    first = post(client, COMMENT, comment_event(), token)
    again = post(client, COMMENT, comment_event(), token)
    edited = post(client, COMMENT, comment_event("@ai summarize this, in French please"), token)
    assert [r.get_json()["status"] for r in (first, again, edited)] == ["accepted", "duplicate", "duplicate"]
    assert all(r.status_code == 200 for r in (first, again, edited))
    assert len(enqueued) == 1


def test_the_routes_own_endpoint_module_key_is_accepted_too(client, key):
    res = post(client, COMMENT, comment_event(), fit("events-endpoint", key))
    assert res.status_code == 200 and res.get_json()["status"] == "accepted"


def test_an_event_creates_the_site_when_no_lifecycle_event_came_first(client, svc, key):
    token = system_token(time.time() + 900)
    res = post(client, COMMENT, comment_event(wrap=True), fit("comment-trigger", key), system=token)
    assert res.status_code == 200 and res.get_json()["status"] == "accepted"
    assert svc.stores.tenants.get(INSTALLATION_ID).system_token == token


@pytest.mark.parametrize(("event", "reason"), [
    (comment_event("just a note"), "no_trigger"),
    (comment_event(author={"accountId": "app-1", "accountType": "app"}), "self_authored"),
    ({**comment_event(), "eventType": "avi:jira:deleted:comment"}, "event_type"),
])
def test_events_that_need_no_work_are_acknowledged(client, key, enqueued, event, reason):
    res = post(client, COMMENT, event, fit("comment-trigger", key))
    assert res.status_code == 200 and res.get_json() == {"status": "ignored", "reason": reason}
    assert not enqueued


def test_a_project_switched_off_is_ignored(client, svc, key, enqueued):
    installed(client, key)
    enqueued.clear()
    svc.site_settings.update(INSTALLATION_ID, {"enabled_projects": ["OPS"]})
    res = post(client, COMMENT, comment_event(), fit("comment-trigger", key))
    assert res.get_json() == {"status": "ignored", "reason": "project_disabled"} and not enqueued


def test_a_queue_outage_is_a_503_and_the_redelivery_is_accepted(client, svc, key, monkeypatch):
    original = svc.queue.enqueue

    def broken(_event):
        raise OSError("queue down")

    monkeypatch.setattr(svc.queue, "enqueue", broken)
    assert post(client, COMMENT, comment_event(), fit("comment-trigger", key)).status_code == 503
    monkeypatch.setattr(svc.queue, "enqueue", original)
    assert post(client, COMMENT, comment_event(), fit("comment-trigger", key)).get_json()["status"] == "accepted"


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"payload": "x"}', b'{"issue": {"key": "SUP-1"}}',
                                  b'{"comment": {"id": "1"}, "issue": {"key": "not a key"}}'])
def test_malformed_bodies_are_400(client, key, body):
    res = post(client, COMMENT, body, fit("comment-trigger", key), raw=True)
    assert res.status_code == 400, res.get_data(as_text=True)


# ---------------------------------------------------------------------- issue updated
def test_a_move_to_done_is_enqueued_once_when_the_site_wants_summaries(client, svc, key, enqueued):
    token = fit("issue-updated-trigger", key)
    assert post(client, UPDATED, done_event(), token).get_json()["reason"] == "resolution_summary_off"
    svc.site_settings.update(INSTALLATION_ID, {"resolution_summary_on_done": True})
    assert post(client, UPDATED, done_event(), token).get_json()["status"] == "accepted"
    assert post(client, UPDATED, done_event(), token).get_json()["status"] == "duplicate"
    (event,) = enqueued
    assert event.kind == "issue_done" and event.author_account_id == USER
    assert post(client, UPDATED, done_event(category="indeterminate"), token).get_json()["reason"] == "not_done"


# ---------------------------------------------------------------------- every bad token
def claims_with(module="comment-trigger", **over):
    return fit_claims(module, **over)


@pytest.mark.parametrize("make", [
    pytest.param(lambda k, r: sign(claims_with(aud="ari:cloud:ecosystem::app/other"), k), id="wrong-aud"),
    pytest.param(lambda k, r: sign(claims_with(iss="forge/other-token"), k), id="wrong-iss"),
    pytest.param(lambda k, r: sign(claims_with(now=time.time() - 3600), k), id="expired"),
    pytest.param(lambda k, r: sign(claims_with(nbf=int(time.time()) + 600), k), id="not-yet-valid"),
    pytest.param(lambda k, r: sign(claims_with(), r, kid=k.kid), id="bad-signature"),
    pytest.param(lambda k, r: hs256_with_public_key(k), id="hs256-with-the-public-key"),
    pytest.param(lambda k, r: fit("lifecycle-trigger", k), id="module-mismatch"),
    pytest.param(lambda k, r: fit("issue-events-endpoint", k), id="another-routes-endpoint"),
    pytest.param(lambda k, r: fit("ai-email-panel", k, principal=USER), id="a-screen-module"),
    pytest.param(lambda k, r: fit("comment-trigger", k, api_base="https://evil.example.com/ex/jira/x"),
                 id="api-host-not-allowed"),
    pytest.param(lambda k, r: "not.a.token", id="garbage"),
])
def test_bad_tokens_are_401_without_side_effects(client, svc, key, rogue, enqueued, caplog, make):
    caplog.set_level(logging.INFO)
    token = make(key, rogue)
    res = post(client, COMMENT, comment_event(), token, system=system_token(time.time() + 900))
    assert res.status_code == 401
    assert res.get_json() == {"error": "auth_failed", "message": "Authentication failed."}
    assert not enqueued and svc.stores.tenants.get(INSTALLATION_ID) is None
    assert token not in caplog.text


def hs256_with_public_key(key):
    """The classic downgrade: HS256 keyed with the RSA public key a verifier might hold."""

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode()) + "." + b64(
        json.dumps(claims_with()).encode())
    mac = hmac.new(key.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def test_alg_none_is_401(client, key):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'kid': key.kid})}.{b64(claims_with())}."
    assert post(client, COMMENT, comment_event(), token).status_code == 401


def test_missing_or_non_bearer_authorization_is_401(client, key):
    assert post(client, COMMENT, comment_event(), None).status_code == 401
    res = client.post(COMMENT, json=comment_event(), headers={"Authorization": f"JWT {fit('comment-trigger', key)}"})
    assert res.status_code == 401


def test_an_unknown_kid_refetches_the_key_set_once_then_401(client, key, jwks):
    assert post(client, COMMENT, comment_event(), fit("comment-trigger", key)).status_code == 200
    before = jwks.hits
    stranger = make_keypair("forge-door-unknown")
    assert post(client, COMMENT, comment_event(comment_id="10101"), fit("comment-trigger", stranger)).status_code == 401
    assert jwks.hits == before + 1


def test_a_rotated_key_is_picked_up(client, key, jwks):
    newer = make_keypair("forge-door-key-2")
    jwks.set_keys([key, newer])
    try:
        res = post(client, COMMENT, comment_event(), fit("comment-trigger", newer))
        assert res.status_code == 200
    finally:
        jwks.set_keys([key])


def test_the_door_is_closed_without_forge_app_id(tmp_path, key):
    settings = Settings.from_env({"APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path / "d")}, env_file=None)
    app = create_app(settings)
    try:
        res = post(app.test_client(), COMMENT, comment_event(), fit("comment-trigger", key))
        assert res.status_code == 404 and res.get_json()["error"] == "forge_disabled"
    finally:
        app.extensions["jira_ai"].close()


# ---------------------------------------------------------------------- the screens through invokeRemote
def test_panel_takes_the_issue_from_the_signed_context_and_reads_it_as_the_user(client, svc, key, jira):
    system, user = system_token(time.time() + 900), user_token()
    as_user(jira, user, responses.GET, f"{API}/issue/SUP-7",
            json={"id": "10007", "key": "SUP-7", "fields": {"summary": "Checkout fails", "status": {"name": "Open"}}})
    as_user(jira, user, responses.GET, f"{API}/issue/SUP-7/properties/jira-ai-assistant-drafts",
            json={"key": "x", "value": {"count": 2}})
    res = client.get("/forge/ui/panel?issueKey=EVIL-1", headers=ui_headers(ui_fit(key), system, user))
    assert res.status_code == 200, res.get_data(as_text=True)
    body = res.get_json()
    assert body["issue"] == {"key": "SUP-7", "summary": "Checkout fails", "status": "Open"} and body["drafts"] == 2
    assert [c.request.headers["Authorization"] for c in jira.calls] == [f"Bearer {user}"] * 2
    assert svc.stores.tenants.get(INSTALLATION_ID).system_token == system  # the user token is never stored
    assert user not in json.dumps(svc.stores.tenants.raw(INSTALLATION_ID))


def test_panel_is_refused_for_an_issue_the_user_cannot_browse(client, key, jira, caplog):
    caplog.set_level(logging.DEBUG)
    user = user_token()
    # The app's system token could read the issue; Jira answers the user 404, as it does for an issue
    # they may not browse.
    jira.get(f"{API}/issue/SUP-7", status=404, json={"errorMessages": [
        "Issue does not exist or you do not have permission to see it."]},
        match=[responses.matchers.header_matcher({"Authorization": f"Bearer {user}"})])
    headers = ui_headers(ui_fit(key), system_token(time.time() + 900), user)
    res = client.get("/forge/ui/panel", headers=headers)
    assert res.status_code == 403 and res.get_json()["error"] == "issue_not_visible"
    assert "cannot see this issue" in res.get_json()["message"]
    res = client.post("/forge/ui/drafts", json=FORM, headers=headers)
    assert res.status_code == 403 and res.get_json()["error"] == "issue_not_visible"
    res = client.post("/forge/ui/comments", json={"subject": "Hi", "body": "Hello"}, headers=headers)
    assert res.status_code == 403 and res.get_json()["error"] == "issue_not_visible"
    assert user not in caplog.text


def test_screens_that_act_for_the_user_need_the_user_token(client, key, jira):
    system = system_token(time.time() + 900)
    panel, admin = ui_fit(key), ui_fit(key, issue=None, module="ai-admin-page", principal=ADMIN)
    for method, path, token, body in (("GET", "/forge/ui/panel", panel, None), ("POST", "/forge/ui/drafts", panel, FORM),
                                      ("GET", "/forge/ui/admin", admin, None),
                                      ("PUT", "/forge/ui/admin/settings", admin, {"default_email_tone": "formal"})):
        res = client.open(path, method=method, json=body, headers=ui_headers(token, system))
        assert res.status_code == 403, (path, res.get_data(as_text=True))
        assert res.get_json()["error"] == "user_token_missing"
        assert "x-forge-oauth-user" in res.get_json()["message"] and "appUserToken" in res.get_json()["message"]
    assert not jira.calls  # never falls back to the app's own token


def test_an_expired_or_refused_user_token_is_401(client, key, jira):
    expired = user_token(exp=time.time() - 30)
    res = client.get("/forge/ui/panel", headers=ui_headers(ui_fit(key), None, expired))
    assert res.status_code == 401 and res.get_json()["error"] == "user_token_expired"
    refused = user_token(account="refused")
    jira.get(f"{API}/issue/SUP-7", status=401, json={"message": "Unauthorized"})
    res = client.get("/forge/ui/panel", headers=ui_headers(ui_fit(key), None, refused))
    assert res.status_code == 401 and res.get_json()["error"] == "user_token_rejected"
    assert [c.request.headers["Authorization"] for c in jira.calls] == [f"Bearer {refused}"]  # none when expired


def test_a_draft_is_queued_for_the_fit_issue_and_user_then_polled(client, svc, key, jira):
    token, user = ui_fit(key), user_token()
    as_user(jira, user, responses.GET, f"{API}/issue/SUP-7", json={"id": "10007", "key": "SUP-7", "fields": {}})
    res = client.post("/forge/ui/drafts", json=FORM, headers=ui_headers(token, system_token(time.time() + 900), user))
    assert res.status_code == 202
    res = client.post("/forge/ui/drafts", json=FORM, headers=ui_headers(token, None, user))
    assert res.status_code == 202 and len(jira.calls) == 1  # the user may see SUP-7: remembered for a while
    job_id = res.get_json()["job_id"]
    assert client.get(f"/forge/ui/jobs/{job_id}", headers=ui_headers(token)).get_json() == {"status": "pending"}
    drain(svc)
    done = client.get(f"/forge/ui/jobs/{job_id}", headers=ui_headers(token)).get_json()
    assert done["status"] == "done" and done["result"]["subject"] == "Update"
    kind, payload, tenant_id, account = svc.queue.runner.jobs[0]
    assert (kind, tenant_id, account) == ("draft", INSTALLATION_ID, USER)
    assert payload["issue"] == {"key": "SUP-7", "id": "10007"}
    assert user not in json.dumps(payload)  # the user token never goes to the queue
    other_user = ui_fit(key, principal=ADMIN)
    assert client.get(f"/forge/ui/jobs/{job_id}", headers=ui_headers(other_user)).status_code == 404


def test_the_body_cannot_name_the_issue(client, key):
    res = client.post("/forge/ui/drafts", json={**FORM, "issueKey": "EVIL-1"}, headers=ui_headers(ui_fit(key)))
    assert res.status_code == 400


def test_screen_calls_need_a_user_and_an_issue_and_a_screen_module(client, key):
    assert client.get("/forge/ui/panel", headers=ui_headers(ui_fit(key, principal=None))).status_code == 401
    assert client.get("/forge/ui/panel", headers=ui_headers(ui_fit(key, issue=None))).status_code == 400
    trigger = fit("comment-trigger", key, principal=USER)
    assert client.get("/forge/ui/panel", headers=ui_headers(trigger)).status_code == 401


def test_admin_page_checks_jira_admin_as_the_user(client, key, jira):
    system, plain, admin_token = system_token(time.time() + 900), user_token(USER), user_token(ADMIN)
    holds = {system: True, admin_token: True, plain: False}  # the app's own token could administer

    def answer(request):
        token = request.headers["Authorization"].removeprefix("Bearer ")
        have = {"key": "ADMINISTER", "type": "GLOBAL", "havePermission": holds[token]}
        return 200, {}, json.dumps({"permissions": {"ADMINISTER": have}})

    jira.add_callback(responses.GET, f"{API}/mypermissions", callback=answer, content_type="application/json")
    page = ui_fit(key, issue=None, module="ai-admin-page", principal=USER)
    res = client.get("/forge/ui/admin", headers=ui_headers(page, system, plain))
    assert res.status_code == 403 and res.get_json()["error"] == "not_admin"
    res = client.put("/forge/ui/admin/settings", json={"default_email_tone": "concise"},
                     headers=ui_headers(page, system, plain))
    assert res.status_code == 403
    admin = ui_fit(key, issue=None, module="ai-admin-page", principal=ADMIN)
    res = client.get("/forge/ui/admin", headers=ui_headers(admin, system, admin_token))
    assert res.status_code == 200 and res.get_json()["site"]["tenant_id"] == INSTALLATION_ID
    res = client.put("/forge/ui/admin/settings", json={"default_email_tone": "concise"},
                     headers=ui_headers(admin, None, admin_token))
    assert res.status_code == 200 and res.get_json()["default_email_tone"] == "concise"
    assert [c.request.headers["Authorization"] for c in jira.calls] == [f"Bearer {plain}", f"Bearer {admin_token}"]
    assert all(c.request.params == {"permissions": "ADMINISTER"} for c in jira.calls)  # cached five minutes


def test_a_connect_token_does_not_open_the_forge_screens(client):
    assert client.get("/forge/ui/panel", headers={"Authorization": "JWT abc.def.ghi"}).status_code == 401
