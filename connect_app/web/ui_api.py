"""The screens' JSON API (``/api/ui``): the issue panel and the admin page.

Every call carries a Connect context token (see ``ui_auth``). Drafting and posting are UI jobs run
by a worker: the call answers ``202 {"job_id"}`` at once and the screen polls ``/api/ui/jobs/<id>``.
On the request thread there is no LLM call and only short Jira calls: the issue's summary and draft
count for the panel, the administrator check, or (Forge) whether the user can see the issue before a
draft or a post is queued. Where the door gives a user token (Forge) these are asked as the user.
Errors are ``{"error": code, "message": plain words}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from ..errors import BadRequestError, CircuitOpenError, JiraError, NotFoundError
from ..llm.insights import suggestions
from ..pipeline.rate_limit import Verdict, verdict_message
from ..pipeline.ui_tasks import (
    COMMENT,
    DRAFT,
    PURPOSES,
    RECIPIENTS,
    CommentForm,
    EmailForm,
    budget_state,
    draft_count,
    drafts_property_key,
    job_payload,
)
from ..services import Services
from ..settings import EMAIL_TONES
from .ui_auth import (
    UiCaller,
    refuse_for_user,
    remember_issue_visible,
    request_jira,
    require_admin,
    require_issue_visible,
    verify_ui_call,
)

log = logging.getLogger(__name__)

PREFIX = "/api/ui"
DAILY_DAYS = 30


def services() -> Services:
    """The process's services, built once by ``create_app``."""
    return current_app.extensions["jira_ai"]


def json_object() -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what is wrong."""
    data = request.get_json(silent=True) if request.data else None
    if not isinstance(data, dict):
        raise BadRequestError("The request needs a JSON object body.")
    return data


def build_ui_api_blueprint(
    *, name: str = "ui_api", url_prefix: str = PREFIX, verify: Callable[[Services], UiCaller] = verify_ui_call
) -> Blueprint:
    """The ``/api/ui`` routes; the Forge door mounts the same handlers with its own ``verify``."""
    bp = Blueprint(name, __name__, url_prefix=url_prefix)

    @bp.after_request
    def no_store(response):  # type: ignore[no-untyped-def]
        response.headers["Cache-Control"] = "no-store"
        return response

    # ------------------------------------------------------------------ issue panel
    @bp.get("/panel")
    def panel():  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify(svc)
        issue_key = caller.require_issue()
        site = svc.site_settings.get(caller.tenant.tenant_id)
        issue, drafts = issue_facts(svc, caller, issue_key)
        return jsonify(
            issue=issue,
            defaults={"tone": site.default_email_tone},
            tones=list(EMAIL_TONES),
            recipients=list(RECIPIENTS),
            purposes=list(PURPOSES),
            drafts=drafts,
            budget=budget_state(svc.manager, caller.tenant.tenant_id),
        )

    @bp.post("/drafts")
    def draft():  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify(svc)
        issue_key = caller.require_issue()
        site = svc.site_settings.get(caller.tenant.tenant_id)
        form = EmailForm.parse(json_object(), default_tone=site.default_email_tone)
        require_issue_visible(svc, caller, issue_key)
        payload = job_payload(form, issue_key=issue_key, issue_id=caller.issue_id)
        return accepted(svc, caller, DRAFT, payload)

    @bp.post("/comments")
    def comment():  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify(svc)
        issue_key = caller.require_issue()
        form = CommentForm.parse(json_object())
        require_issue_visible(svc, caller, issue_key)
        payload = job_payload(form, issue_key=issue_key, issue_id=caller.issue_id)
        return accepted(svc, caller, COMMENT, payload)

    @bp.get("/jobs/<job_id>")
    def job(job_id: str):  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify(svc)
        state = svc.queue.ui_result(job_id, tenant_id=caller.tenant.tenant_id, account_id=caller.account_id)
        if state is None:
            raise NotFoundError("This request is unknown or has expired. Please start it again.",
                                code="job_not_found")
        return jsonify(state)

    # ------------------------------------------------------------------ admin page
    @bp.get("/admin")
    def admin():  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify(svc)
        require_admin(svc, caller)
        return jsonify(admin_view(svc, caller.tenant.tenant_id, caller.tenant.base_url))

    @bp.put("/admin/settings")
    def admin_settings():  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify(svc)
        require_admin(svc, caller)
        changes = json_object()
        if changes.get("semantic_cache") is True and not semantic_available(svc):
            raise BadRequestError("The semantic cache is not available on this deployment, so it cannot be "
                                  "turned on for this site.")
        tenant_id = caller.tenant.tenant_id
        svc.site_settings.update(tenant_id, changes, allowed_models=svc.manager.allowed_models())
        log.info("site settings changed by an administrator: %s", ", ".join(sorted(changes)) or "nothing")
        return jsonify(settings_view(svc, tenant_id))

    return bp


# ---------------------------------------------------------------------- panel helpers
def accepted(svc: Services, caller: UiCaller, kind: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    """Enqueue a UI job for the caller and answer ``202 {"job_id"}``; 429 over a rate limit.

    Drafts and posts count against the same per-person and per-site limits as ``@ai`` comments.
    """
    verdict = svc.limiter.check(caller.tenant.tenant_id, caller.account_id)
    if not verdict.allowed:
        return too_many_requests(verdict)
    try:
        job_id = svc.queue.enqueue_ui(kind, payload, tenant_id=caller.tenant.tenant_id,
                                      account_id=caller.account_id)
    except Exception:
        svc.limiter.give_back(verdict)
        raise
    return jsonify(job_id=job_id), 202


def too_many_requests(verdict: Verdict) -> tuple[Any, int, dict[str, str]]:
    """``429`` with ``Retry-After`` and a plain-words message saying when to try again."""
    limit = verdict.refused_by.name if verdict.refused_by else "rate_limit"
    log.info("429 %s %s: over the %s rate limit for %d s", request.method, request.path, limit,
             verdict.retry_after)
    body = jsonify(error="rate_limited", message=verdict_message(verdict), retry_after=verdict.retry_after)
    return body, 429, {"Retry-After": str(verdict.retry_after)}


def issue_facts(svc: Services, caller: UiCaller, issue_key: str) -> tuple[dict[str, Any], int | None]:
    """The issue's key, summary and status, and its draft count; only the key when Jira is slow or down.

    Read as the user where the door gives a user token (Forge): when Jira does not show the user the
    issue the panel is refused (``issue_not_visible``), so nobody drafts from an issue they cannot see.
    """
    issue: dict[str, Any] = {"key": issue_key, "summary": None, "status": None}
    user_jira = caller.user_jira(svc)
    jira = user_jira if user_jira is not None else request_jira(svc, caller.tenant)
    try:
        try:
            found = jira.get_issue(issue_key, fields=["summary", "status"])
        except JiraError as exc:
            if user_jira is not None:
                refuse_for_user(exc)
            raise
        if user_jira is not None:
            remember_issue_visible(svc, caller, issue_key)
        fields = found.get("fields") or {}
        status = fields.get("status")
        issue["summary"] = fields.get("summary") if isinstance(fields.get("summary"), str) else None
        issue["status"] = status.get("name") if isinstance(status, dict) else None
        drafts = draft_count(jira.get_issue_property(issue_key, drafts_property_key(svc.settings.app_key)))
    except (JiraError, CircuitOpenError) as exc:
        log.info("panel: issue facts unavailable (%s); showing the key only", exc.code)
        return issue, None
    finally:
        jira.close()
    return issue, drafts


# ---------------------------------------------------------------------- admin helpers
def semantic_available(svc: Services) -> bool:
    """True when this deployment runs a semantic cache a site may turn on or off."""
    return svc.manager.semantic_cache is not None


def settings_view(svc: Services, tenant_id: str) -> dict[str, Any]:
    """The site's settings with the choices the form offers."""
    allowed = svc.manager.allowed_models()
    return {
        **svc.site_settings.get(tenant_id).to_dict(),
        "allowed_models": sorted(allowed) if allowed is not None else [],
        "default_model": svc.settings.openai_primary_model,
        "default_daily_limit_usd": svc.settings.max_daily_cost_usd,
        "default_alert_percentage": svc.settings.cost_alert_percentage,
        "tones": list(EMAIL_TONES),
        "semantic_available": semantic_available(svc),
    }


def health_view(svc: Services, tenant_id: str) -> dict[str, Any]:
    """Health as this site's administrator may see it: the LLM breaker and this site's Jira only."""
    status = svc.monitor.health_status()
    perf = svc.monitor.performance(24)
    breakers = []
    for name, label in (("llm", "AI service"), (f"jira:{tenant_id}", "Jira")):
        snap = svc.breakers.get(name).snapshot()
        breakers.append({**snap, "name": name.split(":", 1)[0], "label": label})
    # Other sites' breakers must not show (their names carry their ids): rebuild the breaker reasons.
    reasons = [r for r in status["reasons"] if not r.startswith("circuit ")]
    reasons += [f"the {b['label']} circuit is {b['state'].replace('_', '-')}"
                for b in breakers if b["state"] != "closed"]
    overall = status["status"] if status["status"] == "unhealthy" else ("degraded" if reasons else "healthy")
    stages = dict(perf.get("stages") or {})
    for name in ("pipeline", "llm"):
        if perf.get(name):
            stages[name] = perf[name]
    return {
        "status": overall,
        "reasons": reasons,
        "breakers": breakers,
        "error_rate": status["error_rate"],
        "queue_depth": status["queue"]["depth"],
        "latency": {
            stage: {"p50_ms": row.get("p50_ms"), "p95_ms": row.get("p95_ms"), "count": row.get("count")}
            for stage, row in sorted(stages.items())
        },
        "recent_errors": status["recent_errors"],
        "checked_at": status["checked_at"],
    }


def admin_view(svc: Services, tenant_id: str, base_url: str) -> dict[str, Any]:
    """Everything the admin page shows: cost, 30-day spend, suggestions, health and settings."""
    cost = svc.monitor.cost_analysis(tenant_id)
    site = svc.site_settings.get(tenant_id)
    # From this site's ledger only (the process-wide cache figures would mix in other sites).
    advice = suggestions(svc.ledger, tenant_id, settings=svc.settings, site=site, prices=svc.prices)
    return {
        "site": {"tenant_id": tenant_id, "base_url": base_url},
        "cost": cost,
        "daily": [{"day": d["day"], "cost_usd": round(d["cost_micros"] / 1_000_000, 6)}
                  for d in cost["daily"][-DAILY_DAYS:]],
        "suggestions": [s.to_dict() for s in advice],
        "health": health_view(svc, tenant_id),
        "settings": settings_view(svc, tenant_id),
    }
