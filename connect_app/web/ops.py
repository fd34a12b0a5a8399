"""Operations routes: liveness and readiness."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

log = logging.getLogger(__name__)


def build_ops_blueprint() -> Blueprint:
    """``/healthz`` (the process is alive) and ``/readyz`` (its dependencies answer)."""
    bp = Blueprint("ops", __name__)

    @bp.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz():  # type: ignore[no-untyped-def]
        svc = current_app.extensions["jira_ai"]
        checks: dict[str, str] = {}
        for name, ping in (("storage", svc.stores.durable.ping), ("cache", svc.stores.cache.ping),
                           ("queue", svc.queue.ping)):
            try:
                ping()
                checks[name] = "ok"
            except Exception as exc:
                log.warning("readiness check %s failed: %s", name, type(exc).__name__)
                checks[name] = "failing"
        checks["llm"] = "configured" if svc.manager.available else "offline"
        ready = all(v != "failing" for v in checks.values())
        return jsonify(status="ready" if ready else "not_ready", checks=checks), 200 if ready else 503

    return bp
