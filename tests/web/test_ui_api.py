"""The screens' JSON API through Flask's test client: real HS256 context tokens, Jira stubbed with responses."""

from __future__ import annotations

import json
import logging
import time

import pytest
import responses

from connect_app.app import create_app
from connect_app.errors import ForbiddenError
from connect_app.jobs.queue import Runner
from connect_app.models import Tenant
from connect_app.platform.connect.jwt import CONTEXT_QSH, encode_hs256, query_string_hash
from connect_app.settings import Settings
from connect_app.web.ui_auth import admin_cache_key
from tests.conftest import APP_URL, KEYS_URL, SITE_URL

CLIENT_KEY = "ck-acme-0001"
SECRET = "shared-secret-value-for-acme-0123456789"
OTHER_KEY = "ck-globex-0002"
OTHER_SITE = "https://globex.atlassian.net"
OTHER_SECRET = "shared-secret-value-for-globex-987654321"
DANA = "5b10ac8d82e05b22cc7d4ef5"
ADMIN = "5b10a2844c20165700ede21g"
API = f"{SITE_URL}/rest/api/3"
FORM = {"recipient": "customer", "purpose": "delay", "tone": "friendly", "notes": "New date: Friday."}


def context_token(*, sub=DANA, issue="SUP-1", secret=SECRET, iss=CLIENT_KEY, exp_in=120, qsh=CONTEXT_QSH,
                  context=None):
    now = int(time.time())
    claims = {"iss": iss, "sub": sub, "iat": now, "exp": now + exp_in, "qsh": qsh}
    if context is None:
        context = {"jira": {"issue": {"key": issue, "id": "10001"}, "project": {"key": "SUP", "id": "10000"}}
                   } if issue else {}
    claims["context"] = context
    return encode_hs256(claims, secret)


def auth(token):
    return {"Authorization": f"JWT {token}"}


class CannedRunner(Runner):
    """Answers UI jobs like a worker would, without Jira or a model."""

    def __init__(self):
        self.jobs = []

    def run_ui(self, kind, payload, *, job_id, tenant_id, account_id):
        self.jobs.append((kind, payload, tenant_id, account_id))
        if kind == "comment" and "forbidden" in payload["form"]["body"]:
            raise ForbiddenError("You don't have permission to comment on this issue.", code="comment_forbidden")
        if kind == "comment":
            return {"comment_id": "10500", "warnings": []}
        return {"subject": "Update on SUP-1", "body": "Hello,", "markdown": "**Subject:** Update on SUP-1\n\nHello,",
                "offline": False, "note": None, "budget_exhausted": False, "cached": False, "cost_usd": 0.0004,
                "drafts": 1}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "CONNECT_INSTALL_KEYS_URL": KEYS_URL, "SECRET_KEY": "test-secret-key-0123456789",
        # One user drafts dozens of times within a minute across this module: above the default limits.
        "RATE_LIMIT_USER_PER_MINUTE": "1000", "RATE_LIMIT_USER_PER_HOUR": "1000",
    }, env_file=None)
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    for key, url, secret in ((CLIENT_KEY, SITE_URL, SECRET), (OTHER_KEY, OTHER_SITE, OTHER_SECRET)):
        svc.stores.tenants.save(Tenant(tenant_id=key, door="connect", base_url=url, shared_secret=secret,
                                       app_key="jira-ai-assistant"))
    yield app
    svc.close()


@pytest.fixture(autouse=True)
def fresh(app):
    """One app for the module (building services takes a while); each test starts from a clean state."""
    svc = app.extensions["jira_ai"]
    svc.queue.huey.flush()
    for key, _ in list(svc.stores.cache.scan("")):
        svc.stores.cache.delete(key)
    for tenant_id in (CLIENT_KEY, OTHER_KEY):
        svc.site_settings.delete(tenant_id)
        svc.stores.tenants.set_enabled(tenant_id, True)
    svc.queue.runner = CannedRunner()


@pytest.fixture
def svc(app):
    return app.extensions["jira_ai"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def jira():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def admin_answer(jira, *, admin: bool, account=None):
    def reply(request):
        body = json.loads(request.body)
        granted = ["ADMINISTER"] if admin and (account is None or body["accountId"] == account) else []
        return 200, {}, json.dumps({"globalPermissions": granted, "projectPermissions": []})

    jira.add_callback(responses.POST, f"{API}/permissions/check", callback=reply, content_type="application/json")


def drain(svc, limit=10):
    for _ in range(limit):
        task = svc.queue.huey.dequeue()
        if task is None:
            return
        svc.queue.huey.execute(task)


# ---------------------------------------------------------------------- tokens
@pytest.mark.parametrize("token_fn", [
    lambda: context_token(exp_in=-600),
    lambda: context_token(secret=OTHER_SECRET),
    lambda: context_token(iss="unknown-site"),
    lambda: context_token(qsh=query_string_hash("GET", "/api/ui/admin", APP_URL)),
    lambda: context_token(sub=None),
    lambda: "not-a-jwt",
])
def test_bad_tokens_are_401_and_never_logged(client, jira, caplog, token_fn):
    caplog.set_level(logging.INFO)
    token = token_fn()
    res = client.get("/api/ui/panel", headers=auth(token))
    assert res.status_code == 401
    assert res.get_json() == {"error": "auth_failed", "message": "Authentication failed."}
    assert token not in caplog.text and SECRET not in caplog.text
    assert not jira.calls


def test_no_token_is_401(client):
    assert client.get("/api/ui/panel").status_code == 401
    assert client.post("/api/ui/drafts", json=FORM).status_code == 401


def test_a_token_hashed_for_the_exact_request_also_works(client, jira):
    jira.get(f"{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1", "fields": {"summary": "S"}})
    jira.get(f"{API}/issue/SUP-1/properties/jira-ai-assistant-drafts", status=404, json={})
    token = context_token(qsh=query_string_hash("GET", "/api/ui/panel", APP_URL))
    assert client.get("/api/ui/panel", headers=auth(token)).status_code == 200


def test_a_context_token_is_refused_on_a_webhook(client):
    res = client.post("/connect/webhooks/comment-created", data="{}", content_type="application/json",
                      headers=auth(context_token()))
    assert res.status_code == 401


def test_a_disabled_site_is_refused(client, svc):
    svc.stores.tenants.set_enabled(CLIENT_KEY, False)
    res = client.get("/api/ui/panel", headers=auth(context_token()))
    assert res.status_code == 403 and "disabled" in res.get_json()["message"]


# ---------------------------------------------------------------------- panel
def test_panel_shows_issue_choices_drafts_and_budget(client, svc, jira):
    jira.get(f"{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1",
                                        "fields": {"summary": "Checkout fails", "status": {"name": "In Progress"}}})
    jira.get(f"{API}/issue/SUP-1/properties/jira-ai-assistant-drafts", json={"key": "x", "value": {"count": 3}})
    svc.site_settings.update(CLIENT_KEY, {"default_email_tone": "friendly", "daily_limit_usd": 2})
    res = client.get("/api/ui/panel", headers=auth(context_token()))
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    body = res.get_json()
    assert body["issue"] == {"key": "SUP-1", "summary": "Checkout fails", "status": "In Progress"}
    assert body["defaults"] == {"tone": "friendly"}
    assert body["tones"] == ["formal", "friendly", "concise", "apologetic"]
    assert body["recipients"] == ["customer", "stakeholder", "team", "vendor", "other"]
    assert body["purposes"] == ["status_update", "delay", "resolution", "request_info", "other"]
    assert body["drafts"] == 3
    assert body["budget"] == {"exhausted": False, "left_usd": 2.0, "limit_usd": 2.0}
    assert jira.calls[0].request.url.endswith("?fields=summary,status")


def test_panel_with_jira_down_still_opens_with_the_key(client, jira):
    jira.get(f"{API}/issue/SUP-1", status=503)
    body = client.get("/api/ui/panel", headers=auth(context_token())).get_json()
    assert body["issue"] == {"key": "SUP-1", "summary": None, "status": None} and body["drafts"] is None
    assert len(jira.calls) == 1  # no retries on a request thread


def test_panel_says_when_the_budget_is_used_up(client, svc, jira):
    jira.get(f"{API}/issue/SUP-1", status=404)
    svc.site_settings.update(CLIENT_KEY, {"daily_limit_usd": 0})
    body = client.get("/api/ui/panel", headers=auth(context_token())).get_json()
    assert body["budget"] == {"exhausted": True, "left_usd": 0.0, "limit_usd": 0.0}


def test_panel_needs_an_issue_in_the_token(client):
    res = client.get("/api/ui/panel", headers=auth(context_token(issue=None)))
    assert res.status_code == 400 and "issue" in res.get_json()["message"]


# ---------------------------------------------------------------------- jobs
def test_draft_is_accepted_then_polled_to_its_result(client, svc):
    res = client.post("/api/ui/drafts", json=FORM, headers=auth(context_token()))
    assert res.status_code == 202
    job_id = res.get_json()["job_id"]
    poll = client.get(f"/api/ui/jobs/{job_id}", headers=auth(context_token()))
    assert poll.status_code == 200 and poll.get_json() == {"status": "pending"}
    drain(svc)
    done = client.get(f"/api/ui/jobs/{job_id}", headers=auth(context_token())).get_json()
    assert done["status"] == "done" and done["result"]["subject"] == "Update on SUP-1"
    kind, payload, tenant, account = svc.queue.runner.jobs[0]
    assert (kind, tenant, account) == ("draft", CLIENT_KEY, DANA)
    assert payload == {"issue": {"key": "SUP-1", "id": "10001"},
                       "form": {**FORM, "recipient_text": "", "purpose_text": "", "fresh": False}}


def test_the_issue_comes_from_the_token_never_the_body(client, svc):
    res = client.post("/api/ui/drafts", json={**FORM, "issue": "OTHER-1"}, headers=auth(context_token()))
    assert res.status_code == 400
    client.post("/api/ui/drafts", json=FORM, headers=auth(context_token(issue="SUP-7")))
    drain(svc)
    assert svc.queue.runner.jobs[-1][1]["issue"]["key"] == "SUP-7"


def test_the_site_default_tone_applies_when_none_is_sent(client, svc):
    svc.site_settings.update(CLIENT_KEY, {"default_email_tone": "concise"})
    body = {k: v for k, v in FORM.items() if k != "tone"}
    assert client.post("/api/ui/drafts", json=body, headers=auth(context_token())).status_code == 202
    drain(svc)
    assert svc.queue.runner.jobs[-1][1]["form"]["tone"] == "concise"


@pytest.mark.parametrize(("body", "words"), [
    ({**FORM, "recipient": "boss"}, "recipient must be one of"),
    ({**FORM, "notes": "x" * 2001}, "notes is limited to 2,000 characters"),
    ({**FORM, "recipient": "other"}, "recipient_text is required"),
    ("not json", "JSON object"),
    ([FORM], "JSON object"),
])
def test_bad_draft_requests_are_400_with_a_message(client, svc, body, words):
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
    res = client.post("/api/ui/drafts", headers=auth(context_token()), **kwargs)
    assert res.status_code == 400
    assert words in res.get_json()["message"]
    assert svc.queue.huey.pending_count() == 0


def test_posting_a_comment_and_its_failure_in_plain_words(client, svc):
    ok = client.post("/api/ui/comments", json={"subject": "Update", "body": "Hello"}, headers=auth(context_token()))
    refused = client.post("/api/ui/comments", json={"subject": "Update", "body": "forbidden"},
                          headers=auth(context_token()))
    assert ok.status_code == refused.status_code == 202
    drain(svc)
    result = client.get(f"/api/ui/jobs/{ok.get_json()['job_id']}", headers=auth(context_token())).get_json()
    assert result == {"status": "done", "result": {"comment_id": "10500", "warnings": []}}
    failed = client.get(f"/api/ui/jobs/{refused.get_json()['job_id']}", headers=auth(context_token())).get_json()
    assert failed == {"status": "failed", "error": {
        "code": "comment_forbidden", "message": "You don't have permission to comment on this issue."}}


def test_bad_comment_requests_are_400(client):
    res = client.post("/api/ui/comments", json={"subject": "", "body": "x"}, headers=auth(context_token()))
    assert res.status_code == 400 and "subject is required" in res.get_json()["message"]


@pytest.mark.parametrize("poller", [
    lambda: context_token(sub="someone-else"),
    lambda: context_token(iss=OTHER_KEY, secret=OTHER_SECRET),
])
def test_another_user_or_site_cannot_poll_a_job(client, svc, poller):
    job_id = client.post("/api/ui/drafts", json=FORM, headers=auth(context_token())).get_json()["job_id"]
    drain(svc)
    res = client.get(f"/api/ui/jobs/{job_id}", headers=auth(poller()))
    assert res.status_code == 404 and res.get_json()["error"] == "job_not_found"


@pytest.mark.parametrize("job_id", ["0" * 32, "nope", "..%2F..%2Fetc"])
def test_unknown_jobs_are_404(client, job_id):
    assert client.get(f"/api/ui/jobs/{job_id}", headers=auth(context_token())).status_code == 404


# ---------------------------------------------------------------------- admin
def test_a_non_admin_is_403_and_sees_no_data(client, jira):
    admin_answer(jira, admin=False)
    res = client.get("/api/ui/admin", headers=auth(context_token(issue=None)))
    assert res.status_code == 403
    assert res.get_json() == {"error": "not_admin",
                              "message": "Only Jira administrators can see and change the AI assistant's settings."}
    res = client.put("/api/ui/admin/settings", json={"daily_limit_usd": 100}, headers=auth(context_token()))
    assert res.status_code == 403
    assert json.loads(jira.calls[0].request.body) == {"accountId": DANA, "globalPermissions": ["ADMINISTER"]}


def test_the_admin_page_data(client, svc, jira):
    admin_answer(jira, admin=True, account=ADMIN)
    svc.breakers.get(f"jira:{OTHER_KEY}")  # another site's breaker must not show
    res = client.get("/api/ui/admin", headers=auth(context_token(sub=ADMIN, issue=None)))
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["site"] == {"tenant_id": CLIENT_KEY, "base_url": SITE_URL}
    assert body["cost"]["budget"]["limit_usd"] == svc.settings.max_daily_cost_usd
    assert len(body["daily"]) == 30 and set(body["daily"][0]) == {"day", "cost_usd"}
    assert isinstance(body["suggestions"], list)
    health = body["health"]
    assert [b["name"] for b in health["breakers"]] == ["llm", "jira"]
    assert OTHER_KEY not in json.dumps(body)
    assert {"status", "error_rate", "queue_depth", "latency", "recent_errors"} <= set(health)
    settings = body["settings"]
    assert settings["default_email_tone"] == "formal" and settings["semantic_available"] is False
    assert "gpt-4o-mini" in settings["allowed_models"] and settings["tones"][0] == "formal"


def test_the_admin_check_is_cached_per_site_and_user(client, svc, jira):
    admin_answer(jira, admin=True)
    for _ in range(3):
        assert client.get("/api/ui/admin", headers=auth(context_token(sub=ADMIN))).status_code == 200
    assert len(jira.calls) == 1
    assert svc.stores.cache.get(admin_cache_key(CLIENT_KEY, ADMIN)) is True
    assert client.get("/api/ui/admin", headers=auth(context_token(sub=DANA))).status_code == 200
    assert len(jira.calls) == 2


def test_the_admin_check_failing_is_a_clear_502_and_not_cached(client, svc, jira):
    jira.post(f"{API}/permissions/check", status=500)
    res = client.get("/api/ui/admin", headers=auth(context_token(sub=ADMIN)))
    assert res.status_code == 502
    assert res.get_json()["message"].startswith("Jira could not confirm that you are a Jira administrator")
    assert svc.stores.cache.get(admin_cache_key(CLIENT_KEY, ADMIN)) is None


def test_settings_round_trip(client, svc, jira):
    admin_answer(jira, admin=True)
    change = {"daily_limit_usd": 12.5, "alert_percentage": 70, "model": "gpt-4o", "default_email_tone": "concise",
              "resolution_summary_on_done": True, "enabled_projects": ["sup", "OPS"],
              "extra_instructions": "Sign emails as the Acme support team."}
    res = client.put("/api/ui/admin/settings", json=change, headers=auth(context_token(sub=ADMIN)))
    assert res.status_code == 200
    saved = res.get_json()
    assert saved["daily_limit_usd"] == 12.5 and saved["enabled_projects"] == ["OPS", "SUP"]
    assert saved["model"] == "gpt-4o" and "allowed_models" in saved
    again = client.get("/api/ui/admin", headers=auth(context_token(sub=ADMIN))).get_json()["settings"]
    assert again == saved
    site = svc.site_settings.get(CLIENT_KEY)
    assert site.default_email_tone == "concise" and site.extra_instructions.startswith("Sign emails")
    assert svc.manager.limit_micros(CLIENT_KEY) == 12_500_000  # in effect for the next request
    other = client.put("/api/ui/admin/settings", json={"daily_limit_usd": None}, headers=auth(context_token(sub=ADMIN)))
    assert other.get_json()["daily_limit_usd"] is None and other.get_json()["model"] == "gpt-4o"


@pytest.mark.parametrize(("change", "words"), [
    ({"daily_limit_usd": -1}, "daily_limit_usd must be a number from 0 to 10000"),
    ({"alert_percentage": 0}, "alert_percentage must be a number from 1 to 100"),
    ({"model": "gpt-imaginary"}, "model must be one of the priced models"),
    ({"default_email_tone": "sarcastic"}, "default_email_tone must be one of"),
    ({"enabled_projects": ["not a key"]}, "not a project key"),
    ({"extra_instructions": "x" * 1001}, "extra_instructions is limited to 1000 characters"),
    ({"colour": "blue"}, "unknown setting(s): colour"),
    ({"semantic_cache": True}, "semantic cache is not available"),
])
def test_bad_settings_are_400_with_a_message_and_nothing_changes(client, svc, jira, change, words):
    admin_answer(jira, admin=True)
    before = svc.site_settings.get(CLIENT_KEY)
    res = client.put("/api/ui/admin/settings", json=change, headers=auth(context_token(sub=ADMIN)))
    assert res.status_code == 400
    assert words in res.get_json()["message"]
    assert svc.site_settings.get(CLIENT_KEY) == before


def test_settings_are_per_site(client, svc, jira):
    admin_answer(jira, admin=True)
    client.put("/api/ui/admin/settings", json={"daily_limit_usd": 1}, headers=auth(context_token(sub=ADMIN)))
    assert svc.site_settings.get(OTHER_KEY).daily_limit_usd is None


@pytest.fixture
def semantic_app(tmp_path):
    """A deployment that offers the semantic cache (hashing embedder: no model download, no provider)."""
    settings = Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path / "data"), "CONNECT_INSTALL_KEYS_URL": KEYS_URL,
        "SECRET_KEY": "test-secret-key-0123456789", "USE_EMBEDDING_CACHE": "true", "EMBEDDING_BACKEND": "hashing",
    }, env_file=None)
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    svc.stores.tenants.save(Tenant(tenant_id=CLIENT_KEY, door="connect", base_url=SITE_URL, shared_secret=SECRET,
                                   app_key="jira-ai-assistant"))
    yield app
    svc.close()


def test_the_semantic_cache_can_be_turned_off_and_on_where_the_deployment_offers_it(semantic_app, jira):
    svc, client = semantic_app.extensions["jira_ai"], semantic_app.test_client()
    admin_answer(jira, admin=True)
    headers = auth(context_token(sub=ADMIN, issue=None))
    shown = client.get("/api/ui/admin", headers=headers).get_json()["settings"]
    assert shown["semantic_available"] is True and shown["semantic_cache"] is None  # the deployment default: on
    assert svc.site_settings.get(CLIENT_KEY).semantic_cache_on(svc.settings) is True
    for value in (False, True, False):
        res = client.put("/api/ui/admin/settings", json={"semantic_cache": value}, headers=headers)
        assert res.status_code == 200, res.get_json()
        assert res.get_json()["semantic_cache"] is value and res.get_json()["semantic_available"] is True
        again = client.get("/api/ui/admin", headers=headers).get_json()["settings"]
        assert again["semantic_cache"] is value
        assert svc.site_settings.get(CLIENT_KEY).semantic_cache_on(svc.settings) is value  # in effect at once
    res = client.put("/api/ui/admin/settings", json={"semantic_cache": "yes"}, headers=headers)
    assert res.status_code == 400 and "semantic_cache must be true or false" in res.get_json()["message"]
    assert svc.site_settings.get(CLIENT_KEY).semantic_cache is False
