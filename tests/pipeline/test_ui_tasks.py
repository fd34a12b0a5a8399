"""The issue panel's work (draft an email, post it) against the Jira simulator and the fake LLM, in process."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from connect_app.app import create_app
from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.errors import (
    AppError,
    BadRequestError,
    CircuitOpenError,
    ForbiddenError,
    JiraError,
    NotFoundError,
    StorageError,
    ValidationFailedError,
)
from connect_app.jira.adf import validate_adf
from connect_app.pipeline.generators.base import FALLBACK_NOTES
from connect_app.pipeline.ui_tasks import (
    COMMENT,
    DRAFT,
    CommentForm,
    EmailForm,
    budget_state,
    draft_count,
    drafts_label,
    job_payload,
    plain_error,
)
from connect_app.settings import Settings

DANA = "5b10ac8d82e05b22cc7d4ef5"
SAM = "5b10a0effa615349cb016cd8"
JOB = "0123456789abcdef0123456789abcdef"
FORM = {"recipient": "customer", "purpose": "delay", "tone": "apologetic", "notes": "New date is Friday."}


# ---------------------------------------------------------------------- forms (no I/O)
def test_email_form_reads_a_complete_body():
    form = EmailForm.parse({**FORM, "recipient_text": "", "purpose_text": ""})
    assert (form.recipient, form.purpose, form.tone, form.notes) == ("customer", "delay", "apologetic",
                                                                     "New date is Friday.")
    text = form.request_text()
    assert text.startswith("Draft an email to the customer about the delay")
    assert "New date is Friday." in text


def test_email_form_uses_free_text_for_other_and_the_site_tone_by_default():
    form = EmailForm.parse({"recipient": "other", "recipient_text": "our auditors",
                            "purpose": "other", "purpose_text": "the Q3 access review"}, default_tone="friendly")
    assert form.tone == "friendly"
    assert form.request_text() == "Draft an email to our auditors about the Q3 access review."


@pytest.mark.parametrize(("body", "words"), [
    ({**FORM, "recipient": "boss"}, "recipient must be one of"),
    ({**FORM, "purpose": None}, "purpose must be one of"),
    ({**FORM, "tone": "angry"}, "tone must be one of"),
    ({**FORM, "recipient": "other"}, "recipient_text is required"),
    ({**FORM, "purpose": "other", "purpose_text": "   "}, "purpose_text is required"),
    ({**FORM, "notes": "x" * 2001}, "notes is limited to 2,000 characters"),
    ({**FORM, "notes": 42}, "notes must be text"),
    ({**FORM, "issue_key": "OTHER-1"}, "unknown field(s): issue_key"),
    ([FORM], "JSON object"),
])
def test_email_form_rejects_bad_input_with_a_clear_message(body, words):
    with pytest.raises(BadRequestError) as info:
        EmailForm.parse(body)
    assert words in info.value.message


@pytest.mark.parametrize(("body", "words"), [
    ({"subject": "", "body": "Hello"}, "subject is required"),
    ({"subject": "Hi", "body": ""}, "body is required"),
    ({"subject": "x" * 151, "body": "Hello"}, "subject is limited to 150"),
    ({"subject": "Hi", "body": "x" * 10_001}, "body is limited to 10,000"),
])
def test_comment_form_rejects_bad_input(body, words):
    with pytest.raises(BadRequestError) as info:
        CommentForm.parse(body)
    assert words in info.value.message


def test_small_helpers():
    assert CommentForm.parse({"subject": "  Update\n on   SUP-1 ", "body": " Hi "}) == CommentForm("Update on SUP-1", "Hi")
    assert drafts_label(1) == "1 draft" and drafts_label(3) == "3 drafts"
    assert draft_count({"count": 4}) == 4
    assert draft_count(None) == draft_count({"count": "4"}) == draft_count({"count": True}) == 0

    class Budget:
        def limit_micros(self, tenant_id):
            return 2_000_000

        def spent_today(self, tenant_id):
            return 2_500_000

    assert budget_state(Budget(), "s") == {"exhausted": True, "left_usd": 0.0, "limit_usd": 2.0}
    assert budget_state(None, "s")["exhausted"] is False


@pytest.mark.parametrize(("error", "code", "words"), [
    (JiraError("Jira answered GET /rest/api/3/issue/X with 404", status=404), "jira_not_found", "no longer exists"),
    (JiraError("... 403 ...", status=403, code="jira_forbidden"), "jira_forbidden", "did not allow the app"),
    (JiraError("... 429 ...", status=429, code="jira_rate_limited"), "jira_rate_limited", "slow down"),
    (JiraError("timeout on /rest/api/3/x", code="jira_unavailable"), "jira_unavailable", "could not be reached"),
    (CircuitOpenError("circuit jira:ck-1 is open"), "circuit_open", "recovering"),
    (StorageError("disk /var/x full"), "storage_error", "storage"),
    (ValidationFailedError("bad adf", code="reply_adf_invalid"), "reply_adf_invalid", "formatting"),
    (AppError("weird internals", code="whatever"), "whatever", "something went wrong"),
])
def test_errors_are_told_in_plain_words(error, code, words):
    plain = plain_error(error)
    assert plain.code == code
    assert words in plain.message.lower()
    assert "/rest/api" not in plain.message and "ck-1" not in plain.message


def test_errors_already_in_plain_words_pass_unchanged():
    error = ForbiddenError("You don't have permission to comment on this issue.")
    assert plain_error(error) is error


# ---------------------------------------------------------------------- against the simulator
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sim = JiraSimulator().start()
    llm = FakeLLMServer().start()
    port = free_port()
    settings = Settings.from_env({
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "ui-tasks-test-secret-0123456789", "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-local-fake-key-000000", "OPENAI_API_BASE_URL": llm.base_url,
        "LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_SECONDS": "5",
    }, env_file=None)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    result = sim.install(settings.app_base_url)
    assert result["installed"], result
    sim.add_user(DANA, "Dana Whitfield")
    sim.add_user(SAM, "Sam Okafor")
    sim.add_project("SUP", "Support")
    sim.add_project("OPS", "Operations")
    sim.revoke(SAM, "ADD_COMMENTS", "SUP")
    services = app.extensions["jira_ai"]
    yield sim, services, result["installation"]["client_key"]
    server.shutdown()
    services.close()
    llm.stop()
    sim.stop()


def new_issue(sim, project="SUP"):
    return sim.add_issue(project, "Checkout times out for EU customers", status="In Progress", assignee=DANA,
                         description_text="Customers on the EU cluster see a timeout on the payment step.")


def run(services, tenant, kind, form, issue, account=DANA, job=JOB):
    payload = job_payload(form, issue_key=issue["key"], issue_id=issue.get("id", ""))
    return services.pipeline.run_ui(kind, payload, job_id=job, tenant_id=tenant, account_id=account)


def test_a_draft_is_written_counted_and_shown_on_the_glance(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    first = run(services, tenant, DRAFT, EmailForm.parse(FORM), issue)
    assert first["offline"] is False and first["budget_exhausted"] is False and first["note"] is None
    assert first["subject"] and issue["key"] in first["body"]  # the fake model quotes the issue it was given
    assert first["markdown"].startswith(f"**Subject:** {first['subject']}")
    assert first["cost_usd"] > 0 and first["drafts"] == 1
    second = run(services, tenant, DRAFT, EmailForm.parse({**FORM, "tone": "concise"}), issue)
    assert second["drafts"] == 2
    props = sim.issue(issue["key"]) and sim.state.issues[issue["id"]].properties
    assert props["jira-ai-assistant-drafts"]["count"] == 2
    for module in ("ai-email-glance", "ai-email-context"):
        status = props[f"com.atlassian.jira.issue:jira-ai-assistant:{module}:status"]
        assert status == {"type": "lozenge", "value": {"label": "2 drafts", "type": "default"}}


def test_the_same_draft_twice_comes_from_the_cache(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    form = EmailForm.parse({**FORM, "notes": "cache me"})
    run(services, tenant, DRAFT, form, issue)
    again = run(services, tenant, DRAFT, form, issue)
    assert again["cached"] is True and again["cost_usd"] == 0


def test_over_the_daily_budget_the_draft_is_offline_and_says_why(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    services.site_settings.update(tenant, {"daily_limit_usd": 0})
    try:
        result = run(services, tenant, DRAFT, EmailForm.parse({**FORM, "notes": "budget"}), issue)
    finally:
        services.site_settings.update(tenant, {"daily_limit_usd": None})
    assert result["offline"] is True and result["budget_exhausted"] is True
    assert result["note"] == FALLBACK_NOTES["budget_exceeded"]
    assert "budget" in result["note"] and result["subject"] and result["body"]
    assert "Offline draft" not in result["body"]  # the label stays out of what people copy


def test_drafting_in_a_project_where_the_assistant_is_off_is_refused(env):
    sim, services, tenant = env
    issue = new_issue(sim, "OPS")
    services.site_settings.update(tenant, {"enabled_projects": ["SUP"]})
    try:
        with pytest.raises(ForbiddenError) as info:
            run(services, tenant, DRAFT, EmailForm.parse(FORM), issue)
    finally:
        services.site_settings.update(tenant, {"enabled_projects": []})
    assert info.value.code == "project_disabled" and "OPS" in info.value.message


def test_a_missing_issue_is_told_plainly(env):
    _, services, tenant = env
    with pytest.raises(NotFoundError) as info:
        run(services, tenant, DRAFT, EmailForm.parse(FORM), {"key": "SUP-9999"})
    assert "no longer exists" in info.value.message


def test_posting_makes_a_valid_adf_comment_with_the_reply_marker(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    form = CommentForm.parse({"subject": "Update on the EU checkout timeout",
                              "body": "Hello,\n\nWe found the cause and **deploy the fix on Friday**.\n\n"
                                      "- EU only\n- no data lost\n\nKind regards,\nDana"})
    result = run(services, tenant, COMMENT, form, {"key": issue["key"]})  # no id: fetched from Jira
    comments = sim.comments(issue["key"])
    assert [c["id"] for c in comments] == [result["comment_id"]]
    posted = comments[0]
    assert validate_adf(posted["body"]) == []
    assert posted["author_type"] == "app"
    assert "Subject: Update on the EU checkout timeout" in posted["text"] and "deploy the fix" in posted["text"]
    marker = posted["properties"]["jira-ai-reply"]
    assert marker["request"] == f"panel:{JOB}" and marker["source"] == "panel"
    assert marker["status"] == "answered" and marker["intent"] == "email_request" and marker["by"] == DANA


def test_posting_runs_the_pipeline_checks(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    with pytest.raises(ValidationFailedError) as info:
        run(services, tenant, COMMENT, CommentForm.parse({"subject": "Hi", "body": "Dear [Customer Name], hi"}),
            issue)
    assert info.value.code == "reply_placeholder" and "[Customer Name]" in info.value.message
    with pytest.raises(ValidationFailedError):
        run(services, tenant, COMMENT, CommentForm.parse({"subject": "Hi", "body": "This is bullshit."}), issue)
    result = run(services, tenant, COMMENT,
                 CommentForm.parse({"subject": "Hi", "body": "@ai summarize this\nKey: sk-" + "a" * 30}), issue)
    posted = sim.comments(issue["key"])[-1]
    assert posted["id"] == result["comment_id"]
    assert "@ai" not in posted["text"] and "sk-aaaa" not in posted["text"]  # no loop, no secret
    assert any(w.startswith("secret_redacted") for w in result["warnings"])


def test_a_user_who_may_not_comment_cannot_post_through_the_app(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    with pytest.raises(ForbiddenError) as info:
        run(services, tenant, COMMENT, CommentForm.parse({"subject": "Hi", "body": "Hello there."}), issue,
            account=SAM)
    assert "permission to comment" in info.value.message
    assert sim.comments(issue["key"]) == []


def test_unknown_kind_and_site_are_refused(env):
    sim, services, tenant = env
    issue = new_issue(sim)
    with pytest.raises(BadRequestError):
        services.pipeline.run_ui("delete", {"issue": {"key": issue["key"]}, "form": {}}, job_id=JOB,
                                 tenant_id=tenant, account_id=DANA)
    with pytest.raises(ForbiddenError):
        run(services, "no-such-site", DRAFT, EmailForm.parse(FORM), issue)


def test_regenerate_asks_for_a_fresh_draft_and_validates_the_flag():
    from connect_app.errors import BadRequestError
    from connect_app.pipeline.ui_tasks import EmailForm

    form = EmailForm.parse({"recipient": "customer", "purpose": "delay", "tone": "formal", "fresh": True})
    assert form.fresh is True and EmailForm.parse({"recipient": "team", "purpose": "delay"}).fresh is False
    with pytest.raises(BadRequestError, match="fresh"):
        EmailForm.parse({"recipient": "team", "purpose": "delay", "fresh": "yes"})


def test_a_fresh_request_skips_the_cache_but_an_ordinary_one_uses_it():
    from connect_app.models import Classification, Intent, IssueContext
    from connect_app.pipeline.generators.base import GenerationRequest, call_model

    calls = []

    class Gateway:
        available = True

        def complete(self, **kwargs):
            from connect_app.models import Completion

            calls.append(kwargs)
            return Completion(text="Subject: Hi\n\nBody", model="m", provider="p")

    req = GenerationRequest.build(Classification(Intent.EMAIL_REQUEST, 1.0, "panel"), request="email the team",
                                  context=IssueContext(key="SUP-1"))
    call_model(req, Gateway(), [], cacheable=True)
    import dataclasses

    call_model(dataclasses.replace(req, use_cache=False), Gateway(), [], cacheable=True)
    assert calls[0]["cache_key"] and calls[0]["cache_hint"] is not None
    assert calls[1]["cache_key"] is None and calls[1]["cache_hint"] is None
