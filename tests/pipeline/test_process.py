"""Pipeline.process against the Jira simulator, in one process: idempotency and the crash windows."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from connect_app.app import create_app
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.errors import JiraError
from connect_app.models import AiEvent
from connect_app.settings import Settings

DANA = "5b10ac8d82e05b22cc7d4ef5"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    sim = JiraSimulator().start()
    port = free_port()
    settings = Settings.from_env({
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "pipeline-test-secret-0123456789",
    }, env_file=None)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    result = sim.install(settings.app_base_url)
    assert result["installed"], result
    sim.add_user(DANA, "Dana Whitfield")
    sim.add_project("SUP", "Support")
    services = app.extensions["jira_ai"]
    yield sim, services, result["installation"]["client_key"]
    server.shutdown()
    services.close()
    sim.stop()


def comment_event(sim, tenant, issue, text):
    comment = sim.add_comment(issue, DANA, text)
    return AiEvent(tenant_id=tenant, door="connect", kind="comment", delivery_id=f"d-{comment['id']}",
                   issue_key=issue, project_key="SUP", comment_id=comment["id"], text=text.removeprefix("@ai "),
                   author_account_id=DANA, author_name="Dana")


def app_replies(sim, issue):
    return [c for c in sim.comments(issue) if "jira-ai-reply" in c["properties"]]


def test_a_second_run_of_the_same_request_posts_nothing(env):
    sim, services, tenant = env
    issue = sim.add_issue("SUP", "Login fails", description_text="SSO loops", status="In Progress")["key"]
    event = comment_event(sim, tenant, issue, "@ai summarize this")
    first = services.pipeline.process(event)
    second = services.pipeline.process(event)
    assert first.status == "posted" and second.status == "duplicate"
    assert second.comment_id == first.comment_id
    assert len(app_replies(sim, issue)) == 1


def test_a_rerun_after_the_transition_does_not_transition_again(env):
    sim, services, tenant = env
    issue = sim.add_issue("SUP", "Flaky test", status="In Progress")["key"]
    event = comment_event(sim, tenant, issue, "@ai mark this done, the retry fix landed")
    journal = services.journal
    job_id = journal.new_job_id()
    journal.record(job_id, event.to_dict())
    # the first attempt transitioned and then died before posting its note
    sim.transition_issue(issue, "Done")
    journal.step_done(job_id, "transitioned", "Done")
    journal.step_done(job_id, "from_status", "In Progress")
    sim.clear_calls()
    outcome = services.pipeline.process(event, job_id=job_id, journal=journal)
    assert outcome.status == "posted" and outcome.transitioned_to == "Done"
    assert sim.calls("/transitions", method="POST") == []
    assert "In Progress → Done" in app_replies(sim, issue)[0]["text"]


def test_give_up_leaves_one_polite_note(env):
    sim, services, tenant = env
    issue = sim.add_issue("SUP", "Broken export")["key"]
    event = comment_event(sim, tenant, issue, "@ai summarize this")
    error = JiraError("Jira answered 503", status=503, code="jira_unavailable")
    services.pipeline.give_up(event, error)
    services.pipeline.give_up(event, error)
    notes = app_replies(sim, issue)
    assert len(notes) == 1
    assert notes[0]["properties"]["jira-ai-reply"]["status"] == "failed"
    assert "Jira could not be reached" in notes[0]["text"]


def test_disabled_project_and_unknown_site_are_skipped(env):
    sim, services, tenant = env
    issue = sim.add_issue("SUP", "Anything")["key"]
    event = comment_event(sim, tenant, issue, "@ai summarize this")
    services.site_settings.update(tenant, {"enabled_projects": ["OPS"]})
    try:
        assert services.pipeline.process(event).reason == "project_disabled"
    finally:
        services.site_settings.update(tenant, {"enabled_projects": []})
    event.tenant_id = "no-such-site"
    assert services.pipeline.process(event).reason == "site_unavailable"
    assert app_replies(sim, issue) == []


def test_the_app_learns_its_own_account_at_install(env):
    sim, services, tenant = env
    assert services.stores.tenants.get(tenant).app_account_id in (None, sim.app_account_id)
    event = AiEvent(tenant_id=tenant, door="connect", kind="site_setup", delivery_id="setup", issue_key="")
    assert services.pipeline.process(event).reason == "site_setup:ok"
    assert services.stores.tenants.get(tenant).app_account_id == sim.app_account_id
