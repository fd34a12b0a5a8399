"""Abuse: a person or a site sending hundreds of ``@ai`` requests, and requests made to burn the budget.

Rate limits (``RATE_LIMIT_USER_PER_MINUTE`` 6, ``RATE_LIMIT_USER_PER_HOUR`` 60, ``RATE_LIMIT_SITE_PER_MINUTE``
120 by default) hold at both doors and on the screens' API. Over a limit nothing reaches the model: the
first refused request of the window gets one polite reply (a cheap ``rate_limited`` job, marked with the
``jira-ai-reply`` property), later ones are dropped with a log line and the ``rate_limited`` metric, and
the screens get 429 with ``Retry-After``. The app's own comments never count. The limiter's unit tests
(windows, refunds, two spawned processes on one store, Redis) are in ``tests/pipeline/test_rate_limit.py``.

Every test pins the limiter's clock inside one window, so no test depends on when it runs.
"""

from __future__ import annotations

import concurrent.futures
import copy
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses
from werkzeug.serving import make_server

import connect_app
from connect_app.app import create_app
from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.models import AiEvent
from connect_app.pipeline.rate_limit import Limit, RateLimiter, limits_from_settings
from connect_app.platform.connect.jwt import CONTEXT_QSH, encode_hs256
from connect_app.services import Services
from connect_app.settings import Settings
from tests.platform.forge.fitkit import API_BASE, CLOUD_ID, INSTALLATION_ID, fit, system_token
from tests.security.kit import (
    ACME,
    APP_ACCOUNT,
    DANA,
    FORGE_COMMENT,
    GLOBEX,
    WEBHOOK,
    comment_payload,
    forge_comment,
    hs_token,
    post_json,
    queued_events,
)

T0 = 1_800_000_000.0 + 5  # five seconds into a minute (and an hour): the window ends in 55 s
DONE_WEBHOOK = "/connect/webhooks/issue-updated"
FORM = {"recipient": "customer", "purpose": "delay", "tone": "friendly", "notes": "New date: Friday."}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pin_limiter(monkeypatch, svc: Services, *, limits: list[Limit] | None = None, clock: Clock | None = None) -> Clock:
    """Give ``svc`` a limiter on its own durable store whose clock stands still (default: the settings' limits)."""
    clock = clock or Clock()
    limiter = RateLimiter(svc.stores.durable, limits or limits_from_settings(svc.settings), metrics=svc.metrics,
                          clock=clock)
    monkeypatch.setattr(svc, "limiter", limiter)
    return clock


def refusals_counted(svc: Services) -> int:
    return svc.metrics.get_stats()["errors"]["by_code"].get("rate_limited", 0)


def person(account: str, name: str = "Someone") -> dict[str, str]:
    return {"accountId": account, "displayName": name, "accountType": "atlassian"}


def ask(client, n: int, *, author: dict[str, str] | None = None, site=ACME, text: str = "@ai summarize this") -> Any:
    """The Connect door receives comment ``10{n}`` (a new request each time)."""
    return post_json(client, WEBHOOK, comment_payload(f"{text} #{n}", comment_id=f"10{n:04d}",
                                                      author=author or person("u-dana", "Dana")),
                     hs_token(WEBHOOK, site))


# ---------------------------------------------------------------------- the Connect door
def test_a_person_flooding_the_connect_door_gets_six_answers_then_one_polite_reply(client, svc, monkeypatch,
                                                                                    caplog):
    caplog.set_level(logging.INFO)
    pin_limiter(monkeypatch, svc)
    before = refusals_counted(svc)
    codes = [ask(client, n).status_code for n in range(40)]
    assert codes == [204] * 40  # Jira is never asked to retry a refused request
    asked = queued_events(svc, "comment")
    assert sorted(e["comment_id"] for e in asked) == [f"10{n:04d}" for n in range(6)]
    (notice,) = queued_events(svc, "rate_limited")
    assert notice["comment_id"] == "100006" and notice["issue_key"] == "SUP-1"
    assert notice["extra"]["limit"] == "user_minute" and notice["extra"]["retry_at"] == 1_800_000_060
    assert refusals_counted(svc) - before == 34
    assert caplog.text.count("dropped: over the user_minute rate limit for 55 s") == 33
    assert "one reply queued" in caplog.text and "u-dana" not in caplog.text
    # a retry of a refused delivery stays refused without counting again; others are not affected
    assert ask(client, 7).status_code == 204 and refusals_counted(svc) - before == 34
    ask(client, 100, author=person("u-sam", "Sam"))
    ask(client, 101, site=GLOBEX)
    accepted = {(e["comment_id"], e["tenant_id"]) for e in queued_events(svc, "comment")}
    assert accepted - {(e["comment_id"], e["tenant_id"]) for e in asked} == {
        ("100100", ACME.client_key), ("100101", GLOBEX.client_key)}


def test_a_site_flooding_from_many_accounts_is_held_at_the_site_limit(client, svc, monkeypatch):
    pin_limiter(monkeypatch, svc)
    for n in range(125):  # 125 people asking once each: the site's 120 a minute, then one reply to each
        assert ask(client, n, author=person(f"u-{n:03d}")).status_code == 204
    assert len(queued_events(svc, "comment")) == 120
    notices = queued_events(svc, "rate_limited")
    assert len(notices) == 5 and {e["extra"]["limit"] for e in notices} == {"site_minute"}
    assert {e["author_account_id"] for e in notices} == {f"u-{n:03d}" for n in range(120, 125)}
    ask(client, 999, site=GLOBEX)  # another site's allowance is its own
    assert [e["comment_id"] for e in queued_events(svc, "comment") if e["tenant_id"] == GLOBEX.client_key] == [
        "100999"]


def done_move(n: int, user: dict[str, str]) -> dict[str, Any]:
    return {"timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_updated", "user": user,
            "issue": {"id": f"2{n:04d}", "key": f"SUP-{n + 1}", "fields": {
                "project": {"key": "SUP"}, "status": {"name": "Done", "statusCategory": {"key": "done"}}}},
            "changelog": {"id": f"3{n:04d}", "items": [{"field": "status", "toString": "Done"}]}}


def test_the_apps_own_comments_and_moves_never_count(client, svc, monkeypatch):
    pin_limiter(monkeypatch, svc, limits=[Limit("user_minute", "user", 2, 60), Limit("site_minute", "site", 3, 60)])
    svc.site_settings.update(ACME.client_key, {"resolution_summary_on_done": True})
    app_user = {"accountId": APP_ACCOUNT, "displayName": "Jira AI", "accountType": "app"}
    for n in range(20):
        ask(client, n, author=app_user)  # the app's replies (they may quote "@ai") ...
        post_json(client, DONE_WEBHOOK, done_move(n, app_user), hs_token(DONE_WEBHOOK))  # ... and its moves
    assert queued_events(svc, "comment") == [] and queued_events(svc, "rate_limited") == []
    for n in range(3):  # the site's whole allowance is still there for people
        ask(client, 100 + n, author=person(f"u-{n}"))
    assert len(queued_events(svc, "comment")) == 3


def test_done_moves_over_the_limit_are_dropped_without_a_reply(client, svc, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    pin_limiter(monkeypatch, svc)
    svc.site_settings.update(ACME.client_key, {"resolution_summary_on_done": True})
    for n in range(8):  # one person bulk-closing issues, each move asking for a summary
        post_json(client, DONE_WEBHOOK, done_move(n, person("u-dana")), hs_token(DONE_WEBHOOK))
    assert len(queued_events(svc, "issue_done")) == 6
    assert queued_events(svc, "rate_limited") == []  # no request comment to answer: dropped, logged, counted
    assert caplog.text.count("issue_done on SUP-7 dropped: over the user_minute rate limit") == 1


# ---------------------------------------------------------------------- the Forge door
def test_the_forge_door_is_limited_the_same_way(forge, forge_key, monkeypatch):
    client, svc = forge
    pin_limiter(monkeypatch, svc)
    answers = []
    for n in range(9):
        event = copy.deepcopy(forge_comment(f"@ai summarize this #{n}"))
        event["comment"]["id"] = f"2{n:04d}"
        res = client.post(FORGE_COMMENT, json=event,
                          headers={"Authorization": f"Bearer {fit('comment-trigger', forge_key)}"})
        assert res.status_code == 200
        answers.append(res.get_json())
    assert [a["status"] for a in answers] == ["accepted"] * 6 + ["rate_limited"] * 3
    assert [a.get("reason") for a in answers[6:]] == ["user_minute"] * 3
    assert "job_id" in answers[6] and "job_id" not in answers[7]  # the one polite reply, then nothing
    (notice,) = queued_events(svc, "rate_limited")
    assert notice["door"] == "forge" and notice["comment_id"] == "20006"


# ---------------------------------------------------------------------- the screens' API
def context_token(account: str = "u-dana") -> str:
    now = int(time.time())
    return encode_hs256({"iss": ACME.client_key, "sub": account, "iat": now, "exp": now + 120, "qsh": CONTEXT_QSH,
                         "context": {"jira": {"issue": {"key": "SUP-1", "id": "10001"},
                                              "project": {"key": "SUP", "id": "10000"}}}}, ACME.secret)


def test_the_screens_answer_429_with_retry_after_in_plain_words(client, svc, monkeypatch):
    pin_limiter(monkeypatch, svc)
    headers = {"Authorization": f"JWT {context_token()}"}
    codes = [client.post("/api/ui/drafts", json=FORM, headers=headers).status_code for _ in range(6)]
    assert codes == [202] * 6
    jobs = svc.queue.huey.pending_count()
    res = client.post("/api/ui/drafts", json=FORM, headers=headers)
    assert res.status_code == 429 and res.headers["Retry-After"] == "55"
    assert res.headers["Cache-Control"] == "no-store"
    assert res.get_json() == {
        "error": "rate_limited", "retry_after": 55,
        "message": "You've asked me for a lot in the last minute, so I'm pausing for you. I'll take new requests "
                   "again in about 55 seconds; please ask again then. Nothing was changed."}
    posted = client.post("/api/ui/comments", json={"subject": "Update", "body": "Hello"}, headers=headers)
    assert posted.status_code == 429  # posting counts against the same allowance
    assert svc.queue.huey.pending_count() == jobs  # nothing was queued for the refused calls
    ask(client, 1)  # and so does an @ai comment by the same person
    assert queued_events(svc, "comment") == [] and len(queued_events(svc, "rate_limited")) == 1
    other = {"Authorization": f"JWT {context_token('u-sam')}"}
    assert client.post("/api/ui/drafts", json=FORM, headers=other).status_code == 202


def test_the_forge_screens_answer_429_too(forge, forge_key, monkeypatch):
    client, svc = forge
    pin_limiter(monkeypatch, svc)
    context = {"cloudId": CLOUD_ID, "moduleKey": "ai-email-panel",
               "extension": {"type": "jira:issueContext", "issue": {"key": "SUP-7", "id": "10007"}}}
    user = system_token(time.time() + 900, marker="dana")  # x-forge-oauth-user: drafts act as the user
    codes = []
    with responses.RequestsMock() as jira:  # the user may see SUP-7; asked once, then remembered
        jira.get(f"{API_BASE}/rest/api/3/issue/SUP-7", json={"id": "10007", "key": "SUP-7", "fields": {}})
        for _ in range(7):
            token = fit("ai-email-panel", forge_key, principal=DANA, context=context)
            codes.append(client.post("/forge/ui/drafts", json=FORM,
                                     headers={"Authorization": f"Bearer {token}", "x-forge-oauth-user": user}))
        assert len(jira.calls) == 1
    assert [r.status_code for r in codes] == [202] * 6 + [429]
    assert codes[-1].headers["Retry-After"] == "55" and "asked me for a lot" in codes[-1].get_json()["message"]
    assert svc.stores.tenants.get(INSTALLATION_ID) is not None


# ---------------------------------------------------------------------- the polite reply, against Jira
@dataclass
class SimStack:
    """The app served on loopback, installed on a simulated Jira site that sends it real webhooks."""

    sim: JiraSimulator
    svc: Services
    tenant_id: str

    def drain(self) -> list[str]:
        """Wait for webhooks, then run every queued job in this thread (the worker's part); their outcomes."""
        outcomes = []
        for _ in range(200):
            self.sim.wait_idle(10)
            task = self.svc.queue.huey.dequeue()
            if task is None:
                return outcomes
            outcomes.append(self.svc.queue.huey.execute(task))
        raise AssertionError("the queue never emptied")

    def ask(self, issue_key: str, text: str) -> dict[str, Any]:
        """Dana comments ``text``; returns once Jira has delivered the webhook (so requests arrive in order)."""
        comment = self.sim.add_comment(issue_key, DANA, text)
        assert self.sim.wait_idle(10)
        return comment

    def replies(self, issue_key: str) -> list[dict[str, Any]]:
        return [c for c in self.sim.comments(issue_key) if "jira-ai-reply" in c["properties"]]


@pytest.fixture(scope="module")
def sim_stack(tmp_path_factory) -> Iterator[SimStack]:
    sim = JiraSimulator(webhook_max_retries=0).start()
    port = free_port()
    settings = Settings.from_env({
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": str(tmp_path_factory.mktemp("abuse-data")),
        "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "abuse-test-secret-0123456789", "RATE_LIMIT_USER_PER_MINUTE": "3",
        "RATE_LIMIT_USER_PER_HOUR": "20", "JOB_RETRY_DELAY_SECONDS": "0",
    }, env_file=None)
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = sim.install(settings.app_base_url)
        assert result["installed"], result
        sim.add_user(DANA, "Dana Whitfield")
        sim.add_project("SUP", "Support")
        svc.queue.runner = svc.pipeline  # this test thread is the worker
        stack = SimStack(sim, svc, result["installation"]["client_key"])
        stack.drain()  # the install's site-setup job
        yield stack
    finally:
        server.shutdown()
        svc.close()
        sim.stop()


def test_the_polite_reply_is_posted_once_per_window(sim_stack, monkeypatch):
    sim, svc = sim_stack.sim, sim_stack.svc
    clock = pin_limiter(monkeypatch, svc)
    issue = sim.add_issue("SUP", "Exports fail", description_text="CSV export stalls at 80%")["key"]
    asked = [sim_stack.ask(issue, f"@ai summarize this (take {n})") for n in range(8)]
    sim_stack.drain()
    replies = sim_stack.replies(issue)
    by_request = {c["properties"]["jira-ai-reply"]["request"]: c for c in replies}
    assert len(replies) == 4 and set(by_request) == {f"comment:{c['id']}" for c in asked[:4]}
    notice = by_request[f"comment:{asked[3]['id']}"]
    assert notice["properties"]["jira-ai-reply"]["status"] == "rate_limited"
    assert notice["text"].startswith("You've asked me for a lot in the last minute, so I'm pausing for you.")
    assert "Nothing was changed." in notice["text"] and "@ai" not in notice["text"]
    assert all(by_request[f"comment:{c['id']}"]["properties"]["jira-ai-reply"]["status"] == "answered"
               for c in asked[:3])
    # Jira's retries of refused deliveries and a re-run of the reply's job post nothing more
    for delivery in sim.deliveries("comment_created")[-5:]:
        sim.redeliver(delivery["identifier"])
    sim_stack.drain()
    rerun = AiEvent(tenant_id=sim_stack.tenant_id, door="connect", kind="rate_limited", delivery_id="again",
                    issue_key=issue, comment_id=asked[3]["id"], author_account_id=DANA,
                    extra={"limit": "user_minute", "per": "user", "window": "minute", "retry_at": clock.now + 30})
    assert svc.pipeline.process(rerun).status == "duplicate"
    assert len(sim_stack.replies(issue)) == 4
    # the next window: answers again, and one more polite reply when the flood goes on
    clock.now += 60
    more = [sim_stack.ask(issue, f"@ai summarize this (again {n})") for n in range(6)]
    sim_stack.drain()
    later = {c["properties"]["jira-ai-reply"]["request"]: c["properties"]["jira-ai-reply"]["status"]
             for c in sim_stack.replies(issue)}
    assert [later.get(f"comment:{c['id']}") for c in more] == ["answered"] * 3 + ["rate_limited", None, None]


# ---------------------------------------------------------------------- budget burning
@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def test_a_burst_of_distinct_requests_from_many_people_cannot_pass_the_days_budget(tmp_path, llm):
    limit_usd = 0.003
    assistant = connect_app.JiraAIAssistant(Settings.from_env({
        "DATA_DIR": str(tmp_path / "data"), "SECRET_KEY": "abuse-test-secret-0123456789",
        "OPENAI_API_KEY": "sk-fake-key-0000000000", "OPENAI_API_BASE_URL": llm.base_url, "LLM_MAX_RETRIES": "0",
        "MAX_DAILY_COST_USD": str(limit_usd),
    }, env_file=None))
    issue = {"key": "SUP-9", "summary": "Exports fail for large projects", "status": "In Progress",
             "description": "CSV export times out above 10k rows."}
    padding = " ".join(f"detail-{n}" for n in range(350))  # long requests, just under the 4,000-character cap
    requests = [(f"write a status update for the team about item {n}: {padding if n % 3 == 0 else ''}"[:3990],
                 f"user-{n}") for n in range(48)]
    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda r: assistant.process_user_message(r[0], tenant="acme", issue=issue,
                                                                             user=r[1]), requests))
        day = assistant.services.ledger.day("acme")
        over_cap = assistant.process_user_message("x" * 4001, tenant="acme", issue=issue)
    finally:
        assistant.close()
    assert all(r["success"] for r in results), [r["error"] for r in results if not r["success"]]
    by_model = [r for r in results if not r["offline"]]
    labelled = [r for r in results if r["offline"]]
    assert by_model and labelled, "some requests reached the model before the budget ran out, the rest did not"
    assert all("budget" in (r["note"] or "").lower() and "budget" in r["content"].lower() for r in labelled)
    assert day.cost_micros <= limit_usd * 1_000_000  # however the burst interleaved
    assert day.refusals >= len(labelled) and day.calls >= len(by_model)
    assert over_cap["error"] == "bad_request"  # a request over the length cap never reaches the model
