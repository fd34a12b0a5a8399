"""The Connect door through Flask's test client, with real RS256/HS256 tokens and a stubbed key CDN."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import jsonschema
import jwt as pyjwt
import pytest
import responses

from connect_app.app import create_app
from connect_app.platform.connect.descriptor import render_descriptor
from connect_app.platform.connect.jwt import encode_hs256, query_string_hash
from tests.conftest import APP_URL, KEYS_URL, SHARED_SPECS, SITE_URL, install_token

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = SHARED_SPECS / "connect" / "jira-global-schema.json"
CLIENT_KEY = "ck-acme-0001"
SECRET = "shared-secret-value-for-acme-0123456789"
APP_ACCOUNT = "557058:app-user"


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    app.extensions["jira_ai"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keys(install_key, rogue_key):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{KEYS_URL}/{install_key.kid}", body=install_key.public_pem)
        rsps.get(f"{KEYS_URL}/{rogue_key.kid}", status=404)
        yield rsps


def installed_body(**over):
    body = {"key": "jira-ai-assistant", "clientKey": CLIENT_KEY, "sharedSecret": SECRET, "baseUrl": SITE_URL,
            "displayUrl": SITE_URL, "productType": "jira", "description": "Atlassian JIRA at " + SITE_URL,
            "eventType": "installed", "serverVersion": "100273", "pluginsVersion": "1001.0.0"}
    body.update(over)
    return body


def post_json(client, path, body, token=None, headers=None):
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"JWT {token}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, headers=hdrs, content_type="application/json")


def do_install(client, key, body=None, **token_kw):
    body = body or installed_body()
    token = install_token(key, client_key=token_kw.pop("client_key", body["clientKey"]), **token_kw)
    return post_json(client, "/connect/lifecycle/installed", body, token)


def hs_token(path, method="POST", *, secret=SECRET, iss=CLIENT_KEY, qsh=None, exp_in=120, **extra):
    now = int(time.time())
    claims = {"iss": iss, "iat": now, "exp": now + exp_in, "qsh": qsh or query_string_hash(method, path, APP_URL)}
    claims.update(extra)
    return encode_hs256(claims, secret)


def comment_payload(text="@ai summarize this", *, comment_id="10100", author=None):
    return {"timestamp": int(time.time() * 1000), "webhookEvent": "comment_created",
            "comment": {"id": comment_id, "body": text,
                        "author": author or {"accountId": "u-dana", "displayName": "Dana", "accountType": "atlassian"}},
            "issue": {"id": "10001", "key": "SUP-1", "fields": {"summary": "Login fails", "project": {"key": "SUP"}}}}


WEBHOOK = "/connect/webhooks/comment-created"


# ---------------------------------------------------------------------- descriptor
def _connect_validator():
    schema = json.loads(SCHEMA.read_text())
    # Known relaxation (../shared/specs/README.md): the 2019 schema only knows the gdpr migration.
    schema["properties"]["apiMigrations"] = {"type": "object"}
    return jsonschema.Draft4Validator(schema)


def test_descriptor_is_rendered_for_base_url_and_valid(client):
    res = client.get("/atlassian-connect.json")
    assert res.status_code == 200
    d = res.get_json()
    assert d["baseUrl"] == APP_URL and d["authentication"] == {"type": "jwt"}
    assert d["apiMigrations"]["signed-install"] is True and d["apiMigrations"]["context-qsh"] is True
    assert d["scopes"] == ["READ", "WRITE"]
    errors = sorted(_connect_validator().iter_errors(d), key=str)
    assert not errors, [e.message for e in errors]


def test_committed_descriptor_matches_the_renderer():
    from connect_app.settings import Settings

    committed = json.loads((ROOT / "atlassian-connect.json").read_text())
    rendered = render_descriptor(Settings.from_env({"APP_BASE_URL": committed["baseUrl"]}, env_file=None))
    assert committed == rendered
    assert not list(_connect_validator().iter_errors(committed))


# ---------------------------------------------------------------------- install
def test_signed_install_stores_the_tenant_with_sealed_secret(client, app, install_key, keys):
    res = do_install(client, install_key)
    assert res.status_code == 204, res.get_data(as_text=True)
    repo = app.extensions["jira_ai"].stores.tenants
    tenant = repo.get(CLIENT_KEY)
    assert tenant.base_url == SITE_URL and tenant.shared_secret == SECRET
    assert SECRET not in json.dumps(repo.raw(CLIENT_KEY))


def test_install_is_idempotent(client, app, install_key, keys):
    assert do_install(client, install_key).status_code == 204
    assert do_install(client, install_key).status_code == 204
    assert len(list(app.extensions["jira_ai"].stores.tenants.all())) == 1


@pytest.mark.parametrize(("token_kw", "reason"), [
    ({"aud": "https://evil.example.com"}, "aud"),
    ({"iss": "someone-else"}, "iss"),
    ({"ttl": -400}, "expired"),
    ({"qsh": "0" * 64}, "qsh"),
    ({"path": "/connect/lifecycle/uninstalled"}, "qsh"),
])
def test_install_rejections(client, app, install_key, keys, caplog, token_kw, reason):
    caplog.set_level(logging.INFO)
    res = do_install(client, install_key, **token_kw)
    assert res.status_code == 401
    assert app.extensions["jira_ai"].stores.tenants.get(CLIENT_KEY) is None
    assert reason in caplog.text.lower()
    assert SECRET not in caplog.text


def test_install_signed_by_an_unknown_key_is_refused(client, rogue_key, keys, caplog):
    assert do_install(client, rogue_key).status_code == 401


def test_install_signed_with_hs256_is_refused(client, keys):
    token = pyjwt.encode({"iss": CLIENT_KEY, "aud": APP_URL, "iat": int(time.time()), "exp": int(time.time()) + 60,
                          "qsh": query_string_hash("POST", "/connect/lifecycle/installed", APP_URL)}, SECRET,
                         algorithm="HS256")
    res = post_json(client, "/connect/lifecycle/installed", installed_body(), token)
    assert res.status_code == 401


def test_install_without_token_is_refused(client, keys):
    assert post_json(client, "/connect/lifecycle/installed", installed_body()).status_code == 401


def test_install_from_a_host_not_allowed_is_forbidden(client, app, install_key, keys):
    res = do_install(client, install_key, installed_body(baseUrl="https://acme.evil.example.com"))
    assert res.status_code == 403
    assert app.extensions["jira_ai"].stores.tenants.get(CLIENT_KEY) is None


def test_forged_reinstall_does_not_replace_the_secret(client, app, install_key, rogue_key, keys):
    assert do_install(client, install_key).status_code == 204
    forged = installed_body(sharedSecret="attacker-chosen-secret-000000000000")
    assert do_install(client, rogue_key, forged).status_code == 401
    assert do_install(client, install_key, forged, aud="https://other.example.com").status_code == 401
    assert app.extensions["jira_ai"].stores.tenants.get(CLIENT_KEY).shared_secret == SECRET


def test_malformed_install_body_is_400(client, install_key, keys):
    token = install_token(install_key, client_key=CLIENT_KEY)
    assert post_json(client, "/connect/lifecycle/installed", "{not json", token).status_code == 400
    assert post_json(client, "/connect/lifecycle/installed", "[1]", token).status_code == 400


def test_uninstall_forgets_the_site_and_is_idempotent(client, app, install_key, keys):
    do_install(client, install_key)
    token = install_token(install_key, client_key=CLIENT_KEY, path="/connect/lifecycle/uninstalled")
    body = installed_body(eventType="uninstalled")
    assert post_json(client, "/connect/lifecycle/uninstalled", body, token).status_code == 204
    assert app.extensions["jira_ai"].stores.tenants.get(CLIENT_KEY) is None
    token = install_token(install_key, client_key=CLIENT_KEY, path="/connect/lifecycle/uninstalled")
    assert post_json(client, "/connect/lifecycle/uninstalled", body, token).status_code == 204


def test_enabled_and_disabled_use_the_shared_secret(client, app, install_key, keys):
    do_install(client, install_key)
    repo = app.extensions["jira_ai"].stores.tenants
    body = installed_body(eventType="disabled")
    assert post_json(client, "/connect/lifecycle/disabled", body,
                     hs_token("/connect/lifecycle/disabled")).status_code == 204
    assert repo.get(CLIENT_KEY).enabled is False
    assert post_json(client, "/connect/lifecycle/enabled", body,
                     hs_token("/connect/lifecycle/enabled")).status_code == 204
    assert repo.get(CLIENT_KEY).enabled is True
    wrong = hs_token("/connect/lifecycle/disabled", secret="not-the-secret-at-all-00000000000")
    assert post_json(client, "/connect/lifecycle/disabled", body, wrong).status_code == 401
    assert repo.get(CLIENT_KEY).enabled is True


# ---------------------------------------------------------------------- webhooks
@pytest.fixture
def installed(client, app, install_key, keys):
    assert do_install(client, install_key).status_code == 204
    svc = app.extensions["jira_ai"]
    tenant = svc.stores.tenants.get(CLIENT_KEY)
    tenant.app_account_id = APP_ACCOUNT
    svc.stores.tenants.save(tenant)
    return svc


def pending(svc):
    return [r for r in (svc.journal.get(k[4:]) for k, _ in svc.stores.durable.scan("job:"))
            if r and r.event["kind"] == "comment"]


def test_webhook_is_verified_enqueued_and_answered_204(client, installed):
    res = post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK),
                    headers={"X-Atlassian-Webhook-Identifier": "wh-1"})
    assert res.status_code == 204
    jobs = pending(installed)
    assert len(jobs) == 1 and jobs[0].event["text"] == "summarize this"
    assert jobs[0].event["delivery_id"] == "wh-1"


def test_webhook_jwt_in_query_string_works(client, installed):
    token = hs_token(WEBHOOK + "?user_id=x", qsh=query_string_hash("POST", WEBHOOK + "?user_id=x", APP_URL))
    res = client.post(f"{WEBHOOK}?user_id=x&jwt={token}", data=json.dumps(comment_payload()),
                      content_type="application/json")
    assert res.status_code == 204
    assert len(pending(installed)) == 1


def test_retried_and_replayed_deliveries_make_one_job(client, installed):
    for retry in range(3):
        res = post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK),
                        headers={"X-Atlassian-Webhook-Identifier": "wh-1", "X-Atlassian-Webhook-Retry": str(retry)})
        assert res.status_code == 204
    # a replay of the same event under a new delivery id is still the same request
    post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK), headers={"X-Atlassian-Webhook-Identifier": "x"})
    assert len(pending(installed)) == 1


def test_the_apps_own_comment_is_ignored(client, installed):
    own = {"accountId": APP_ACCOUNT, "displayName": "Jira AI", "accountType": "app"}
    res = post_json(client, WEBHOOK, comment_payload("@ai summarize", author=own), hs_token(WEBHOOK))
    assert res.status_code == 204
    assert pending(installed) == []


def test_comment_without_trigger_needs_no_job(client, installed):
    assert post_json(client, WEBHOOK, comment_payload("thanks!"), hs_token(WEBHOOK)).status_code == 204
    assert pending(installed) == []


@pytest.mark.parametrize("token_fn", [
    lambda: hs_token(WEBHOOK, qsh="context-qsh"),
    lambda: hs_token(WEBHOOK, qsh=query_string_hash("POST", "/connect/webhooks/issue-updated", APP_URL)),
    lambda: hs_token(WEBHOOK, secret="another-sites-secret-0000000000000000"),
    lambda: hs_token(WEBHOOK, iss="unknown-site"),
    lambda: hs_token(WEBHOOK, exp_in=-600),
    lambda: pyjwt.encode({"iss": CLIENT_KEY, "qsh": "x"}, key=None, algorithm="none"),
    lambda: "not-a-jwt",
])
def test_webhook_token_rejections(client, installed, caplog, token_fn):
    caplog.set_level(logging.INFO)
    token = token_fn()
    res = post_json(client, WEBHOOK, comment_payload(), token)
    assert res.status_code == 401
    assert res.get_json()["error"] == "auth_failed"
    assert pending(installed) == []
    assert token not in caplog.text and SECRET not in caplog.text
    assert "401" in caplog.text


def test_webhook_without_token_is_401(client, installed):
    assert post_json(client, WEBHOOK, comment_payload()).status_code == 401


@pytest.mark.parametrize("body", ["{broken", "[]", json.dumps({"comment": "x", "issue": {}}), ""])
def test_malformed_webhook_payloads_are_400_and_nothing_queued(client, installed, body):
    res = post_json(client, WEBHOOK, body, hs_token(WEBHOOK))
    assert res.status_code == 400
    assert pending(installed) == []


def test_huge_bodies_are_413(client, installed):
    big = comment_payload("@ai " + "x" * 2_000_000)
    assert post_json(client, WEBHOOK, big, hs_token(WEBHOOK)).status_code == 413


def test_webhooks_for_a_disabled_project_are_dropped(client, installed):
    installed.site_settings.update(CLIENT_KEY, {"enabled_projects": ["OPS"]})
    assert post_json(client, WEBHOOK, comment_payload(), hs_token(WEBHOOK)).status_code == 204
    assert pending(installed) == []


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    res = client.get("/readyz")
    assert res.status_code == 200 and res.get_json()["checks"]["storage"] == "ok"


# ---------------------------------------------------------------------- lifecycle order and repeats
def lifecycle(client, event, *, install_key=None):
    """Deliver one lifecycle callback signed the way Jira signs it (RS256 install key or shared secret)."""
    path = f"/connect/lifecycle/{event}"
    body = installed_body(eventType=event)
    if event in ("installed", "uninstalled"):
        token = install_token(install_key, client_key=CLIENT_KEY, path=path)
    else:
        token = hs_token(path)
    return post_json(client, path, body, token)


@pytest.mark.parametrize("event", ["enabled", "disabled"])
def test_enabled_or_disabled_before_installed_changes_nothing(client, app, install_key, keys, event):
    # No shared secret is known yet, so the callback cannot be verified: refused, nothing stored, and
    # the install that follows works as a first install.
    assert lifecycle(client, event).status_code == 401
    repo = app.extensions["jira_ai"].stores.tenants
    assert repo.get(CLIENT_KEY) is None
    assert lifecycle(client, "installed", install_key=install_key).status_code == 204
    assert repo.get(CLIENT_KEY).enabled is True


def test_installed_after_disabled_keeps_the_site_disabled(client, app, install_key, keys):
    # Jira re-sends "installed" on upgrades and reinstalls of a disabled app; only "enabled" turns it on.
    repo = app.extensions["jira_ai"].stores.tenants
    assert lifecycle(client, "installed", install_key=install_key).status_code == 204
    first_installed_at = repo.get(CLIENT_KEY).installed_at
    assert lifecycle(client, "disabled").status_code == 204
    assert lifecycle(client, "installed", install_key=install_key).status_code == 204
    tenant = repo.get(CLIENT_KEY)
    assert tenant.enabled is False and tenant.installed_at == first_installed_at
    assert lifecycle(client, "enabled").status_code == 204
    assert repo.get(CLIENT_KEY).enabled is True


def test_installed_after_uninstalled_starts_enabled(client, app, install_key, keys):
    repo = app.extensions["jira_ai"].stores.tenants
    for event in ("installed", "disabled", "uninstalled"):
        assert lifecycle(client, event, install_key=install_key).status_code == 204
    assert lifecycle(client, "installed", install_key=install_key).status_code == 204
    assert repo.get(CLIENT_KEY).enabled is True


def test_uninstalled_for_a_site_never_installed_is_204(client, app, install_key, keys):
    assert lifecycle(client, "uninstalled", install_key=install_key).status_code == 204
    assert app.extensions["jira_ai"].stores.tenants.get(CLIENT_KEY) is None


def test_enabled_or_disabled_after_uninstalled_is_refused(client, app, install_key, keys):
    for event in ("installed", "uninstalled"):
        assert lifecycle(client, event, install_key=install_key).status_code == 204
    for event in ("enabled", "disabled"):
        assert lifecycle(client, event).status_code == 401
    assert app.extensions["jira_ai"].stores.tenants.get(CLIENT_KEY) is None


@pytest.mark.parametrize("event", ["installed", "enabled", "disabled", "uninstalled"])
def test_repeated_lifecycle_deliveries_end_in_the_same_state(client, app, install_key, keys, event):
    repo = app.extensions["jira_ai"].stores.tenants
    assert lifecycle(client, "installed", install_key=install_key).status_code == 204
    assert lifecycle(client, event, install_key=install_key).status_code == 204
    once = state(repo)
    for _ in range(2):
        assert lifecycle(client, event, install_key=install_key).status_code == 204
    assert state(repo) == once
    assert len(list(repo.all())) == (0 if event == "uninstalled" else 1)


def state(repo):
    """The stored tenant as plain data, without the time it was last written."""
    tenant = repo.get(CLIENT_KEY)
    return None if tenant is None else {k: v for k, v in vars(tenant).items() if k != "updated_at"}
