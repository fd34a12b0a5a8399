"""Operations routes: liveness, readiness and the Prometheus scrape.

The services object (``current_app.extensions["jira_ai"]``) provides ``stores``, ``queue``,
``manager`` and, from issue 4 on, ``metrics`` (:class:`~connect_app.ops.metrics.Metrics`) and
``breakers`` (:class:`~connect_app.ops.breaker.BreakerRegistry`); missing ones are skipped.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..errors import AuthError, NotFoundError
from ..ops.breaker import CLOSED, HALF_OPEN, OPEN
from ..ops.prometheus import SharedStateCollector

log = logging.getLogger(__name__)

LLM_BREAKER = "llm"
JIRA_BREAKER_PREFIX = "jira:"


def build_ops_blueprint() -> Blueprint:
    """``/healthz`` (alive), ``/readyz`` (dependencies answer) and ``/metrics`` (Prometheus)."""
    bp = Blueprint("ops", __name__)

    @bp.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz():  # type: ignore[no-untyped-def]
        body, status = readiness(current_app.extensions["jira_ai"])
        return jsonify(body), status

    @bp.get("/metrics")
    def metrics():  # type: ignore[no-untyped-def]
        svc = current_app.extensions["jira_ai"]
        _check_scrape_token(svc)
        source = getattr(svc, "metrics", None)
        if source is None:
            raise NotFoundError("metrics are not enabled in this process")
        queue = getattr(svc, "queue", None)
        collector = SharedStateCollector(
            breakers=getattr(svc, "breakers", None), queue_depth=queue.depth if queue is not None else None
        )
        body, content_type = source.exposition([collector], request.headers.get("Accept", ""))
        return Response(body, status=200, content_type=content_type, headers={"Cache-Control": "no-store"})

    return bp


def readiness(svc: Any) -> tuple[dict[str, Any], int]:
    """The readiness report and its HTTP status.

    Storage, the cache store and the queue must answer (else 503, ``not_ready``). An open LLM
    breaker or open Jira breakers leave the process able to work (the offline provider answers;
    other sites are fine), so they make it ``degraded`` with 200. Jira breakers are reported as
    counts only: this route is public and must not list sites. ``workers`` counts the job workers
    alive (by heartbeat), so a deploy can wait for them too.
    """
    checks: dict[str, str] = {}
    stores = getattr(svc, "stores", None)
    queue = getattr(svc, "queue", None)
    for name, ping in (
        ("storage", getattr(getattr(stores, "durable", None), "ping", None)),
        ("cache", getattr(getattr(stores, "cache", None), "ping", None)),
        ("queue", getattr(queue, "ping", None)),
    ):
        if ping is None:
            continue
        try:
            checks[name] = "ok" if ping() is not False else "failing"
        except Exception as exc:
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = "failing"
    manager = getattr(svc, "manager", None)
    checks["llm"] = "configured" if manager is not None and manager.available else "offline"
    breakers = _breaker_report(getattr(svc, "breakers", None))
    if breakers.get("llm") in (OPEN, HALF_OPEN) and checks["llm"] == "configured":
        checks["llm"] = "circuit_" + breakers["llm"]
    if breakers.get("error"):
        checks["breakers"] = "failing"
    jira = breakers.get("jira", {})
    if any(v == "failing" for v in checks.values()):
        status = "not_ready"
    elif checks["llm"].startswith("circuit_") or jira.get(OPEN) or jira.get(HALF_OPEN):
        status = "degraded"
    else:
        status = "ready"
    body = {"status": status, "checks": checks, "breakers": breakers, "workers": _live_workers(queue)}
    return body, 503 if status == "not_ready" else 200


def _live_workers(queue: Any) -> int | None:
    """Job workers alive now (a count; ``None`` when unknown). Informational: the web process is
    ready without them, and jobs wait durably until one runs.
    """
    count = getattr(queue, "live_workers", None)
    if count is None:
        return None
    try:
        return int(count())
    except Exception as exc:
        log.warning("job worker count unavailable: %s", type(exc).__name__)
        return None


def _breaker_report(registry: Any) -> dict[str, Any]:
    if registry is None:
        return {}
    try:
        snapshots = registry.snapshots()
    except Exception as exc:
        log.warning("breaker states unavailable: %s", type(exc).__name__)
        return {"error": type(exc).__name__}
    report: dict[str, Any] = {"llm": CLOSED, "jira": {CLOSED: 0, OPEN: 0, HALF_OPEN: 0}}
    for snap in snapshots:
        if snap["name"] == LLM_BREAKER:
            report["llm"] = snap["state"]
        elif snap["name"].startswith(JIRA_BREAKER_PREFIX):
            report["jira"][snap["state"]] = report["jira"].get(snap["state"], 0) + 1
    return report


def _check_scrape_token(svc: Any) -> None:
    """When ``METRICS_TOKEN`` is configured, the scrape must send ``Authorization: Bearer <it>``."""
    token = getattr(getattr(svc, "settings", None), "metrics_token", None)
    if not token:
        return
    sent = request.headers.get("Authorization", "")
    scheme, _, value = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), str(token).encode()):
        raise AuthError("the metrics scrape needs the configured bearer token")
