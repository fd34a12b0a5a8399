"""An in-process deployment for fault tests: the Jira simulator, the fake LLM, the real app on loopback
and a job runner driven from the test thread.

The app (``create_app``) is served by werkzeug on a free port so the simulator's signed webhooks reach
the real Connect door; accepted jobs wait in the real huey queue (SQLite under a temporary DATA_DIR)
until :meth:`World.drain` runs them here, retries and scheduled waits included, exactly as a worker
would. Running them in the test thread keeps the tests deterministic and lets ``caplog`` see the
worker's log lines.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from connect_app.app import create_app
from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.jira.auth import ConnectJwtAuth
from connect_app.models import Tenant
from connect_app.ops.breaker import BreakerRegistry
from connect_app.services import Services, jira_client_for
from connect_app.settings import Settings

DANA = "5b10ac8d82e05b22cc7d4ef5"
PROJECT = "SUP"
REPLY_PROPERTY = "jira-ai-reply"
#: One person asks many times in these tests; the rate limits are tested in tests/security.
NO_RATE_LIMITS = {"RATE_LIMIT_USER_PER_MINUTE": "10000", "RATE_LIMIT_USER_PER_HOUR": "100000",
                  "RATE_LIMIT_SITE_PER_MINUTE": "100000"}


def reply_marker(comment: Mapping[str, Any]) -> dict[str, Any]:
    """The app's reply marker on a comment ({} when it is not a reply of ours)."""
    return comment["properties"].get(REPLY_PROPERTY) or {}


@dataclass
class World:
    """One site with the app installed, a model and a queue the test drains itself."""

    sim: JiraSimulator
    llm: FakeLLMServer
    services: Services
    settings: Settings
    tenant_id: str
    server: BaseWSGIServer

    # ------------------------------------------------------------------ scenario helpers
    def new_issue(self, summary: str = "Checkout times out for EU customers", **kw: Any) -> str:
        """A fresh issue (its own content, so no cache answer is shared with another test)."""
        kw.setdefault("description_text", f"{summary}: customers see it since Friday ({time.time_ns()}).")
        kw.setdefault("status", "In Progress")
        return self.sim.add_issue(PROJECT, summary, assignee=DANA, reporter=DANA, **kw)["key"]

    def ask(self, issue: str, text: str, author: str = DANA) -> dict[str, Any]:
        """A user writes ``text``; returns the comment once its webhook was delivered and answered."""
        comment = self.sim.add_comment(issue, author, text)
        assert self.sim.wait_idle(10), "the simulator could not deliver the webhook"
        delivery = [d for d in self.sim.deliveries("comment_created")
                    if str(d["payload"]["comment"]["id"]) == str(comment["id"])]
        assert delivery and delivery[-1]["state"] == "delivered", delivery
        return comment

    def replies(self, issue: str, comment_id: str) -> list[dict[str, Any]]:
        """Every comment of ours that answers the request ``comment_id``."""
        return [c for c in self.sim.comments(issue)
                if reply_marker(c).get("request") == f"comment:{comment_id}"]

    def only_reply(self, issue: str, comment_id: str) -> dict[str, Any]:
        """The one reply to a request (fails when there is none or more than one)."""
        found = self.replies(issue, comment_id)
        assert len(found) == 1, f"{len(found)} replies to comment {comment_id}: {[c['text'] for c in found]}"
        return found[0]

    def drain(self, timeout: float = 20.0) -> None:
        """Run every queued job here until the journal is empty (retries and waits included)."""
        queue = self.services.queue
        queue.runner = self.services.pipeline
        huey = queue.huey
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # huey(utc=True) keeps naive UTC
            for task in huey.read_schedule(now):
                huey.enqueue(task)
            task = huey.dequeue()
            if task is not None:
                huey.execute(task)
                continue
            if self.services.journal.pending() == 0 and huey.scheduled_count() == 0:
                return
            time.sleep(0.02)
        raise AssertionError(f"jobs still pending after {timeout}s: {self.services.journal.pending()}")

    def readiness(self) -> dict[str, Any]:
        """``GET /readyz`` of the served app (body plus ``http_status``)."""
        res = requests.get(f"{self.settings.app_base_url}/readyz", timeout=5)
        return {**res.json(), "http_status": res.status_code}

    # ------------------------------------------------------------------ fault plumbing
    def reset(self) -> None:
        """Between tests: no faults, no recorded calls, every breaker closed, the default Jira client."""
        self.sim.faults.clear()
        self.sim.clear_calls()
        self.llm.reset()
        store = self.services.stores.durable
        for key, _ in list(store.scan("breaker:")):
            store.delete(key)
        self.use_breakers(BreakerRegistry(store))
        self.use_jira_client()

    def use_breakers(self, registry: BreakerRegistry) -> None:
        """Swap the breaker registry (e.g. one with a short reset timeout) in every collaborator."""
        services = self.services
        services.breakers = registry
        services.manager.breaker = registry.get("llm")
        self.use_jira_client()

    def use_jira_client(self, **limits: Any) -> None:
        """Build the pipeline's Jira clients with ``limits`` (``timeout``, ``max_retries``)."""
        services = self.services

        def jira_for(tenant: Tenant) -> Any:
            return jira_client_for(services.settings, tenant, services.breakers,
                                   tenants=services.stores.tenants, **limits)

        services.pipeline.jira_for = jira_for
        services.pipeline.ui.jira_for = jira_for


def world_settings(port: int, data_dir: str, sim: JiraSimulator, llm: FakeLLMServer,
                   extra: Mapping[str, str] | None = None) -> Settings:
    """Settings for an app on ``port`` talking to ``sim`` and ``llm`` (short timeouts, quick retries)."""
    env = {
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": data_dir,
        "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "fault-tests-secret-key-0123456789",
        "LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-fault-tests-000000", "OPENAI_API_BASE_URL": llm.base_url,
        "LLM_TIMEOUT_SECONDS": "1", "LLM_MAX_RETRIES": "1",
        "JOB_RETRIES": "2", "JOB_RETRY_DELAY_SECONDS": "0.5",
        **NO_RATE_LIMITS,
    }
    env.update(extra or {})
    return Settings.from_env(env, env_file=None)


@contextmanager
def running_world(data_dir: str, extra: Mapping[str, str] | None = None) -> Iterator[World]:
    """Start the simulator, the fake LLM and the app; install the app; stop everything afterwards."""
    sim = JiraSimulator(webhook_retry_base_delay=0.2).start()
    llm = FakeLLMServer().start()
    port = free_port()
    settings = world_settings(port, data_dir, sim, llm, extra)
    app = create_app(settings)
    services: Services = app.extensions["jira_ai"]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        result = sim.install(settings.app_base_url)
        assert result["installed"], result
        sim.add_user(DANA, "Dana Whitfield")
        sim.add_project(PROJECT, "Customer Support")
        world = World(sim, llm, services, settings, result["installation"]["client_key"], server)
        world.drain()  # the install's site-setup job
        yield world
    finally:
        server.shutdown()
        server.server_close()
        services.close()
        llm.stop()
        sim.stop()


def count_signatures(monkeypatch: Any) -> list[tuple[str, str]]:
    """Record (method, path) of every request the Connect signer signs from now on."""
    signed: list[tuple[str, str]] = []
    original: Callable[..., Any] = ConnectJwtAuth.__call__

    def spy(self: Any, r: Any) -> Any:
        out = original(self, r)
        if "Authorization" in out.headers:
            signed.append((r.method, urlsplit(r.url).path))
        return out

    monkeypatch.setattr(ConnectJwtAuth, "__call__", spy)
    return signed
