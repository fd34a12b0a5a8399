"""Two Jira sites on one deployment: nothing of one is visible to the other.

Two simulated sites install the same app (served on loopback, real pipeline, the OpenAI-compatible fake
model, exact and semantic caches on). They hold identical issues and ask identical questions, the
worst case for a cache keyed carelessly. Checked: cache entries (exact and semantic), the cost ledger and
budget, per-site settings (the admin's extra instructions), the Jira circuit breaker, the admin page's
data, and the log lines written while serving one site.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.serving import make_server

from connect_app.app import create_app
from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.errors import AuthError, CircuitOpenError
from connect_app.models import AiEvent, CacheHint, Completion
from connect_app.ops.breaker import CLOSED, OPEN
from connect_app.pipeline.context import context_from_dict
from connect_app.pipeline.events import parse_comment_event
from connect_app.platform.connect.install_keys import InstallKeyFetcher
from connect_app.settings import Settings
from connect_app.web.ui_api import admin_view
from tests.security.kit import DANA, assert_safe_reply

DESCRIPTION = "CSV export times out above 10k rows for EU customers."
ACME_ONLY = "ACME-ONLY-DETAIL-5512"
ACME_INSTRUCTIONS = "Always sign replies as ACME-BOT-4431."


class KeyCdn:
    """Atlassian's install-key CDN serves every site's keys; here, each simulator serves its own."""

    def __init__(self, *urls: str) -> None:
        self.fetchers = [InstallKeyFetcher(url) for url in urls]

    def __call__(self, kid: str) -> str:
        error: AuthError | None = None
        for fetch in self.fetchers:
            try:
                return fetch(kid)
            except AuthError as exc:
                error = exc
        assert error is not None
        raise error


@dataclass
class Site:
    sim: JiraSimulator
    tenant_id: str
    secret: str
    issue: str
    private_issue: str

    def ask(self, text: str, issue: str | None = None) -> AiEvent:
        key = issue or self.issue
        comment = self.sim.add_comment(key, DANA, text)
        payload = {"comment": {"id": comment["id"], "body": text,
                               "author": {"accountId": DANA, "displayName": "Dana", "accountType": "atlassian"}},
                   "issue": {"id": self.sim.issue(key)["id"], "key": key}}
        event = parse_comment_event(payload, tenant_id=self.tenant_id, door="connect", delivery_id=f"d-{comment['id']}",
                                    app_account_id=self.sim.app_account_id)
        assert isinstance(event, AiEvent)
        return event


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    llm = FakeLLMServer().start()
    sims = [JiraSimulator(webhook_max_retries=0).start() for _ in range(2)]
    port = free_port()
    settings = Settings.from_env({
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": str(tmp_path_factory.mktemp("isolation")),
        "CONNECT_INSTALL_KEYS_URL": sims[0].install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "isolation-test-secret-0123456789", "OPENAI_API_KEY": "sk-fake-key-0000000000",
        "OPENAI_API_BASE_URL": llm.base_url, "LLM_MAX_RETRIES": "0", "CACHE_ENABLED": "true",
        "USE_EMBEDDING_CACHE": "true", "EMBEDDING_BACKEND": "hashing",
    }, env_file=None)
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    svc.install_keys = KeyCdn(*(sim.install_keys_url for sim in sims))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sites = []
    try:
        for sim in sims:
            result = sim.install(settings.app_base_url)
            assert result["installed"], result
            sim.add_user(DANA, "Dana Whitfield")  # one Atlassian account, member of both sites
            sim.add_project("SUP", "Support")
            issue = sim.add_issue("SUP", "Exports fail", description_text=DESCRIPTION, status="In Progress")["key"]
            private = sim.add_issue("SUP", "Renewal terms",
                                    description_text=f"{ACME_ONLY} discount" if not sites else "Standard terms.")["key"]
            installation = result["installation"]
            sites.append(Site(sim, installation["client_key"], installation["shared_secret"], issue, private))
        yield svc, llm, sites
    finally:
        server.shutdown()
        svc.close()
        for sim in sims:
            sim.stop()
        llm.stop()


def chat_requests(llm: FakeLLMServer) -> list[dict[str, Any]]:
    return [r for r in llm.requests if r["path"].endswith("/chat/completions")]


def test_identical_requests_on_two_sites_never_share_a_cache_entry(world):
    svc, llm, (acme, globex) = world
    tenants = svc.stores.tenants
    issue = {"key": "SUP-9", "summary": "Exports fail", "status": "In Progress", "description": DESCRIPTION}
    before = len(chat_requests(llm))
    drafts = [svc.pipeline.draft("summarize this", tenant=tenants.get(site.tenant_id),
                                 context=context_from_dict(issue))[1] for site in (acme, acme, globex)]
    assert [d.cached for d in drafts] == [False, True, False]  # ACME's repeat hits, GLOBEX's twin does not
    assert len(chat_requests(llm)) - before == 2
    assert drafts[2].offline is False and drafts[2].markdown == drafts[0].markdown  # same model, own answer
    # the semantic cache, as configured on this deployment: an entry is found from its own site only
    semantic = svc.manager.semantic_cache
    assert semantic is not None
    hint = CacheHint(request="summarize this", issue_key="SUP-9", content_hash="c0ffee", prompt_version="summary-v1")
    completion = Completion(text="A summary.", model="gpt-4o-mini", provider="openai")
    assert semantic.put(acme.tenant_id, "summary_request", "gpt-4o-mini", hint, completion)
    assert semantic.lookup(acme.tenant_id, "summary_request", "gpt-4o-mini", hint) is not None
    assert semantic.lookup(globex.tenant_id, "summary_request", "gpt-4o-mini", hint) is None


def test_pipeline_runs_on_two_sites_are_accounted_to_each_site(world):
    svc, llm, (acme, globex) = world
    calls = {s.tenant_id: svc.ledger.day(s.tenant_id).calls for s in (acme, globex)}
    before = len(chat_requests(llm))
    for site in (acme, globex):
        outcome = svc.pipeline.process(site.ask("@ai summarize this"))
        assert outcome.status == "posted" and outcome.draft.cached is False
    assert len(chat_requests(llm)) - before == 2
    for site in (acme, globex):
        assert svc.ledger.day(site.tenant_id).calls == calls[site.tenant_id] + 1


def test_spend_and_budget_are_per_site(world):
    svc, _llm, (acme, globex) = world
    spent = {s.tenant_id: svc.budget.spent_today(s.tenant_id) for s in (acme, globex)}
    svc.site_settings.update(acme.tenant_id, {"daily_limit_usd": 0.000001})  # ACME's budget is spent
    try:
        acme_outcome = svc.pipeline.process(acme.ask("@ai write a status update for the team"))
        globex_outcome = svc.pipeline.process(globex.ask("@ai write a status update for the team"))
    finally:
        svc.site_settings.update(acme.tenant_id, {"daily_limit_usd": None})
    assert acme_outcome.draft.offline is True and "budget" in (acme_outcome.draft.note or "")
    assert globex_outcome.draft.offline is False
    assert svc.budget.spent_today(acme.tenant_id) == spent[acme.tenant_id]
    assert svc.budget.spent_today(globex.tenant_id) > spent[globex.tenant_id]
    assert svc.ledger.day(globex.tenant_id).refusals == 0


def test_one_sites_settings_never_reach_another_sites_prompt(world):
    svc, llm, (acme, globex) = world
    svc.site_settings.update(acme.tenant_id, {"extra_instructions": ACME_INSTRUCTIONS})
    try:
        llm.reset()
        svc.pipeline.process(globex.ask("@ai draft an email to the customer about the delay"))
        globex_prompts = json.dumps(chat_requests(llm))
        llm.reset()
        svc.pipeline.process(acme.ask("@ai draft an email to the customer about the delay"))
        acme_prompts = json.dumps(chat_requests(llm))
    finally:
        svc.site_settings.update(acme.tenant_id, {"extra_instructions": ""})
    assert ACME_INSTRUCTIONS in acme_prompts and ACME_INSTRUCTIONS not in globex_prompts
    assert svc.site_settings.get(globex.tenant_id).extra_instructions == ""


def test_one_sites_issue_data_never_reaches_another_site(world):
    svc, llm, (acme, globex) = world
    assert acme.private_issue == globex.private_issue
    svc.pipeline.process(acme.ask("@ai summarize this", issue=acme.private_issue))
    llm.reset()
    outcome = svc.pipeline.process(globex.ask("@ai summarize this", issue=globex.private_issue))
    assert outcome.status == "posted" and outcome.draft.cached is False
    assert ACME_ONLY not in json.dumps(chat_requests(llm))
    (reply,) = [c for c in globex.sim.comments(globex.private_issue) if "jira-ai-reply" in c["properties"]]
    assert_safe_reply(reply["body"], forbidden=(ACME_ONLY,))


def test_the_admin_page_data_of_a_site_holds_nothing_of_another(world):
    svc, _llm, (acme, globex) = world
    view = json.dumps(admin_view(svc, globex.tenant_id, globex.sim.base_url))
    for value in (acme.tenant_id, acme.secret, acme.sim.base_url, ACME_ONLY, ACME_INSTRUCTIONS):
        assert value not in view
    assert globex.tenant_id in view


def test_log_lines_written_for_one_site_name_nothing_of_another(world, caplog):
    svc, _llm, (acme, globex) = world
    caplog.set_level(logging.DEBUG)
    svc.pipeline.process(globex.ask("@ai summarize this"))
    svc.pipeline.process(globex.ask("@ai mark this done"))
    text = caplog.text
    assert globex.tenant_id in text  # the lines are about GLOBEX ...
    for value in (acme.tenant_id, acme.secret, acme.sim.base_url):  # ... and nothing else
        assert value not in text
    for secret in (globex.secret, svc.settings.secret_key, svc.settings.openai_api_key):
        assert secret not in text


def test_a_sites_open_jira_breaker_does_not_stop_another_site(world):
    svc, _llm, (acme, globex) = world
    breaker = svc.breakers.get(f"jira:{acme.tenant_id}")
    for _ in range(10):
        breaker.record_failure()
    assert breaker.state() == OPEN  # (the last test of this module: ACME's breaker stays open)
    assert svc.breakers.get(f"jira:{globex.tenant_id}").state() == CLOSED
    assert svc.pipeline.process(globex.ask("@ai help")).status == "posted"
    with pytest.raises(CircuitOpenError):
        svc.pipeline.process(acme.ask("@ai help"))
    acme_health = admin_view(svc, acme.tenant_id, acme.sim.base_url)["health"]
    globex_health = admin_view(svc, globex.tenant_id, globex.sim.base_url)["health"]
    assert [b["state"] for b in acme_health["breakers"] if b["name"] == "jira"] == [OPEN]
    assert [b["state"] for b in globex_health["breakers"] if b["name"] == "jira"] == [CLOSED]
