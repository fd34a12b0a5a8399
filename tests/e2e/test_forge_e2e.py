"""End to end through the Forge door: the Jira simulator in Forge mode (FITs signed with its own JWKS,
trigger events with a system token, REST under ``/ex/jira/<cloudId>`` with Bearer tokens), gunicorn serving
the app, a real worker process and the OpenAI-compatible fake. Users write comments in the simulator and
use the screens through ``invokeRemote``-shaped calls; we read what Jira ends up showing."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.devtools.stack import LocalStack

pytestmark = pytest.mark.e2e

DANA = "5b10ac8d82e05b22cc7d4ef5"  # the simulator's seeded site administrator
SAM = "5b10a0effa615349cb016cd8"  # a plain user without "Transition issues" in SUP
COMMENTED = "avi:jira:commented:issue"


@pytest.fixture(scope="module")
def stack():
    s = LocalStack(llm="fake", door="forge", sim_options={"forge_retry_base_delay": 0.2},
                   env={"JOB_LEASE_SECONDS": "2", "JOB_RETRIES": "2",  # a dozen requests a minute: above the
                        "RATE_LIMIT_USER_PER_MINUTE": "1000", "RATE_LIMIT_USER_PER_HOUR": "1000"})  # default limits
    try:
        s.start()
        s.install()
        s.sim.add_user(SAM, "Sam Okafor")
        s.sim.add_project("SUP", "Customer Support")
        s.sim.revoke(SAM, "TRANSITION_ISSUES", "SUP")
        yield s
    except Exception:
        print(s.logs())
        raise
    finally:
        s.stop()


def new_issue(stack, summary="Checkout times out for EU customers", **kw):
    kw.setdefault("description_text", "Customers on the EU cluster see a timeout on the payment step since Friday.")
    kw.setdefault("assignee", DANA)
    return stack.sim.add_issue("SUP", summary, status="In Progress", reporter=DANA, **kw)


def is_reply_to(comment_id):
    return lambda c: (c["properties"].get("jira-ai-reply") or {}).get("request") == f"comment:{comment_id}"


def replies_to(stack, issue_key, comment_id):
    return [c for c in stack.sim.comments(issue_key) if is_reply_to(comment_id)(c)]


def wait_reply(stack, issue_key, comment_id, timeout=30):
    try:
        return stack.sim.wait_for_comment(issue_key, is_reply_to(comment_id), timeout=timeout)
    except TimeoutError:
        pytest.fail(f"no reply to comment {comment_id} on {issue_key}\n{stack.logs()}")


def ask(stack, issue_key, text, author=DANA):
    comment = stack.sim.add_comment(issue_key, author, text)
    return comment, wait_reply(stack, issue_key, comment["id"])


def deliveries_for(stack, comment_id):
    return [d for d in stack.sim.forge.deliveries(COMMENTED) if d["payload"]["comment"]["id"] == comment_id]


def held_delivery(stack, issue_key, text, author=DANA):
    """A comment whose Forge delivery is recorded but not sent, for sending by hand."""
    with stack.sim.forge.holding():
        comment = stack.sim.add_comment(issue_key, author, text)
    [delivery] = deliveries_for(stack, comment["id"])
    assert delivery["state"] == "held"
    return comment, delivery["identifier"]


# ---------------------------------------------------------------------- events
@pytest.mark.parametrize(("text", "intent"), [
    ("@ai summarize this", "summary_request"),
    ("@ai draft an email to the customer about the delay", "email_request"),
    ("@ai write a status update for the team", "comment_request"),
    ("@ai help", "help"),
    ("@ai hmm, banana?", "unclear"),
])
def test_each_intent_gets_its_reply_through_forge(stack, text, intent):
    issue = new_issue(stack)["key"]
    comment, reply = ask(stack, issue, text)
    marker = reply["properties"]["jira-ai-reply"]
    assert marker["intent"] == intent
    assert reply["author_type"] == "app"
    assert reply["author_account_id"] == stack.sim.forge.installation().app_account_id
    if intent in ("summary_request", "email_request", "comment_request"):
        assert marker["offline"] is False
        assert issue in reply["text"]
    [delivery] = deliveries_for(stack, comment["id"])
    assert delivery["state"] == "delivered" and delivery["attempts"][-1]["status"] == 200
    # The app called Jira through the gateway with its system token.
    gateway_calls = stack.sim.calls(f"/ex/jira/{stack.sim.forge.cloud_id}/rest/api/3/issue/{issue}/comment",
                                    method="POST")
    assert gateway_calls and all(c["status"] == 201 for c in gateway_calls)


def test_task_completion_and_a_refusal(stack):
    issue = new_issue(stack, "Cache TTL too long")["key"]
    _, reply = ask(stack, issue, "@ai mark this done and note that the TTL fix is deployed")
    assert reply["properties"]["jira-ai-reply"]["intent"] == "task_completion"
    assert stack.sim.issue(issue)["fields"]["status"]["name"] == "Done"
    other = new_issue(stack, "Typo on the invoice footer")["key"]
    _, refusal = ask(stack, other, "@ai close this issue", author=SAM)
    assert "permission" in refusal["text"].lower()
    assert stack.sim.issue(other)["fields"]["status"]["name"] == "In Progress"


def test_a_redelivery_and_an_edit_never_make_a_second_reply(stack):
    issue = new_issue(stack)["key"]
    comment, _ = ask(stack, issue, "@ai summarize this")
    [delivery] = deliveries_for(stack, comment["id"])
    stack.sim.forge.redeliver(delivery["identifier"])
    stack.sim.update_comment(issue, comment["id"], "@ai summarize this, with the open questions")
    assert stack.sim.forge.wait_idle(10)
    time.sleep(1.0)
    assert len(replies_to(stack, issue, comment["id"])) == 1
    deliveries = deliveries_for(stack, comment["id"])
    assert len(deliveries) == 2  # the comment and its edit, each acknowledged with a 2xx
    assert all(a["status"] in (200, None) for d in deliveries for a in d["attempts"])  # None: a slow box
    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    assert deliveries[0]["replays"] == 1  # the redelivery


def test_the_apps_own_replies_raise_no_event(stack):
    issue = new_issue(stack)["key"]
    ask(stack, issue, "@ai write a status update for the team")
    time.sleep(0.5)
    app = stack.sim.forge.installation().app_account_id
    authors = [d["payload"]["comment"]["author"]["accountId"] for d in stack.sim.forge.deliveries(COMMENTED)
               if d["payload"]["issue"]["key"] == issue]
    assert app not in authors  # ignoreSelf
    assert len([c for c in stack.sim.comments(issue) if c["author_type"] == "app"]) == 1


def test_bad_tokens_are_401_and_nothing_is_queued(stack):
    issue = new_issue(stack)["key"]
    comment, identifier = held_delivery(stack, issue, "@ai summarize this")
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "wrong aud": {"aud": "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"},
        "wrong iss": {"iss": "forge/someone-else"},
        "expired": {"expires_in": -600},
        "unknown kid": {"kid": "forge-sim-unknown-kid", "sign_with": rogue},
        "forged signature": {"sign_with": rogue},
        "module key mismatch": {"module_key": "token-refresh"},
        "UI module on the event route": {"module_key": "ai-email-panel"},
        "HS256 downgrade": {"algorithm": "HS256"},
        "no Authorization": {"authorization": None},
        "apiBaseUrl elsewhere": {"claims": {"app": {"apiBaseUrl": "https://evil.example.com/ex/jira/x"}}},
        "no installationId": {"drop": ["app.installationId"]},
    }
    for name, tamper in bad.items():
        attempt = stack.sim.forge.send(identifier, **tamper)
        assert attempt["status"] == 401, (name, attempt)
    time.sleep(1.0)
    assert replies_to(stack, issue, comment["id"]) == []
    # Nothing was claimed either: the genuine delivery is accepted and answered once.
    assert stack.sim.forge.send(identifier)["status"] == 200
    wait_reply(stack, issue, comment["id"])
    assert stack.sim.forge.send(identifier)["status"] == 200  # a redelivery is acknowledged, not redone
    time.sleep(0.5)
    assert len(replies_to(stack, issue, comment["id"])) == 1


def test_bad_bodies_are_400_and_a_wrapped_event_is_accepted(stack):
    issue = new_issue(stack)["key"]
    comment, identifier = held_delivery(stack, issue, "@ai help")
    assert stack.sim.forge.send(identifier, body=b"{not json")["status"] == 400
    assert stack.sim.forge.send(identifier, body={"eventType": COMMENTED, "comment": {"id": "1"}})["status"] == 400
    assert stack.sim.forge.send(identifier, envelope="payload")["status"] == 200  # {"payload": {...}, "context"}
    wait_reply(stack, issue, comment["id"])


def test_resolution_summary_through_issue_updated(stack):
    forge = stack.sim.forge
    set_on = forge.invoke_remote("ai-admin-page", "/forge/ui/admin/settings", "PUT",
                                 {"resolution_summary_on_done": True}, account_id=DANA)
    assert set_on["status"] == 200, set_on
    try:
        issue = new_issue(stack, "Search results are empty for quoted phrases")["key"]
        stack.sim.add_comment(issue, DANA, "Fixed the tokenizer; quoted phrases now match exact terms.")
        stack.sim.transition_issue(issue, "Done", by=DANA)
        reply = stack.sim.wait_for_comment(
            issue, lambda c: str((c["properties"].get("jira-ai-reply") or {}).get("request", "")).startswith(
                "issue_done:"), timeout=30)
        assert reply["properties"]["jira-ai-reply"]["intent"] == "summary_request"
        updated = [d for d in forge.deliveries("avi:jira:updated:issue") if d["payload"]["issue"]["key"] == issue]
        assert updated and updated[-1]["attempts"][-1]["status"] == 200
    finally:
        forge.invoke_remote("ai-admin-page", "/forge/ui/admin/settings", "PUT",
                            {"resolution_summary_on_done": False}, account_id=DANA)


def test_lifecycle_and_scheduled_calls_are_accepted(stack):
    forge = stack.sim.forge
    upgraded = forge.upgrade()
    assert [d["state"] for d in upgraded["deliveries"]] == ["delivered"]
    assert upgraded["installation"]["installation_id"] == stack.tenant_id
    [refresh] = forge.run_scheduled("token-refresh")
    assert refresh["state"] == "delivered" and refresh["attempts"][-1]["status"] == 200


# ---------------------------------------------------------------------- screens
def invoke(stack, module, path, method="GET", body=None, *, account_id=DANA, issue=None, **tamper):
    return stack.sim.forge.invoke_remote(module, path, method, body, account_id=account_id, issue_key=issue,
                                         **tamper)


def run_ui_job(stack, path, body, issue, account_id=DANA):
    res = invoke(stack, "ai-email-panel", path, "POST", body, account_id=account_id, issue=issue)
    assert res["status"] == 202, res
    job_id = res["body"]["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = invoke(stack, "ai-email-panel", f"/forge/ui/jobs/{job_id}", account_id=account_id, issue=issue)
        assert state["status"] == 200, state
        if state["body"]["status"] != "pending":
            return job_id, state["body"]
        time.sleep(0.1)
    pytest.fail(f"UI job {job_id} still pending\n{stack.logs()}")


def test_the_issue_panel_drafts_and_posts_through_invoke_remote(stack):
    issue = new_issue(stack, "Checkout times out for EU customers", assignee=SAM)
    key = issue["key"]
    panel = invoke(stack, "ai-email-panel", "/forge/ui/panel?issueKey=SUP-999999", account_id=SAM, issue=key)
    assert panel["status"] == 200, panel
    assert panel["body"]["issue"]["key"] == key  # from the signed context, never from the query
    assert panel["body"]["drafts"] == 0
    form = {"recipient": "customer", "purpose": "delay", "tone": "apologetic", "notes": "New date is Friday."}
    job_id, state = run_ui_job(stack, "/forge/ui/drafts", form, key, account_id=SAM)
    assert state["status"] == "done", state
    draft = state["result"]
    assert draft["subject"] and draft["body"]
    other_user = invoke(stack, "ai-email-panel", f"/forge/ui/jobs/{job_id}", account_id=DANA, issue=key)
    assert other_user["status"] == 404  # results belong to the user who asked
    _, posted = run_ui_job(stack, "/forge/ui/comments", {"subject": draft["subject"], "body": draft["body"]},
                           key, account_id=SAM)
    assert posted["status"] == "done", posted
    comment_id = posted["result"]["comment_id"]
    [comment] = [c for c in stack.sim.comments(key) if c["id"] == str(comment_id)]
    assert comment["author_type"] == "app"
    assert comment["properties"]["jira-ai-reply"]["source"] == "panel"


def test_the_admin_page_for_an_admin_and_a_non_admin(stack):
    app_account = stack.sim.forge.installation().app_account_id
    stack.sim.grant(app_account, "ADMINISTER")  # the app's own token could administer: it must not matter
    admin = invoke(stack, "ai-admin-page", "/forge/ui/admin", account_id=DANA)
    assert admin["status"] == 200, admin
    assert admin["body"]["site"]["tenant_id"] == stack.tenant_id
    assert "cost" in admin["body"] and "settings" in admin["body"]
    changed = invoke(stack, "ai-admin-page", "/forge/ui/admin/settings", "PUT", {"default_email_tone": "friendly"},
                     account_id=DANA)
    assert changed["status"] == 200 and changed["body"]["default_email_tone"] == "friendly"
    bad = invoke(stack, "ai-admin-page", "/forge/ui/admin/settings", "PUT", {"default_email_tone": "shouty"},
                 account_id=DANA)
    assert bad["status"] == 400
    for method, path, body in (("GET", "/forge/ui/admin", None),
                               ("PUT", "/forge/ui/admin/settings", {"default_email_tone": "formal"})):
        refused = invoke(stack, "ai-admin-page", path, method, body, account_id=SAM)
        assert refused["status"] == 403, refused
    checks = stack.sim.calls("/mypermissions", method="GET")  # asked as Sam, with his user token
    assert any(c["account_id"] == SAM and "/ex/jira/" in c["path"] for c in checks)
    stack.sim.revoke(app_account, "ADMINISTER")
    invoke(stack, "ai-admin-page", "/forge/ui/admin/settings", "PUT", {"default_email_tone": "formal"},
           account_id=DANA)


def test_the_screens_act_as_the_user(stack):
    stack.sim.add_project("HR", "People")
    hidden = stack.sim.add_issue("HR", "Salary review", reporter=DANA)["key"]
    stack.sim.revoke(SAM, "BROWSE_PROJECTS", "HR")  # the app's system token still sees it
    for method, path, body in (("GET", "/forge/ui/panel", None), ("POST", "/forge/ui/drafts",
                               {"recipient": "customer", "purpose": "status_update", "tone": "formal"})):
        res = invoke(stack, "ai-email-panel", path, method, body, account_id=SAM, issue=hidden)
        assert res["status"] == 403 and res["body"]["error"] == "issue_not_visible", res
    assert invoke(stack, "ai-email-panel", "/forge/ui/panel", account_id=DANA, issue=hidden)["status"] == 200
    missing = invoke(stack, "ai-admin-page", "/forge/ui/admin", account_id=DANA, user_token=None)
    assert missing["status"] == 403 and missing["body"]["error"] == "user_token_missing", missing
    expired = invoke(stack, "ai-email-panel", "/forge/ui/panel", account_id=DANA, issue=hidden, user_token_ttl=-5)
    assert expired["status"] == 401 and expired["body"]["error"] == "user_token_expired", expired


def test_screens_refuse_bad_tokens(stack):
    key = new_issue(stack)["key"]
    for tamper in ({"expires_in": -600}, {"aud": "ari:cloud:ecosystem::app/other"},
                   {"module_key": "comment-trigger"}, {"drop": ["principal"]}):
        res = invoke(stack, "ai-email-panel", "/forge/ui/panel", account_id=SAM, issue=key, **tamper)
        assert res["status"] == 401, (tamper, res)


# ---------------------------------------------------------------------- expiring system token (keep last)
def test_a_reinstall_is_a_new_site_and_an_expired_token_makes_the_job_wait(stack):
    """A new installation whose every call so far carried an expired system token: its job waits (no
    failure note) and runs once a scheduled refresh brings a fresh token. Reinstalls, so it runs last."""
    forge = stack.sim.forge
    old_site = stack.tenant_id
    with forge.holding():
        result = stack.sim.install_forge(stack.app_url, app_id=stack.forge_app_id)
    site = result["installation"]["installation_id"]
    assert site != old_site
    [installed] = [d for d in forge.deliveries("avi:forge:installed:app", site) if d["state"] == "held"]
    assert forge.send(installed["identifier"], system_token_ttl=-5)["status"] == 200
    issue = new_issue(stack)["key"]
    comment, identifier = held_delivery(stack, issue, "@ai help")
    assert forge.send(identifier, system_token_ttl=-5)["status"] == 200
    deadline = time.monotonic() + 15
    while "token_expired" not in stack.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "token_expired" in stack.logs(), stack.logs()  # the worker logged "job … waits … (token_expired)"
    assert stack.sim.comments(issue)[-1]["id"] == comment["id"]  # no reply and no failure note yet
    [refresh] = forge.run_scheduled("token-refresh", site)
    assert refresh["attempts"][-1]["status"] == 200
    reply = wait_reply(stack, issue, comment["id"], timeout=20)  # FORGE_TOKEN_WAIT_SECONDS=2 in the stack
    assert reply["properties"]["jira-ai-reply"]["intent"] == "help"
