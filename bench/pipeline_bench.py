"""Pipeline overhead per job: ``Pipeline.process`` against the same calls made directly (the ceiling).

The simulator, the fake LLM (latency 0) and the app's services run in this process; webhook delivery
is paused and each job is run by calling the pipeline, alternating job by job with the ceiling: GET
the issue, GET its comments, one chat completion with the body the pipeline sent, POST the reply the
pipeline posted, made with ``requests`` and the openai SDK. Both include the simulator's and the fake
LLM's own time, so the difference is the pipeline's.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt as pyjwt
import requests

from bench import procs
from bench.sim_site import PROJECT, USER
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.jira.client import DEFAULT_ISSUE_FIELDS
from connect_app.models import AiEvent
from connect_app.platform.connect.jwt import query_string_hash
from connect_app.settings import Settings

BIG_BUDGET_USD = "1000"  # the budget is not measured here; keep the model answering


def percentile_ms(samples_s: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of durations in seconds, in milliseconds."""
    ordered = sorted(samples_s)
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 2)


@contextmanager
def in_process_app(redis_url: str | None) -> Iterator[tuple[JiraSimulator, Any, Any, str]]:
    """The simulator, the fake LLM (no latency) and the app's services in this process, the app installed.

    Yields ``(sim, fake_llm, services, client_key)``; webhook delivery is paused (jobs are run here).
    """
    from werkzeug.serving import make_server

    from connect_app.app import create_app
    from connect_app.devtools.fake_llm import FakeLLMServer

    port = free_port()
    with JiraSimulator() as sim, FakeLLMServer(latency=0.0) as fake, \
            tempfile.TemporaryDirectory(prefix="bench-pipeline-") as data_dir:
        env = {
            "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": data_dir,
            "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
            "SECRET_KEY": "bench-pipeline-secret-0123456789", "LLM_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-local-fake-key-000000", "OPENAI_API_BASE_URL": fake.base_url,
            "LLM_MAX_RETRIES": "0", "LOG_LEVEL": "WARNING", "MAX_DAILY_COST_USD": BIG_BUDGET_USD,
        }
        if redis_url:
            env["REDIS_URL"] = redis_url
        settings = Settings.from_env(env, env_file=None)
        app = create_app(settings)
        services = app.extensions["jira_ai"]
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            result = sim.install(settings.app_base_url)
            if not result.get("installed"):
                raise RuntimeError(f"install failed: {result.get('status')}")
            sim.pause_delivery()
            sim.add_user(USER, "Bench User")
            sim.add_project(PROJECT, "Bench")
            yield sim, fake, services, result["installation"]["client_key"]
        finally:
            server.shutdown()
            server.server_close()
            services.close()


def _comment_event(sim: JiraSimulator, tenant: str, issue: str, n: int) -> AiEvent:
    """A user's ``@ai`` comment on the simulator, as the event the door would enqueue for it."""
    text = f"summarize this (request {n})"
    comment = sim.add_comment(issue, USER, f"@ai {text}")
    return AiEvent(tenant_id=tenant, door="connect", kind="comment", delivery_id=f"bench-{comment['id']}",
                   issue_key=issue, project_key=PROJECT, comment_id=comment["id"], text=text,
                   author_account_id=USER, author_name="Bench User")


class DirectCalls:
    """The ceiling: the same four calls a job makes, straight through ``requests`` and the openai SDK."""

    def __init__(self, sim: JiraSimulator, fake: Any, app_key: str, secret: str,
                 chat_body: dict[str, Any], comment_body: dict[str, Any]) -> None:
        """``chat_body`` and ``comment_body`` are what the pipeline sent (replayed as they were)."""
        import openai

        self.base = sim.base_url
        self.app_key, self.secret = app_key, secret
        self.session = requests.Session()
        self.session.trust_env = False
        self.llm = openai.OpenAI(api_key="sk-local-fake-key-000000", base_url=fake.base_url, max_retries=0)
        self.chat_body, self.comment_body = chat_body, comment_body

    def _headers(self, method: str, path_and_query: str) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": self.app_key, "iat": now, "exp": now + 180,
                  "qsh": query_string_hash(method, self.base + path_and_query, self.base)}
        return {"Authorization": f"JWT {pyjwt.encode(claims, self.secret, algorithm='HS256')}",
                "Accept": "application/json"}

    def job(self, issue: str) -> None:
        """GET the issue, GET its comments, one chat completion, POST the reply."""
        fields = ",".join(DEFAULT_ISSUE_FIELDS)
        path = f"/rest/api/3/issue/{issue}?fields={fields}"
        self.session.get(self.base + path, headers=self._headers("GET", path), timeout=10).raise_for_status()
        path = f"/rest/api/3/issue/{issue}/comment?maxResults=50&orderBy=-created&expand=properties"
        self.session.get(self.base + path, headers=self._headers("GET", path), timeout=10).raise_for_status()
        self.llm.chat.completions.create(**self.chat_body)
        path = f"/rest/api/3/issue/{issue}/comment"
        self.session.post(self.base + path, json=self.comment_body, headers=self._headers("POST", path),
                          timeout=10).raise_for_status()


def bench_pipeline(
    jobs: int, seconds: float, redis: procs.RedisServer | None = None, db: int = 4
) -> dict[str, Any]:
    """ms per job through ``Pipeline.process`` against the direct calls, interleaved job by job.

    At most ``jobs`` jobs or ``seconds`` of them; on diskcache, or on ``redis`` (database ``db``).
    """
    with in_process_app(redis.url(db) if redis else None) as (sim, fake, services, tenant):
        issues = [sim.add_issue(PROJECT, f"Export stalls on node {n}", status="In Progress",
                                description_text=f"The nightly export stalls at {n}0% on node {n}.")["key"]
                  for n in range(8)]
        for n in range(4):  # warm-up: imports, connections, the app's own account id
            outcome = services.pipeline.process(_comment_event(sim, tenant, issues[n % len(issues)], -1 - n))
            if outcome.status != "posted":
                raise RuntimeError(f"warm-up job not posted: {outcome.status} {outcome.reason}")
        chat_body = {k: v for k, v in fake.requests[-1]["body"].items() if v is not None}
        comment_body = sim.calls("/comment", method="POST")[-1]["body"]
        tenant_row = services.stores.tenants.get(tenant)
        direct = DirectCalls(sim, fake, services.settings.app_key, tenant_row.shared_secret, chat_body,
                             comment_body)
        direct.job(issues[0])
        ours: list[float] = []
        ceiling: list[float] = []
        llm_before = fake.request_count
        calls_before = redis.command_calls() if redis else {}
        deadline = time.monotonic() + seconds
        for n in range(jobs):
            if time.monotonic() > deadline:
                break
            issue = issues[n % len(issues)]
            event = _comment_event(sim, tenant, issue, n)
            started = time.perf_counter()
            outcome = services.pipeline.process(event)
            ours.append(time.perf_counter() - started)
            if outcome.status != "posted":
                raise RuntimeError(f"job not posted: {outcome.status} {outcome.reason}")
            sim.add_comment(issue, USER, f"@ai summarize this (direct {n})")
            started = time.perf_counter()
            direct.job(issue)
            ceiling.append(time.perf_counter() - started)
        done = max(len(ours), 1)
        llm_calls = fake.request_count - llm_before - len(ceiling)
        redis_row = procs.command_delta(calls_before, redis.command_calls(), done) if redis else None
    ours_ms, ceiling_ms = sum(ours) / done * 1000, sum(ceiling) / done * 1000
    row: dict[str, Any] = {
        "jobs": len(ours),
        "ours_ms_per_job": round(ours_ms, 2),
        "ours_p50_ms": percentile_ms(ours, 0.5),
        "ours_p99_ms": percentile_ms(ours, 0.99),
        "ceiling_ms_per_job": round(ceiling_ms, 2),
        "ceiling_p50_ms": percentile_ms(ceiling, 0.5),
        "ceiling_p99_ms": percentile_ms(ceiling, 0.99),
        "ratio": round(ours_ms / ceiling_ms, 2) if ceiling_ms else None,
        "overhead_ms_per_job": round(ours_ms - ceiling_ms, 2),
        "llm_calls_per_job": round(llm_calls / done, 2),
    }
    if redis_row is not None:
        row["redis"] = redis_row
    return row
