"""Fixtures for the hostile-input tests.

* ``app``/``client``/``svc``/``sites``: the real Flask app (``create_app(settings)``), built once per module
  with two Connect sites installed through the signed install (ACME and GLOBEX) and its durable store
  reset before each test; ``keys`` is the stubbed install-key CDN.
* ``forge``: the app with the Forge door open, FITs checked against a local JWKS (``forge_key``).
* ``sim_env``: a Jira Cloud simulator with the app installed through it, served on loopback, for tests
  that run the pipeline against Jira's REST API (one per session; tests use their own issues).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses
from werkzeug.serving import make_server

from connect_app.app import create_app
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.models import AiEvent, Completion, Usage
from connect_app.pipeline.classify import IntentClassifier, RuleClassifier
from connect_app.pipeline.events import Drop, parse_comment_event
from connect_app.pipeline.handlers import build_router
from connect_app.pipeline.process import Pipeline
from connect_app.platform.forge.keys import ForgeKeys
from connect_app.services import Services
from connect_app.settings import Settings
from tests.conftest import APP_URL, KEYS_URL, make_keypair
from tests.platform.forge.fitkit import APP_ID, JwksServer
from tests.security.kit import ACME, APP_ACCOUNT, DANA, GLOBEX, MALLORY, install


@dataclass
class Door:
    """The real app with ACME and GLOBEX installed, shared by a module; ``reset`` restores its store."""

    app: Any
    svc: Services
    keys: responses.RequestsMock
    snapshot: dict[str, Any]

    def reset(self) -> None:
        """Back to the state right after both installs: no jobs, no claims, sites as installed."""
        store = self.svc.stores.durable
        for key, _value in list(store.scan("")):
            if key not in self.snapshot:
                store.delete(key)
        for key, value in self.snapshot.items():
            store.set(key, value)
        self.keys.calls.reset()


@pytest.fixture(scope="module")
def door(tmp_path_factory, install_key, rogue_key) -> Iterator[Door]:
    """Atlassian's install-key CDN is stubbed while a test runs (the real key served, the rogue kid 404,
    any other outbound request refused and recorded in ``keys.calls``)."""
    settings = Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path_factory.mktemp("door")), "CONNECT_INSTALL_KEYS_URL": KEYS_URL,
        "SECRET_KEY": "test-secret-key-0123456789", "JOB_RETRY_DELAY_SECONDS": "0",
    }, env_file=None)
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    keys = responses.RequestsMock(assert_all_requests_are_fired=False)
    keys.get(f"{KEYS_URL}/{install_key.kid}", body=install_key.public_pem)
    keys.get(f"{KEYS_URL}/{rogue_key.kid}", status=404)
    keys.start()
    try:
        client = app.test_client()
        for site in (ACME, GLOBEX):
            assert install(client, install_key, site).status_code == 204
            tenant = svc.stores.tenants.get(site.client_key)
            tenant.app_account_id = APP_ACCOUNT
            svc.stores.tenants.save(tenant)
    finally:
        keys.stop(allow_assert=False)
    yield Door(app, svc, keys, dict(svc.stores.durable.scan("")))
    svc.close()


@pytest.fixture
def svc(door) -> Iterator[Services]:
    """The shared app's services, reset for this test, with the key CDN stub active."""
    door.reset()
    door.keys.start()
    yield door.svc
    door.keys.stop(allow_assert=False)


@pytest.fixture
def app(door, svc):
    return door.app


@pytest.fixture
def client(door, svc):
    return door.app.test_client()


@pytest.fixture
def keys(door, svc) -> responses.RequestsMock:
    return door.keys


@pytest.fixture
def sites(svc) -> Services:
    """ACME and GLOBEX are installed (each knowing the app's account); NEWCO is not."""
    return svc


# ---------------------------------------------------------------------- the Forge door
@pytest.fixture(scope="module")
def forge_key():
    return make_keypair("security-forge-key")


@pytest.fixture(scope="module")
def jwks(forge_key):
    with JwksServer([forge_key]) as server:
        yield server


@pytest.fixture
def forge(tmp_path, jwks):
    """The app with the Forge door open (FORGE_APP_ID set, keys from a local JWKS); (client, services)."""
    settings = Settings.from_env({
        "APP_BASE_URL": APP_URL, "DATA_DIR": str(tmp_path / "forge-data"), "SECRET_KEY": "test-secret-key-0123456789",
        "FORGE_APP_ID": APP_ID, "FORGE_JWKS_URL": jwks.url, "FORGE_ALLOWED_API_HOSTS": "api.atlassian.com",
    }, env_file=None)
    app = create_app(settings)
    svc = app.extensions["jira_ai"]
    svc.forge_keys = ForgeKeys(jwks.url, lifespan=600, timeout=2, cooldown=0)
    yield app.test_client(), svc
    svc.close()


# ---------------------------------------------------------------------- a model that does what it is told
@dataclass
class ScriptedGateway:
    """A model gateway whose answers a test scripts; it records every request it is sent.

    ``answer(messages)`` writes a generation; ``classify(messages)`` the JSON a classification gets.
    """

    answer: Callable[[list[dict[str, str]]], str]
    classify: Callable[[list[dict[str, str]]], dict[str, Any]] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def available(self) -> bool:
        """Always configured."""
        return True

    def complete(self, *, tenant_id: str, intent: str, messages: list[dict], max_tokens: int | None = None,
                 json_schema: dict | None = None, schema_name: str = "result", model: str | None = None,
                 cache_key: str | None = None, cache_hint: Any = None) -> Completion:
        """Record the request and answer it as scripted."""
        self.calls.append({"tenant_id": tenant_id, "intent": intent, "messages": messages,
                           "json_schema": json_schema})
        if json_schema is not None:
            verdict = self.classify(messages) if self.classify else {"intent": "unclear", "confidence": 0.9}
            text = json.dumps({"tone": None, "language": "en", **verdict})
        else:
            text = self.answer(messages)
        return Completion(text=text, model="gpt-4o-mini", provider="scripted",
                          usage=Usage(prompt_tokens=100, completion_tokens=50))

    def everything_sent(self) -> str:
        """Every message of every request, joined (what left the process towards the model)."""
        return "\n".join(m["content"] for call in self.calls for m in call["messages"])


# ---------------------------------------------------------------------- the simulator environment
@dataclass
class SimEnv:
    """One simulated site with the app installed, and the app's services (offline provider)."""

    sim: JiraSimulator
    svc: Services
    settings: Settings
    tenant_id: str

    def pipeline(self, gateway: Any = None, *, classifier_llm: Any = None, threshold: float = 0.7) -> Pipeline:
        """The real pipeline with ``gateway`` as the model (None: the offline provider's)."""
        svc = self.svc
        return Pipeline(
            settings=self.settings, tenants=svc.stores.tenants, site_settings=svc.site_settings,
            jira_for=svc.jira_for, gateway=gateway if gateway is not None else svc.manager,
            classifier=IntentClassifier(RuleClassifier(), embeddings=None, llm=classifier_llm,
                                        threshold=threshold),
            router=build_router(),
        )

    def ask(self, issue_key: str, text: str, author: str = DANA) -> AiEvent:
        """``author`` comments ``text`` on the issue; the event our door makes of that comment."""
        comment = self.sim.add_comment(issue_key, author, text)
        payload = {"comment": {"id": comment["id"], "body": text,
                               "author": {"accountId": author, "displayName": comment.get("author_name") or "",
                                          "accountType": "atlassian"}},
                   "issue": {"id": self.sim.issue(issue_key)["id"], "key": issue_key}}
        event = parse_comment_event(payload, tenant_id=self.tenant_id, door="connect",
                                    delivery_id=f"d-{comment['id']}", app_account_id=self.sim.app_account_id)
        assert not isinstance(event, Drop), event
        return event

    def replies(self, issue_key: str) -> list[dict[str, Any]]:
        """The app's replies on the issue (comments carrying the reply property)."""
        return [c for c in self.sim.comments(issue_key) if "jira-ai-reply" in c["properties"]]


@pytest.fixture(scope="session")
def sim_env(tmp_path_factory) -> Iterator[SimEnv]:
    sim = JiraSimulator(webhook_max_retries=0).start()
    port = free_port()
    settings = Settings.from_env({
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": str(tmp_path_factory.mktemp("security-data")),
        "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "security-test-secret-0123456789",
    }, env_file=None)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = sim.install(settings.app_base_url)
        assert result["installed"], result
        sim.add_user(DANA, "Dana Whitfield")
        sim.add_user(MALLORY, "Mallory Quinn")
        sim.revoke(MALLORY, "TRANSITION_ISSUES")
        for key, name in (("SUP", "Support"), ("OPS", "Operations")):
            sim.add_project(key, name)
        services = app.extensions["jira_ai"]
        yield SimEnv(sim, services, settings, result["installation"]["client_key"])
    finally:
        server.shutdown()
        app.extensions["jira_ai"].close()
        sim.stop()
