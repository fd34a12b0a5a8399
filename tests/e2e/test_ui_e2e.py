"""The screens' API end to end: the Jira simulator, gunicorn serving the app, a real worker process, the fake
LLM. Calls carry context tokens signed with the installation's shared secret, as AP.context.getToken() gives."""

from __future__ import annotations

import time

import pytest
import requests

from connect_app.devtools.stack import LocalStack
from connect_app.jira.adf import validate_adf
from connect_app.jira.auth import ConnectJwtAuth
from connect_app.jira.client import JiraClient
from connect_app.platform.connect.jwt import CONTEXT_QSH, encode_hs256
from tests.stacks import running

pytestmark = pytest.mark.e2e

SAM = "5b10a0effa615349cb016cd8"  # a plain user (the simulator seeds the administrator)
APP_KEY = "jira-ai-assistant"


@pytest.fixture(scope="module")
def stack():
    s = LocalStack(llm="fake")
    with running(s, users={SAM: "Sam Okafor"}, projects={"SUP": "Customer Support"}):
        yield s


def token(stack, *, sub=SAM, issue=None):
    inst = stack.sim.installation()
    now = int(time.time())
    claims = {"iss": inst["client_key"], "sub": sub, "iat": now, "exp": now + 120, "qsh": CONTEXT_QSH,
              "context": {"jira": {"issue": {"key": issue["key"], "id": issue["id"]}}} if issue else {}}
    return encode_hs256(claims, inst["shared_secret"])


def call(stack, method, path, *, sub=SAM, issue=None, body=None):
    headers = {"Authorization": f"JWT {token(stack, sub=sub, issue=issue)}"}
    return requests.request(method, stack.app_url + path, json=body, headers=headers, timeout=10)


def run_job(stack, path, body, issue):
    res = call(stack, "POST", path, issue=issue, body=body)
    assert res.status_code == 202, res.text
    job_id = res.json()["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = call(stack, "GET", f"/api/ui/jobs/{job_id}", issue=issue).json()
        if state["status"] != "pending":
            return job_id, state
        time.sleep(0.1)
    pytest.fail(f"job {job_id} still pending\n{stack.logs()}")


def app_jira(stack):
    inst = stack.sim.installation()
    auth = ConnectJwtAuth(issuer=APP_KEY, secret=inst["shared_secret"], base_url=stack.sim.base_url)
    return JiraClient(stack.sim.base_url, auth, max_retries=0)


def test_draft_then_post_from_the_panel(stack):
    issue = stack.sim.add_issue("SUP", "Checkout times out for EU customers", status="In Progress",
                                assignee=SAM, description_text="The payment step times out on the EU cluster.")
    panel = call(stack, "GET", "/api/ui/panel", issue=issue).json()
    assert panel["issue"] == {"key": issue["key"], "summary": "Checkout times out for EU customers",
                              "status": "In Progress"}
    assert panel["drafts"] == 0 and panel["budget"]["exhausted"] is False

    form = {"recipient": "customer", "purpose": "delay", "tone": "apologetic", "notes": "New date is Friday."}
    _, state = run_job(stack, "/api/ui/drafts", form, issue)
    assert state["status"] == "done", state
    draft = state["result"]
    assert draft["subject"] and issue["key"] in draft["body"] and draft["offline"] is False
    assert draft["drafts"] == 1

    jira = app_jira(stack)
    glance = jira.get_issue_property(issue["key"], f"com.atlassian.jira.issue:{APP_KEY}:ai-email-glance:status")
    assert glance == {"type": "lozenge", "value": {"label": "1 draft", "type": "default"}}
    assert call(stack, "GET", "/api/ui/panel", issue=issue).json()["drafts"] == 1

    job_id, posted = run_job(stack, "/api/ui/comments", {"subject": draft["subject"], "body": draft["body"]}, issue)
    assert posted["status"] == "done", posted
    comment, = stack.sim.comments(issue["key"])
    assert comment["id"] == posted["result"]["comment_id"] and comment["author_type"] == "app"
    assert validate_adf(comment["body"]) == []
    assert draft["subject"] in comment["text"]
    marker = comment["properties"]["jira-ai-reply"]
    assert marker["request"] == f"panel:{job_id}" and marker["source"] == "panel" and marker["by"] == SAM


def test_admin_settings_as_the_admin_and_refused_to_a_user(stack):
    admin = stack.sim.admin_account_id
    assert call(stack, "GET", "/api/ui/admin", sub=SAM).status_code == 403
    assert call(stack, "PUT", "/api/ui/admin/settings", sub=SAM, body={"daily_limit_usd": 99}).status_code == 403

    page = call(stack, "GET", "/api/ui/admin", sub=admin)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["site"]["tenant_id"] == stack.tenant_id and len(body["daily"]) == 30
    assert {b["name"] for b in body["health"]["breakers"]} == {"llm", "jira"}

    res = call(stack, "PUT", "/api/ui/admin/settings", sub=admin,
               body={"daily_limit_usd": 0, "default_email_tone": "friendly"})
    assert res.status_code == 200 and res.json()["daily_limit_usd"] == 0.0
    try:
        issue = stack.sim.add_issue("SUP", "Invoices show the wrong VAT rate", status="To Do")
        assert call(stack, "GET", "/api/ui/panel", issue=issue).json()["defaults"] == {"tone": "friendly"}
        _, state = run_job(stack, "/api/ui/drafts", {"recipient": "team", "purpose": "status_update"}, issue)
        result = state["result"]
        assert result["offline"] is True and result["budget_exhausted"] is True
        assert "budget is used up" in result["note"]
    finally:
        reset = call(stack, "PUT", "/api/ui/admin/settings", sub=admin,
                     body={"daily_limit_usd": None, "default_email_tone": "formal"})
        assert reset.status_code == 200
    bad = call(stack, "PUT", "/api/ui/admin/settings", sub=admin, body={"alert_percentage": 500})
    assert bad.status_code == 400 and "alert_percentage" in bad.json()["message"]
