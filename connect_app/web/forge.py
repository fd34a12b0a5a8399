"""The Forge door: trigger events, lifecycle, the scheduled token refresh, and the screens' API.

Like the Connect door it only authenticates, parses and hands on: every route verifies the Forge
Invocation Token for the manifest module it serves (``forge_auth``), refreshes the site and its
system token, and answers within milliseconds. Events are normalised into an AiEvent, deduplicated
by comment (Forge redelivers, and ``avi:jira:commented:issue`` fires for edits too) and enqueued on
the same durable queue as Connect's webhooks. The screens' calls (``invokeRemote``) reach the very
same handlers as the Connect screens, under ``/forge/ui``.

401 is answered only for token failures (Forge reserves it); malformed bodies get 400.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..errors import BadRequestError
from ..models import AiEvent
from ..pipeline.events import Drop, parse_comment_event, parse_issue_updated
from ..pipeline.intake import admit, enqueue_site_setup
from ..services import Services
from .forge_auth import (
    COMMENT_MODULES,
    ISSUE_UPDATED_MODULES,
    LIFECYCLE_MODULES,
    SCHEDULED_MODULES,
    forge_call,
    verify_forge_ui_call,
)
from .ui_api import build_ui_api_blueprint

log = logging.getLogger(__name__)

ROUTES = {
    "comment": "/forge/events/comment",
    "issue_updated": "/forge/events/issue-updated",
    "lifecycle": "/forge/lifecycle",
    "token_refresh": "/forge/scheduled/token-refresh",
}
UI_PREFIX = "/forge/ui"
COMMENT_EVENTS = frozenset({"avi:jira:commented:issue"})
ISSUE_UPDATED_EVENTS = frozenset({"avi:jira:updated:issue"})
INSTALLED = "avi:forge:installed:app"
UPGRADED = "avi:forge:upgraded:app"
LIFECYCLE_EVENTS = frozenset({INSTALLED, UPGRADED})


def services() -> Services:
    """The process's services, built once by ``create_app``."""
    return current_app.extensions["jira_ai"]


def event_body() -> dict[str, Any]:
    """The event from the request body: the ``payload`` object when Forge wraps it, else the body."""
    if not request.data:
        raise BadRequestError("the request has no body; a JSON object is expected")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object")
    inner = data.get("payload")
    if isinstance(inner, dict):
        if "eventType" not in inner and isinstance(data.get("eventType"), str):
            inner = {**inner, "eventType": data["eventType"]}
        return inner
    if inner is not None:
        raise BadRequestError("the body's payload must be a JSON object")
    return data


def ack(status: str, code: int = 200, **extra: Any) -> tuple[Response, int]:
    """A small JSON answer (Forge expects JSON from a remote)."""
    return jsonify(status=status, **extra), code


def build_forge_blueprint() -> Blueprint:
    """The Forge door's routes, with the screens' API nested under ``/forge/ui``."""
    bp = Blueprint("forge", __name__)

    @bp.post(ROUTES["comment"])
    def comment_event():  # type: ignore[no-untyped-def]
        return receive_event("comment")

    @bp.post(ROUTES["issue_updated"])
    def issue_updated_event():  # type: ignore[no-untyped-def]
        return receive_event("issue_updated")

    @bp.post(ROUTES["lifecycle"])
    def lifecycle():  # type: ignore[no-untyped-def]
        svc = services()
        call = forge_call(svc, LIFECYCLE_MODULES)
        body = event_body()
        event_type = body.get("eventType")
        if event_type not in LIFECYCLE_EVENTS:
            log.info("forge lifecycle event %r ignored", str(event_type)[:64])
            return ack("ignored")
        log.info("forge %s (%s site)", "install" if event_type == INSTALLED else "upgrade",
                 "new" if call.new_site else "known")
        if event_type == INSTALLED or not call.tenant.app_account_id:
            enqueue_site_setup(svc.queue, call.tenant.tenant_id, "forge")
        return ack("ok")

    @bp.post(ROUTES["token_refresh"])
    def token_refresh():  # type: ignore[no-untyped-def]
        call = forge_call(services(), SCHEDULED_MODULES)
        if not call.tenant.system_token:
            log.warning("scheduled refresh brought no app system token (check appSystemToken)")
        return ack("ok")

    bp.register_blueprint(
        build_ui_api_blueprint(name="ui", url_prefix=UI_PREFIX, verify=verify_forge_ui_call)
    )
    return bp


def receive_event(kind: str) -> tuple[Response, int]:
    """Verify, parse, filter, claim and enqueue one trigger event."""
    svc = services()
    call = forge_call(svc, COMMENT_MODULES if kind == "comment" else ISSUE_UPDATED_MODULES)
    payload = event_body()
    tenant = call.tenant
    expected = COMMENT_EVENTS if kind == "comment" else ISSUE_UPDATED_EVENTS
    event_type = payload.get("eventType")
    if event_type is not None and event_type not in expected:
        log.info("forge event %r ignored on the %s route", str(event_type)[:64], kind)
        return ack("ignored", reason="event_type")
    if not tenant.enabled:
        log.info("forge event dropped: site disabled")
        return ack("ignored", reason="site_disabled")
    common = {"tenant_id": tenant.tenant_id, "door": "forge", "delivery_id": "",
              "app_account_id": tenant.app_account_id}
    if kind == "comment":
        result = parse_comment_event(payload, trigger=svc.settings.ai_trigger, **common)
    else:
        result = parse_issue_updated(with_actor(payload), **common)
    if isinstance(result, Drop):
        log.debug("forge event dropped: %s", result.reason)
        return ack("ignored", reason=result.reason)
    return accept(svc, result)


def with_actor(payload: dict[str, Any]) -> dict[str, Any]:
    """Forge names who acted as ``atlassianId``; the parser reads Connect's ``user`` object."""
    if isinstance(payload.get("user"), dict) or not isinstance(payload.get("atlassianId"), str):
        return payload
    return {**payload, "user": {"accountId": payload["atlassianId"]}}


def accept(svc: Services, event: AiEvent) -> tuple[Response, int]:
    """Admit the event through the doors' shared intake and answer Forge."""
    result = admit(event, site_settings=svc.site_settings, dedupe=svc.stores.dedupe, queue=svc.queue,
                   limiter=svc.limiter)
    if result.status == "unavailable":
        return ack("unavailable", 503)
    extra = {k: v for k, v in (("reason", result.reason), ("job_id", result.job_id)) if v}
    return ack(result.status, **extra)
