"""Forge as Jira Cloud hosts it, for an app whose modules call a remote backend (Forge Remote).

``install`` creates an installation (``installationId`` ``ari:cloud:ecosystem::installation/…``, an app
user, ``apiBaseUrl`` ``{site}/ex/jira/{cloudId}``) and sends ``avi:forge:installed:app`` to the lifecycle
trigger; ``upgrade`` sends ``avi:forge:upgraded:app``. Site events become Forge product events
(``avi:jira:commented:issue`` for new and edited comments, ``avi:jira:updated:issue``...) delivered to each
subscribed trigger's endpoint; scheduled triggers run on their interval or on :meth:`ForgeHost.run_scheduled`;
:meth:`ForgeHost.invoke_remote` is ``@forge/bridge`` ``invokeRemote`` from a UI module. Every call carries a
fresh Forge Invocation Token signed RS256 with a key from :attr:`ForgeHost.keys` (published at
``/forge/jwks.json``) and, where the endpoint asks for them, an app system token (``x-forge-oauth-system``)
and a user token (``x-forge-oauth-user``) that the simulated REST API accepts as ``Bearer`` tokens under
``/ex/jira/<cloudId>/rest/api/3``.

Keyword arguments named in :data:`~.forge_credentials.TAMPER_KEYS` change one call's credentials or body
for negative tests.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from ...errors import AuthError, BadRequestError, NotFoundError
from . import forge_payloads as fp
from .auth import Principal
from .connect import join_url
from .forge_credentials import ForgeCredentials, check_tamper
from .forge_delivery import ForgeDispatcher, Target
from .forge_manifest import (
    INTERVALS,
    SCHEDULED_TYPE,
    TRIGGER_TYPE,
    ForgeManifest,
    connect_scopes,
    default_manifest,
)
from .site import Site

# Site (Connect webhook) events -> the Forge product event they raise.
FORGE_EVENTS = {
    "comment_created": fp.COMMENTED,
    "comment_updated": fp.COMMENTED,
    "jira:issue_updated": fp.ISSUE_UPDATED,
    "jira:issue_created": fp.ISSUE_CREATED,
    "jira:issue_deleted": fp.ISSUE_DELETED,
}
UI_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
APP_ARI = "ari:cloud:ecosystem::app/"


@dataclass
class ForgeInstallation:
    """One installation of a Forge app on the site (a reinstall is a new installation)."""

    installation_id: str
    app_id: str
    manifest: ForgeManifest
    remote_base_url: str
    app_account_id: str
    version: str
    environment_type: str
    environment_id: str
    installed: bool = True
    installed_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A plain copy for assertions."""
        return {"installation_id": self.installation_id, "app_id": self.app_id, "version": self.version,
                "remote_base_url": self.remote_base_url, "app_account_id": self.app_account_id,
                "environment_type": self.environment_type, "environment_id": self.environment_id,
                "installed": self.installed}


class ForgeHost:
    """Forge installations on the site: lifecycle, trigger delivery, scheduled triggers, UI invocations."""

    def __init__(self, site: Site, *, cloud_id: str, admin_account_id: str, timeout: float = 5.0,
                 max_retries: int = 4, retry_base_delay: float = 5.0, workers: int = 4,
                 system_token_ttl: float = 3600.0, fit_ttl: float = 300.0, ui_timeout: float = 25.0,
                 schedule_seconds: float | None = None) -> None:
        self.site = site
        self.cloud_id = cloud_id
        self.admin_account_id = admin_account_id
        self.ui_timeout = ui_timeout
        self.schedule_seconds = schedule_seconds
        self.credentials = ForgeCredentials(fit_ttl=fit_ttl, system_token_ttl=system_token_ttl)
        self.keys = self.credentials.keys
        self.tokens = self.credentials.tokens
        self.dispatcher = ForgeDispatcher(self._prepare, timeout=timeout, max_retries=max_retries,
                                          retry_base_delay=retry_base_delay, workers=workers)
        self.remote_calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
        self._lock = threading.RLock()
        self._installs: dict[str, ForgeInstallation] = {}
        self._app_users: dict[str, str] = {}
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._last_run: dict[tuple[str, str], float] = {}

    # -- lifecycle of the host -----------------------------------------------------------------
    def start(self) -> None:
        """Start delivery threads and the scheduler."""
        self.dispatcher.start()
        if self._scheduler is None:
            self._stop.clear()
            self._scheduler = threading.Thread(target=self._schedule_loop, name="jira-sim-forge-schedule",
                                               daemon=True)
            self._scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler and delivery threads."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(5)
            self._scheduler = None
        self.dispatcher.stop()

    @property
    def api_base_url(self) -> str:
        """``apiBaseUrl`` of installations on this site: ``{site}/ex/jira/{cloudId}``."""
        return f"{self.site.base}/ex/jira/{self.cloud_id}"

    # -- installations -------------------------------------------------------------------------
    def installation(self, installation_id: str | None = None) -> ForgeInstallation | None:
        """An installation by id (installed or not), or the latest one."""
        with self._lock:
            if installation_id is not None:
                return self._installs.get(installation_id)
            return next(reversed(self._installs.values()), None)

    def _require(self, installation_id: str | None) -> ForgeInstallation:
        found = self.installation(installation_id)
        if found is None or not found.installed:
            raise NotFoundError("no Forge app is installed" if installation_id is None
                                else f"Forge installation {installation_id!r} is not installed")
        return found

    def install(self, app_base_url: str, *, app_id: str | None = None,
                manifest: Mapping[str, Any] | None = None, version: str = "1",
                environment: str = "DEVELOPMENT", installer: str | None = None,
                wait: float = 10.0) -> dict[str, Any]:
        """Install the app (its remote at ``app_base_url``) and send ``avi:forge:installed:app``.

        Returns ``{"installation": {...}, "deliveries": [...]}`` once the lifecycle deliveries have
        settled (or ``wait`` seconds passed). An installed app of the same id is uninstalled first.
        """
        if manifest is None:
            app_id = app_id or f"{APP_ARI}{uuid.uuid4()}"
            manifest = default_manifest(app_id, app_base_url)
        parsed = ForgeManifest.from_dict(manifest)
        if app_id is not None and parsed.app_id != app_id:
            raise BadRequestError(f"the manifest's app.id {parsed.app_id!r} is not {app_id!r}")
        app_uuid = parsed.app_id.rsplit("/", 1)[-1]
        with self._lock:
            account_id = self._app_users.setdefault(parsed.app_id, f"712020:{uuid.uuid4()}")
        if account_id not in self.site.state.users:  # outside our lock: the state lock comes first
            self.site.add_user(account_id, "Jira AI Assistant (Forge)", account_type="app")
        with self._lock:
            previous = [i for i in self._installs.values() if i.app_id == parsed.app_id and i.installed]
        for old in previous:
            self.uninstall(old.installation_id)
        inst = ForgeInstallation(
            installation_id=f"ari:cloud:ecosystem::installation/{uuid.uuid4()}", app_id=parsed.app_id,
            manifest=parsed, remote_base_url=app_base_url.rstrip("/"), app_account_id=account_id,
            version=version, environment_type=environment,
            environment_id=f"ari:cloud:ecosystem::environment/{app_uuid}/{uuid.uuid4()}")
        with self._lock:
            self._installs[inst.installation_id] = inst
        sent = self._lifecycle(inst, fp.INSTALLED, installer or self.admin_account_id)
        deliveries = self._settle(sent, wait)
        return {"installation": self.describe(inst), "deliveries": deliveries}

    def upgrade(self, installation_id: str | None = None, *, version: str | None = None,
                wait: float = 10.0) -> dict[str, Any]:
        """Deploy a new version (same installation) and send ``avi:forge:upgraded:app``."""
        inst = self._require(installation_id)
        with self._lock:
            bumped = str(int(inst.version) + 1) if inst.version.isdigit() else f"{inst.version}.1"
            inst.version = version or bumped
        sent = self._lifecycle(inst, fp.UPGRADED, self.admin_account_id)
        deliveries = self._settle(sent, wait)
        return {"installation": self.describe(inst), "deliveries": deliveries}

    def describe(self, inst: ForgeInstallation) -> dict[str, Any]:
        """The installation as a plain dict, with the system token last handed out (test tooling)."""
        token, expires_at = self.credentials.current_system_token(inst.installation_id)
        return {**inst.to_dict(), "system_token": token, "system_token_expires_at": expires_at}

    def uninstall(self, installation_id: str | None = None) -> None:
        """Uninstall: no more calls to the remote, and its tokens stop working."""
        inst = self._require(installation_id)
        with self._lock:
            inst.installed = False
        self.credentials.forget_system_token(inst.installation_id)
        self.tokens.expire(inst.installation_id)

    def _lifecycle(self, inst: ForgeInstallation, event: str, actor: str) -> list[str]:
        body = fp.lifecycle_event(event, self._identity(inst), actor)
        return [self._submit(inst, trigger.key, TRIGGER_TYPE, trigger.endpoint, event, body)
                for trigger in inst.manifest.triggers_for(event)]

    def _settle(self, identifiers: list[str], wait: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + wait
        while True:
            found = [d for i in identifiers for d in self.dispatcher.deliveries(identifier=i)]
            if all(d["state"] != "pending" for d in found) or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)

    # -- product events ------------------------------------------------------------------------
    def on_event(self, event: str, build: Callable[[], tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Deliver the Forge event a site event raises to every subscribed trigger (called under the
        state lock; ``build`` gives the Connect payload and the ids of the records involved).
        """
        forge_event = FORGE_EVENTS.get(event)
        if forge_event is None:
            return
        with self._lock:
            targets = [(inst, trigger) for inst in self._installs.values() if inst.installed
                       for trigger in inst.manifest.triggers_for(forge_event)]
        if not targets:
            return
        payload, context = build()
        if payload.get("issue_event_type_name") == "issue_commented":
            return  # a comment raises avi:jira:commented:issue, not an issue update
        body = self._event_body(forge_event, payload, context)
        if body is None:
            return
        for inst, trigger in targets:
            if trigger.ignore_self and body.get("atlassianId") == inst.app_account_id:
                continue
            self._submit(inst, trigger.key, TRIGGER_TYPE, trigger.endpoint, forge_event, body)

    def _event_body(self, event: str, payload: dict[str, Any],
                    context: dict[str, Any]) -> dict[str, Any] | None:
        state, base = self.site.state, self.site.base
        issue = state.find_issue(str(context.get("issue.id", "")))
        if issue is None:
            return None
        if event == fp.COMMENTED:
            comment = state.comments.get(str(context.get("comment.id", "")))
            return fp.commented_issue(state, issue, comment, base) if comment is not None else None
        actor = (payload.get("user") or {}).get("accountId")
        return fp.issue_event(state, event, issue, base, actor, payload.get("changelog"))

    def _submit(self, inst: ForgeInstallation, module_key: str, module_type: str, endpoint_key: str,
                event: str, body: dict[str, Any]) -> str:
        endpoint = inst.manifest.endpoints[endpoint_key]
        url = join_url(inst.remote_base_url, endpoint.path)
        full = {**copy.deepcopy(body), "context": fp.invocation_context(self._identity(inst), module_key)}
        target = Target(inst.installation_id, module_type, module_key, endpoint_key)
        return self.dispatcher.submit_to(target, event, url, full).identifier

    # -- scheduled triggers --------------------------------------------------------------------
    def run_scheduled(self, key: str | None = None, installation_id: str | None = None, *,
                      wait: float = 10.0) -> list[dict[str, Any]]:
        """Fire scheduled triggers now (one ``key`` or all, on one installation or every installed one)
        and return their deliveries once settled.
        """
        with self._lock:
            installs = [i for i in self._installs.values() if i.installed
                        and installation_id in (None, i.installation_id)]
        sent = []
        for inst in installs:
            for item in inst.manifest.scheduled:
                if key in (None, item.key):
                    sent.append(self._fire(inst, item.key, item.endpoint))
        if key is not None and not sent:
            raise NotFoundError(f"no installed app has a scheduled trigger {key!r}")
        return self._settle(sent, wait)

    def _fire(self, inst: ForgeInstallation, key: str, endpoint: str) -> str:
        with self._lock:
            self._last_run[(inst.installation_id, key)] = time.time()
        return self._submit(inst, key, SCHEDULED_TYPE, endpoint, "scheduledTrigger", fp.scheduled_body())

    def _schedule_loop(self) -> None:
        while not self._stop.wait(0.2):
            now = time.time()
            with self._lock:
                due = [(inst, item) for inst in self._installs.values() if inst.installed
                       for item in inst.manifest.scheduled
                       if now - self._last_run.get((inst.installation_id, item.key), inst.installed_at)
                       >= (self.schedule_seconds or INTERVALS[item.interval])]
            for inst, item in due:
                self._fire(inst, item.key, item.endpoint)

    # -- UI modules ----------------------------------------------------------------------------
    def invoke_remote(self, module_key: str, path: str, method: str = "GET", body: Any = None, /, *,
                      account_id: str, issue_key: str | None = None, installation_id: str | None = None,
                      headers: Mapping[str, str] | None = None, **tamper: Any) -> dict[str, Any]:
        """``invokeRemote({path, method, body})`` from UI module ``module_key``, as ``account_id`` viewing
        ``issue_key`` (issue modules). Returns ``{"status", "ok", "body" (JSON or text), "headers"}``.
        The first four parameters are positional, so ``module_key=...`` can be a tampering option.
        """
        check_tamper(tamper)
        inst = self._require(installation_id)
        module = inst.manifest.ui_modules.get(module_key)
        if module is None or module.endpoint is None:
            raise BadRequestError(f"the app has no UI module {module_key!r} with a resolver endpoint")
        method = method.upper()
        if method not in UI_METHODS:
            raise BadRequestError(f"invokeRemote supports {', '.join(UI_METHODS)}, not {method}")
        if not path.startswith("/"):
            raise BadRequestError("invokeRemote's path must start with '/'")
        endpoint = inst.manifest.endpoints[module.endpoint]
        state = self.site.state
        with state.lock:
            state.user(account_id)
            issue = self.site.issue(issue_key) if issue_key else None
            extension = fp.ui_extension(state, module.type, issue)
        app = self._identity(inst)
        fit = self.credentials.fit(app, module_type=module.type, module_key=module_key, tamper=tamper,
                                   extension=extension, principal=account_id)
        sent = {"User-Agent": "Atlassian Forge bridge (jira-sim)", "Accept": "application/json"}
        sent.update(self.credentials.headers(app, fit, account_id=inst.app_account_id,
                                             scopes=inst.manifest.scopes, system_token=endpoint.system_token,
                                             tamper=tamper))
        # appUserToken: the viewer's own token, so Jira applies their permissions; Forge hands it out only
        # to an app granted read:app-user-token.
        if endpoint.user_token and "read:app-user-token" in inst.manifest.scopes:
            user_token = self.credentials.user_token(inst.installation_id, account_id, inst.manifest.scopes,
                                                     tamper=tamper)
            if user_token is not None:
                sent["x-forge-oauth-user"] = user_token
        data = None
        if "body" in tamper:
            body = tamper["body"]
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        url = inst.remote_base_url + path
        started = time.perf_counter()
        try:
            with requests.Session() as http:
                http.trust_env = False  # loopback remotes: never through an environment proxy
                response = http.request(method, url, data=data, headers=sent, allow_redirects=False,
                                        timeout=float(tamper.get("timeout", self.ui_timeout)))
        except requests.RequestException as exc:
            self._log_call(module_key, method, path, None, started)
            raise BadRequestError(f"invokeRemote {method} {path} failed: {type(exc).__name__}") from exc
        self._log_call(module_key, method, path, response.status_code, started)
        try:
            parsed: Any = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        return {"status": response.status_code, "ok": response.ok, "body": parsed,
                "headers": dict(response.headers)}

    def _log_call(self, module_key: str, method: str, path: str, status: int | None, started: float) -> None:
        with self._lock:
            self.remote_calls.append({"module_key": module_key, "method": method, "path": path,
                                      "status": status, "latency_ms": round((time.perf_counter() - started)
                                                                            * 1000, 3)})

    # -- credentials ---------------------------------------------------------------------------
    def _identity(self, inst: ForgeInstallation) -> fp.AppIdentity:
        return fp.AppIdentity(app_id=inst.app_id, installation_id=inst.installation_id,
                              api_base_url=self.api_base_url, version=inst.version,
                              environment_type=inst.environment_type, environment_id=inst.environment_id,
                              cloud_id=self.cloud_id, site_url=self.site.base)

    def _prepare(self, target: Target, tamper: Mapping[str, Any]) -> dict[str, str] | None:
        """Headers for one delivery attempt (None when the installation is gone)."""
        check_tamper(tamper)
        inst = self.installation(target.installation_id)
        if inst is None or not inst.installed:
            return None
        endpoint = inst.manifest.endpoints[target.endpoint_key]
        app = self._identity(inst)
        fit = self.credentials.fit(app, module_type=target.module_type, module_key=target.module_key,
                                   tamper=tamper)
        return self.credentials.headers(app, fit, account_id=inst.app_account_id, scopes=inst.manifest.scopes,
                                        system_token=endpoint.system_token, tamper=tamper)

    def system_token(self, installation_id: str | None = None) -> str:
        """The installation's current system token, renewed when it is close to expiry."""
        inst = self._require(installation_id)
        return self.credentials.system_token(inst.installation_id, inst.app_account_id, inst.manifest.scopes)

    def rotate_system_token(self, installation_id: str | None = None) -> str:
        """Issue a new system token now (the old one keeps working until it expires)."""
        inst = self._require(installation_id)
        self.credentials.forget_system_token(inst.installation_id)
        return self.system_token(inst.installation_id)

    def expire_tokens(self, installation_id: str | None = None) -> int:
        """Make every issued token (of one installation, or all) expire now; the next call gets new ones."""
        self.credentials.forget_system_token(installation_id)
        return self.tokens.expire(installation_id)

    def bearer_principal(self, token: str) -> Principal:
        """Who a ``Bearer`` token on the REST gateway acts as, or :class:`AuthError`."""
        record = self.tokens.lookup(token)
        if record is None:
            raise AuthError("the bearer token has expired" if self.tokens.known(token)
                            else "the bearer token was not issued by this site")
        inst = self.installation(record.installation_id)
        if inst is None or not inst.installed:
            raise AuthError("the app is not installed")
        scopes = connect_scopes(inst.manifest.scopes)
        if record.kind == "system":
            return Principal(inst.app_account_id, inst.app_id, scopes, "forge-system-token")
        return Principal(record.account_id, None, scopes, "forge-user-token")

    # -- deliveries ----------------------------------------------------------------------------
    def deliveries(self, event: str | None = None,
                   installation_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded deliveries (oldest first) with their attempts, optionally of one event/installation."""
        found = self.dispatcher.deliveries(event)
        return [d for d in found if installation_id in (None, d["app_key"])]

    def redeliver(self, identifier: str) -> None:
        """Deliver a recorded (or held) delivery again, same body, with fresh credentials and retries."""
        self.dispatcher.redeliver(identifier)

    def send(self, identifier: str, **tamper: Any) -> dict[str, Any]:
        """One synchronous attempt of a recorded delivery with ``tamper`` applied; returns the attempt."""
        check_tamper(tamper)
        return self.dispatcher.send_once(identifier, tamper)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Within the block, new deliveries are recorded as ``held`` instead of being sent."""
        self.dispatcher.hold(True)
        try:
            yield
        finally:
            self.dispatcher.hold(False)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no Forge delivery is queued, in flight or waiting for a retry."""
        return self.dispatcher.wait_idle(timeout)

