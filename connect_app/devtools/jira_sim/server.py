"""``JiraSimulator``: a local Jira Cloud site (Connect and Forge modes) on a background thread.

For tests, the demo and benchmarks. A typical test::

    with JiraSimulator() as sim:
        sim.add_project("PROJ", "Project")
        issue = sim.add_issue("PROJ", "Checkout fails", description_text="Steps...")
        sim.install(app_base_url)  # signed install, like Jira
        sim.add_comment(issue["key"], sim.admin_account_id, "@ai summarize this")  # comment_created
        reply = sim.wait_for_comment(issue["key"], lambda c: c["author_type"] == "app")

Forge mode: ``sim.install_forge(app_base_url)`` installs a Forge Remote app (see :mod:`.forge`); the same
site events then reach it as Forge triggers, and ``sim.forge.invoke_remote(...)`` drives its screens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ...errors import BadRequestError
from ...jira.adf import adf_to_text
from . import render
from .app import build_app
from .connect import ConnectHost
from .faults import CallLog, FaultInjector
from .forge import ForgeHost
from .site import Site
from .state import DEFAULT_ADMIN_ID, SiteState
from .webhooks import WebhookDispatcher

CommentPredicate = Callable[[dict[str, Any]], bool]


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without the per-request access log (the call log records every request)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log line."""


class JiraSimulator:
    """One simulated Jira Cloud site: REST v3, Connect install/lifecycle, webhooks, faults, call log.

    ``webhook_timeout`` is the per-attempt request timeout, ``webhook_max_retries`` and
    ``webhook_retry_base_delay`` (doubling each retry) the retry policy. ``issue_updated_on_comment``
    also raises ``jira:issue_updated`` (``issue_commented``) for each new comment, as Jira does.
    ``forge_*`` set Forge's delivery policy (5 s timeout, 4 retries, backoff base defaulting to the
    webhook one), the system token lifetime and, when ``forge_schedule_seconds`` is set, how often
    scheduled triggers run instead of their manifest interval.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, site: str = "sim",
                 webhook_timeout: float = 10.0, webhook_max_retries: int = 5,
                 webhook_retry_base_delay: float = 5.0, webhook_workers: int = 4,
                 enforce_scopes: bool = True, issue_updated_on_comment: bool = False,
                 jwt_leeway: float = 60, forge_timeout: float = 5.0, forge_max_retries: int = 4,
                 forge_retry_base_delay: float | None = None, forge_system_token_ttl: float = 3600.0,
                 forge_schedule_seconds: float | None = None) -> None:
        self.host, self._port, self.site_name = host, port, site
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.state = SiteState()
        self.dispatcher = WebhookDispatcher(
            self._credentials, timeout=webhook_timeout, max_retries=webhook_max_retries,
            retry_base_delay=webhook_retry_base_delay, workers=webhook_workers)
        self.site = Site(self.state, lambda: self.base_url, self._on_event,
                         issue_updated_on_comment=issue_updated_on_comment)
        self.connect = ConnectHost(self.site, self.dispatcher, admin_account_id=DEFAULT_ADMIN_ID,
                                   site_name=site)
        forge_backoff = webhook_retry_base_delay if forge_retry_base_delay is None else forge_retry_base_delay
        self.forge = ForgeHost(
            self.site, cloud_id=self.connect.cloud_id, admin_account_id=DEFAULT_ADMIN_ID,
            timeout=forge_timeout, max_retries=forge_max_retries, retry_base_delay=forge_backoff,
            workers=webhook_workers, system_token_ttl=forge_system_token_ttl,
            schedule_seconds=forge_schedule_seconds)
        self.faults = FaultInjector()
        self._calls = CallLog()
        self._enforce_scopes = enforce_scopes
        self._leeway = jwt_leeway
        self.site.add_user(DEFAULT_ADMIN_ID, "Sim Admin", email="admin@example.com", admin=True)

    # -- server lifecycle ----------------------------------------------------------------------
    def _bind(self) -> BaseWSGIServer:
        """Bind the listening socket (once), so the base URL is known before serving starts."""
        if self._server is None:
            app = build_app(self.site, self.connect, self.faults, self._calls,
                            enforce_scopes=self._enforce_scopes, leeway=self._leeway, forge=self.forge)
            self._server = make_server(self.host, self._port, app, threaded=True,
                                       request_handler=_QuietHandler)
        return self._server

    def start(self) -> JiraSimulator:
        """Serve on a background thread and start webhook delivery."""
        server = self._bind()
        if self._thread is None:
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="jira-sim-http", daemon=True)
            self._thread.start()
            self.dispatcher.start()
            self.forge.start()
        return self

    def stop(self) -> None:
        """Stop webhook delivery and the server, and free the port."""
        self.dispatcher.stop()
        self.forge.stop()
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> JiraSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (binding it now if needed)."""
        return int(self._bind().server_port)

    @property
    def base_url(self) -> str:
        """The site's base URL, e.g. ``http://127.0.0.1:54321``."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def install_keys_url(self) -> str:
        """Where apps fetch install public keys: point ``CONNECT_INSTALL_KEYS_URL`` here."""
        return f"{self.base_url}/connect-keys"

    @property
    def forge_jwks_url(self) -> str:
        """Where apps fetch the FIT signing keys: point ``FORGE_JWKS_URL`` here."""
        return f"{self.base_url}/forge/jwks.json"

    @property
    def admin_account_id(self) -> str:
        """The seeded site administrator."""
        return DEFAULT_ADMIN_ID

    # -- seed data -----------------------------------------------------------------------------
    def add_user(self, account_id: str, display_name: str, *, account_type: str = "atlassian",
                 email: str | None = None, admin: bool = False) -> dict[str, Any]:
        """Create a user (browse/comment/transition everywhere unless revoked; ``admin`` gets everything)."""
        user = self.site.add_user(account_id, display_name, account_type=account_type, email=email,
                                  admin=admin)
        return {"accountId": user.account_id, "displayName": user.display_name,
                "accountType": user.account_type}

    def add_project(self, key: str, name: str) -> dict[str, Any]:
        """Create a project."""
        project = self.site.add_project(key, name)
        return {"id": project.id, "key": project.key, "name": project.name}

    def add_issue(self, project_key: str, summary: str, *, description_text: str | None = None,
                  description_adf: Mapping[str, Any] | None = None, status: str = "To Do",
                  assignee: str | None = None, reporter: str | None = None, due_date: str | None = None,
                  priority: str = "Medium", labels: Iterable[str] = ()) -> dict[str, Any]:
        """Create an issue (ids from 10000, keys PROJ-1...) and return it as getIssue shows it."""
        issue = self.site.add_issue(project_key, summary, description_text=description_text,
                                    description_adf=description_adf, status=status, assignee=assignee,
                                    reporter=reporter or self.admin_account_id, due_date=due_date,
                                    priority=priority, labels=labels)
        return self.issue(issue.key)

    def grant(self, account_id: str, permission: str, project_key: str | None = None) -> None:
        """Grant a project permission (in one project, or all when None) or a global one (ADMINISTER)."""
        self.state.grant(account_id, permission, project_key)

    def revoke(self, account_id: str, permission: str, project_key: str | None = None) -> None:
        """Revoke a permission (see :meth:`grant`)."""
        self.state.revoke(account_id, permission, project_key)

    # -- users acting on the site --------------------------------------------------------------
    def add_comment(self, issue_key: str, author_account_id: str, text: str | None = None, *,
                    adf: Mapping[str, Any] | None = None, properties: Mapping[str, Any] | None = None,
                    ) -> dict[str, Any]:
        """A user comments (plain ``text``, ``[~accountid:ID]`` for mentions, or an ``adf`` document);
        fires ``comment_created``. Returns the comment as :meth:`comments` shows it.
        """
        if (text is None) == (adf is None):
            raise BadRequestError("give the comment as text or as adf")
        body = dict(adf) if adf is not None else self.site.text_adf(text or "")
        if not body.get("content"):
            raise BadRequestError("the comment is empty")
        with self.state.lock:
            issue = self.site.issue(issue_key)
            comment = self.site.add_comment(issue, author_account_id, body, properties=properties)
            return self._comment_view(comment)

    def update_comment(self, issue_key: str, comment_id: str, text: str, *,
                       by: str | None = None) -> dict[str, Any]:
        """Edit a comment's text (fires ``comment_updated``)."""
        with self.state.lock:
            issue = self.site.issue(issue_key)
            comment = self.site.comment(issue, comment_id)
            self.site.update_comment(issue, comment, by or comment.author_id, self.site.text_adf(text))
            return self._comment_view(comment)

    def delete_comment(self, issue_key: str, comment_id: str) -> None:
        """Delete a comment (fires ``comment_deleted``)."""
        with self.state.lock:
            issue = self.site.issue(issue_key)
            self.site.delete_comment(issue, self.site.comment(issue, comment_id))

    def transition_issue(self, issue_key: str, to: str, *, by: str | None = None) -> dict[str, Any]:
        """Move an issue to a status (name, e.g. ``"Done"``) or through a transition id (``"31"``);
        fires ``jira:issue_updated`` with the status change in ``changelog.items``.
        """
        with self.state.lock:
            issue = self.site.issue(issue_key)
            transition_id = to if to in self.state.transitions else next(
                (t.id for t in self.state.transitions.values()
                 if self.state.statuses[t.to_status_id].name.lower() == to.lower()), None)
            if transition_id is None:
                raise BadRequestError(f"no transition or status named {to!r}")
            self.site.transition(issue, transition_id, by or self.admin_account_id)
            return self.issue(issue.key)

    def update_issue(self, issue_key: str, *, by: str | None = None, **fields: Any) -> dict[str, Any]:
        """Edit fields (summary, description ADF, labels, duedate, priority, assignee).

        Fires ``jira:issue_updated`` with the changes in ``changelog.items``.
        """
        with self.state.lock:
            issue = self.site.issue(issue_key)
            self.site.edit(issue, by or self.admin_account_id, fields)
            return self.issue(issue.key)

    def delete_issue(self, issue_key: str, *, by: str | None = None) -> None:
        """Delete an issue and its comments (fires ``jira:issue_deleted`` and ``comment_deleted``)."""
        with self.state.lock:
            self.site.delete_issue(self.site.issue(issue_key), by or self.admin_account_id)

    # -- Connect -------------------------------------------------------------------------------
    def install(self, app_base_url: str, **tamper: Any) -> dict[str, Any]:
        """Install a Connect app like Jira (see :meth:`ConnectHost.install` for the tampering options)."""
        return self.connect.install(app_base_url, **tamper)

    def uninstall(self, app_key: str | None = None, **tamper: Any) -> dict[str, Any]:
        """Uninstall the app (``disabled`` then the RS256-signed ``uninstalled``)."""
        return self.connect.uninstall(app_key, **tamper)

    def enable(self, app_key: str | None = None) -> dict[str, Any]:
        """Enable the app (HS256-signed ``enabled``)."""
        return self.connect.enable(app_key)

    def disable(self, app_key: str | None = None) -> dict[str, Any]:
        """Disable the app (HS256-signed ``disabled``); it gets no webhooks and its calls answer 401."""
        return self.connect.disable(app_key)

    def installation(self, app_key: str | None = None) -> dict[str, Any] | None:
        """The installation (clientKey, sharedSecret, app account...) or None."""
        inst = self.connect.installation(app_key)
        return inst.to_dict() if inst else None

    @property
    def app_account_id(self) -> str | None:
        """The account id of the (latest) installed app's user."""
        inst = self.connect.installation()
        return inst.app_account_id if inst else None

    def rotate_install_key(self) -> str:
        """Sign future installs with a new key pair; returns its kid (old keys stay served)."""
        return self.connect.keys.rotate()

    # -- Forge ---------------------------------------------------------------------------------
    def install_forge(self, app_base_url: str, **options: Any) -> dict[str, Any]:
        """Install a Forge Remote app whose remote is ``app_base_url`` (see :meth:`ForgeHost.install`)."""
        return self.forge.install(app_base_url, **options)

    # -- webhooks ------------------------------------------------------------------------------
    def deliveries(self, event: str | None = None, identifier: str | None = None) -> list[dict[str, Any]]:
        """Every webhook delivery with its attempts (status, latency, retry, error)."""
        return self.dispatcher.deliveries(event, identifier)

    def redeliver(self, identifier: str) -> None:
        """Send a delivery again with the same identifier and body."""
        self.dispatcher.redeliver(identifier)

    def pause_delivery(self) -> None:
        """Hold webhooks until :meth:`resume_delivery`."""
        self.dispatcher.pause()

    def resume_delivery(self) -> None:
        """Send held webhooks."""
        self.dispatcher.resume()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no webhook is queued, in flight or waiting for a retry."""
        return self.dispatcher.wait_idle(timeout)

    # -- observing -----------------------------------------------------------------------------
    def calls(self, path_contains: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """REST calls answered (method, path, query, status, body, account_id, latency_ms, note)."""
        return self._calls.find(path_contains, method)

    def clear_calls(self) -> None:
        """Forget recorded calls."""
        self._calls.clear()

    def issue(self, key: str) -> dict[str, Any]:
        """The issue as getIssue shows it (all fields, current status)."""
        with self.state.lock:
            return render.issue_bean(self.state, self.site.issue(key), self.base_url)

    def comments(self, issue_key: str) -> list[dict[str, Any]]:
        """The issue's comments, oldest first: id, author, ``text`` (ADF as text), ``body``, properties."""
        with self.state.lock:
            issue = self.site.issue(issue_key)
            return [self._comment_view(c) for c in self.state.issue_comments(issue)]

    def wait_for_comment(self, issue_key: str, predicate: CommentPredicate | None = None,
                         timeout: float = 10.0) -> dict[str, Any]:
        """The first comment matching ``predicate`` (any when None); TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for comment in self.comments(issue_key):
                if predicate is None or predicate(comment):
                    return comment
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching comment on {issue_key} within {timeout:g} s")
            time.sleep(0.02)

    def _comment_view(self, comment: Any) -> dict[str, Any]:
        author = self.state.users.get(comment.author_id)
        return {
            "id": comment.id, "issue_id": comment.issue_id,
            "author_account_id": comment.author_id, "author_name": author.display_name if author else "",
            "author_type": author.account_type if author else "", "text": adf_to_text(comment.body),
            "body": comment.body, "properties": dict(comment.properties),
            "created": render.jira_time(comment.created), "updated": render.jira_time(comment.updated),
        }

    # -- wiring --------------------------------------------------------------------------------
    def _on_event(self, event: str, build: Callable[[], tuple[dict[str, Any], dict[str, Any]]]) -> None:
        self.connect.on_event(event, build)
        self.forge.on_event(event, build)

    def _credentials(self, app_key: str) -> tuple[str, str, str] | None:
        return self.connect.credentials(app_key)
