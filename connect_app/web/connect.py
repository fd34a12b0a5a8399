"""The Connect door: descriptor, lifecycle callbacks and webhooks.

It only authenticates, parses and hands on: a webhook is verified, normalised into an AiEvent,
deduplicated and enqueued, and answered 204 within milliseconds. No LLM or Jira call runs here.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request

from ..errors import AuthError, BadRequestError, ForbiddenError
from ..models import Tenant
from ..pipeline.events import Drop, parse_comment_event, parse_issue_updated
from ..pipeline.intake import admit, enqueue_site_setup
from ..platform.connect import jwt as cjwt
from ..platform.connect.descriptor import LIFECYCLE_PATHS, WEBHOOK_PATHS, render_descriptor
from ..services import Services
from .connect_auth import request_url, verify_connect

log = logging.getLogger(__name__)

MAX_SITE_URL_CHARS = 255
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?(?::\d{1,5})?(?:/[A-Za-z0-9._~\-/]*)?")


def services() -> Services:
    """The process's services, built once by ``create_app``."""
    return current_app.extensions["jira_ai"]


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong."""
    if not request.data:
        raise BadRequestError("the request has no body; a JSON object is expected")
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequestError("the body is not valid JSON")
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object")
    return data


def plain_site_url(url: str) -> bool:
    r"""True for ``scheme://host[:port][/path]`` made only of characters every URL parser reads alike.

    ``urlsplit`` and the HTTP client disagree on hosts holding a backslash or percent sign
    (``https://evil.test\.atlassian.net`` matches ``*.atlassian.net`` by hostname, yet requests
    connects to ``evil.test``): such a baseUrl is refused before the allowed-hosts check.
    """
    if len(url) > MAX_SITE_URL_CHARS or not _PLAIN_URL.fullmatch(url):
        return False
    try:
        port = urlsplit(url).port  # ValueError outside 0-65535
    except ValueError:
        return False
    return port != 0


def build_connect_blueprint() -> Blueprint:
    """The Connect door's routes."""
    bp = Blueprint("connect", __name__)

    @bp.get("/atlassian-connect.json")
    def descriptor():  # type: ignore[no-untyped-def]
        return jsonify(render_descriptor(services().settings))

    # ------------------------------------------------------------------ lifecycle
    def signed_install(body: dict[str, Any]) -> None:
        svc = services()
        token = cjwt.extract_token(request.headers, request.args)
        client_key = body.get("clientKey")
        if not isinstance(client_key, str) or not client_key:
            raise BadRequestError("clientKey is missing")
        cjwt.verify_install_rs256(
            token, fetch_key=svc.install_keys, audience=svc.settings.app_base_url, client_key=client_key,
            method=request.method, url=request_url(), base_url=svc.settings.app_base_url,
            leeway=svc.settings.jwt_leeway_seconds,
        )

    @bp.post(LIFECYCLE_PATHS["installed"])
    def installed():  # type: ignore[no-untyped-def]
        svc = services()
        body = json_body()
        signed_install(body)
        for name in ("clientKey", "sharedSecret", "baseUrl"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise BadRequestError(f"{name} is missing from the installed payload")
        if body.get("key") != svc.settings.app_key:
            raise BadRequestError("the payload's key is not this app's key")
        if not plain_site_url(body["baseUrl"]) or not svc.settings.host_allowed(body["baseUrl"]):
            log.warning("install refused: baseUrl host not allowed by CONNECT_ALLOWED_HOSTS")
            raise ForbiddenError("this site's baseUrl is not an allowed Atlassian host")
        existing = svc.stores.tenants.get(body["clientKey"])
        tenant = Tenant(
            tenant_id=body["clientKey"], door="connect", base_url=body["baseUrl"].rstrip("/"),
            shared_secret=body["sharedSecret"], app_key=body["key"], cloud_id=body.get("cloudId"),
            display_url=body.get("displayUrl"), description=str(body.get("description") or "")[:200],
            # Jira re-sends "installed" on upgrades and reinstalls: a disabled site stays disabled until its
            # "enabled" callback, which (like "disabled") can only be verified once this secret is stored.
            enabled=existing.enabled if existing else True,
            installed_at=existing.installed_at if existing else 0.0,
        )
        svc.stores.tenants.save(tenant)
        log.info("site installed (%s)", "reinstall" if existing else "new")
        # Learn the app's own account id off the request thread (Jira may not accept calls until we answer).
        enqueue_site_setup(svc.queue, tenant.tenant_id, "connect")
        return "", 204

    @bp.post(LIFECYCLE_PATHS["uninstalled"])
    def uninstalled():  # type: ignore[no-untyped-def]
        svc = services()
        body = json_body()
        signed_install(body)
        existed = svc.stores.tenants.delete(body["clientKey"])
        log.info("site uninstalled (known=%s)", existed)
        return "", 204

    def set_enabled(enabled: bool) -> tuple[str, int]:
        svc = services()
        body = json_body()
        caller = verify_connect(svc)
        if body.get("clientKey") not in (None, caller.tenant.tenant_id):
            raise AuthError("clientKey in the body does not match the token's issuer")
        svc.stores.tenants.set_enabled(caller.tenant.tenant_id, enabled)
        log.info("site %s", "enabled" if enabled else "disabled")
        return "", 204

    @bp.post(LIFECYCLE_PATHS["enabled"])
    def enabled():  # type: ignore[no-untyped-def]
        return set_enabled(True)

    @bp.post(LIFECYCLE_PATHS["disabled"])
    def disabled():  # type: ignore[no-untyped-def]
        return set_enabled(False)

    # ------------------------------------------------------------------ webhooks
    @bp.post(WEBHOOK_PATHS["comment_created"])
    def comment_created():  # type: ignore[no-untyped-def]
        return receive("comment")

    @bp.post(WEBHOOK_PATHS["jira:issue_updated"])
    def issue_updated():  # type: ignore[no-untyped-def]
        return receive("issue_updated")

    return bp


def receive(kind: str) -> tuple[str, int]:
    """Verify, parse, filter, claim and enqueue one webhook delivery."""
    started = time.perf_counter()
    svc = services()
    caller = verify_connect(svc)
    body = json_body()
    tenant = caller.tenant
    delivery = request.headers.get("X-Atlassian-Webhook-Identifier", "")[:128]
    if not tenant.enabled:
        log.info("webhook dropped: site disabled")
        return "", 204
    if kind == "comment":
        result = parse_comment_event(body, tenant_id=tenant.tenant_id, door="connect", delivery_id=delivery,
                                     app_account_id=tenant.app_account_id, trigger=svc.settings.ai_trigger)
    else:
        result = parse_issue_updated(body, tenant_id=tenant.tenant_id, door="connect", delivery_id=delivery,
                                     app_account_id=tenant.app_account_id)
    if isinstance(result, Drop):
        log.debug("webhook dropped: %s", result.reason)
        return "", 204
    admission = admit(result, site_settings=svc.site_settings, dedupe=svc.stores.dedupe, queue=svc.queue,
                      limiter=svc.limiter)
    if admission.status == "duplicate":
        retry = request.headers.get("X-Atlassian-Webhook-Retry", "0")
        log.info("webhook (retry %s) repeats an accepted delivery", retry[:8])
    if admission.status == "unavailable":
        return "", 503
    log.debug("webhook handled in %.1f ms: %s", (time.perf_counter() - started) * 1000, admission.status)
    return "", 204
