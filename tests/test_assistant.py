"""The engine's public API (the facade), against the fake LLM over loopback and offline."""

from __future__ import annotations

import pytest

import connect_app
from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.settings import Settings

ISSUE = {"key": "SUP-9", "summary": "Exports fail for large projects", "status": "In Progress",
         "description": "CSV export times out above 10k rows.", "assignee": "Dana"}


@pytest.fixture(scope="module")
def llm():
    with FakeLLMServer() as server:
        yield server


def make(tmp_path, **env):
    base = {"DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "assistant-test-secret-0123"}
    base.update(env)
    return connect_app.JiraAIAssistant(Settings.from_env(base, env_file=None))


@pytest.fixture
def online(tmp_path, llm):
    a = make(tmp_path, OPENAI_API_KEY="sk-fake-key-0000000000", OPENAI_API_BASE_URL=llm.base_url,
             LLM_MAX_RETRIES="0")
    yield a
    a.close()


def test_offline_draft_without_a_key(tmp_path):
    a = make(tmp_path)
    try:
        r = a.process_user_message("summarize this", issue=ISSUE)
    finally:
        a.close()
    assert r["success"] and r["intent"] == "summary_request" and r["error"] is None
    assert r["offline"] is True and "Offline draft" in r["content"] and r["cost_usd"] == 0.0
    assert {"success", "intent", "confidence", "content", "cost_usd", "cached", "error"} <= set(r)


def test_model_answer_is_costed_then_cached(online):
    first = online.process_user_message("write a status update for the team", issue=ISSUE, tenant="acme")
    assert first["success"] and first["offline"] is False and first["cost_usd"] > 0 and not first["cached"]
    assert "SUP-9" in first["content"]
    second = online.process_user_message("write a status update for the team", issue=ISSUE, tenant="acme")
    assert second["cached"] is True and second["cost_usd"] == 0.0 and second["content"] == first["content"]
    costs = online.get_cost_analysis("acme")
    assert costs["today"]["cost_usd"] == pytest.approx(first["cost_usd"])
    assert costs["today"]["saved_usd"] == pytest.approx(first["cost_usd"])


def test_an_edited_issue_or_another_site_never_hits_the_cache(online):
    online.process_user_message("summarize this", issue=ISSUE, tenant="site-a")
    edited = {**ISSUE, "description": "CSV export times out above 50k rows."}
    assert online.process_user_message("summarize this", issue=edited, tenant="site-a")["cached"] is False
    assert online.process_user_message("summarize this", issue=ISSUE, tenant="site-b")["cached"] is False
    assert online.process_user_message("summarize this", issue=ISSUE, tenant="site-a")["cached"] is True


def test_over_budget_gives_a_labelled_offline_answer(tmp_path, llm):
    a = make(tmp_path, OPENAI_API_KEY="sk-fake-key-0000000000", OPENAI_API_BASE_URL=llm.base_url,
             MAX_DAILY_COST_USD="0.000001")
    try:
        r = a.process_user_message("draft an email to the customer about the delay", issue=ISSUE)
        costs = a.get_cost_analysis("local")
    finally:
        a.close()
    assert r["success"] and r["offline"] is True and "budget" in r["content"].lower()
    assert costs["today"]["refusals"] >= 1


@pytest.mark.parametrize(("message", "kwargs", "code"), [
    ("", {}, "bad_request"), ("   ", {}, "bad_request"), (None, {}, "bad_request"),
    ("x" * 5000, {}, "bad_request"), ("summarize", {"tenant": ""}, "bad_request"),
    ("summarize", {"issue": "SUP-1"}, "bad_request"),
])
def test_invalid_input_is_a_clear_error_not_a_crash(tmp_path, message, kwargs, code):
    a = make(tmp_path)
    try:
        r = a.process_user_message(message, **kwargs)
    finally:
        a.close()
    assert r["success"] is False and r["error"] == code and r["message"]


def test_reports(online):
    online.process_user_message("help")
    health = online.get_health_status()
    assert health["status"] in ("healthy", "degraded")
    perf = online.get_performance_metrics()
    assert "stages" in perf or "p50" in str(perf)
    stats = online.get_pipeline_stats()
    assert "stats" in stats and "queue_depth" in stats
    check = online.validate_configuration()
    assert check["valid"] is True and check["settings"]["openai_api_key"] == "***"


def test_module_functions_are_importable_from_the_package():
    for name in ("process_message", "get_health", "get_metrics", "get_costs", "JiraAIAssistant", "create_app"):
        assert callable(getattr(connect_app, name))


def test_user_is_who_asks_in_the_prompt(online, llm):
    llm.reset()
    r = online.process_user_message("draft an email to the customer about the delay", issue=ISSUE,
                                    user="Dana Scully")
    assert r["success"] is True and r["intent"] == "email_request"
    prompt = str(llm.requests[-1])
    assert "Dana Scully" in prompt


def test_user_signs_an_offline_email(tmp_path):
    a = make(tmp_path)
    try:
        r = a.process_user_message("draft an email to the customer", issue=ISSUE, user="Dana Scully")
    finally:
        a.close()
    assert r["success"] is True and r["offline"] is True and "Dana Scully" in r["content"]


@pytest.fixture
def default_assistant(tmp_path, monkeypatch):
    """The module functions' assistant, configured from a clean environment in ``tmp_path``."""
    for name in list(__import__("os").environ):
        if name.startswith(("OPENAI_", "LLM_", "REDIS_", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    from connect_app.assistant import _Default

    _Default.instance = None
    yield
    if _Default.instance is not None:
        _Default.instance.close()
    _Default.instance = None


def test_module_functions_run_on_one_default_assistant(default_assistant):
    r = connect_app.process_message("summarize this", issue=ISSUE, tenant="acme")
    assert r["success"] is True and r["intent"] == "summary_request" and r["offline"] is True
    assert "SUP-9" in r["content"] or "Exports fail" in r["content"]
    assert connect_app.get_health()["status"] in ("healthy", "degraded")
    assert "queue_depth" in connect_app.get_metrics()
    costs = connect_app.get_costs("acme")
    assert costs["tenant_id"] == "acme" and costs["today"]["cost_usd"] == 0.0  # offline: no spend
    assert connect_app.process_message("")["error"] == "bad_request"
