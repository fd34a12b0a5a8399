"""The simulator's Flask app: fault injection, authentication, scope checks and the call log around
the REST routes, plus the install-key endpoint apps fetch to verify signed installs. The REST routes are
served twice: at the site (``/rest/api/3``, Connect JWTs) and behind the API gateway prefix Forge apps use
(``/ex/jira/<cloudId>/rest/api/3``, bearer tokens); ``/forge/jwks.json`` publishes the FIT signing keys.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from ...errors import AuthError
from .auth import authenticate
from .connect import ConnectHost
from .faults import Call, CallLog, FaultInjector
from .rest import RestError, build_rest_blueprint, json_response, required_scope
from .site import Site

if TYPE_CHECKING:
    from .forge import ForgeHost

GATEWAY_PATH = re.compile(r"^/ex/jira/([^/]+)(/rest/.*)$")
FAULT_MESSAGES = {
    429: "Rate limit exceeded.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable: the site is temporarily unable to handle the request.",
    504: "Gateway timeout.",
}


def build_app(site: Site, connect: ConnectHost, faults: FaultInjector, calls: CallLog, *,
              enforce_scopes: bool = True, leeway: float = 60, forge: ForgeHost | None = None) -> Flask:
    """The WSGI app of one simulated site."""
    app = Flask("jira_sim")
    rest = build_rest_blueprint(site)
    app.register_blueprint(rest)
    app.register_blueprint(rest, name="jira_sim_rest_gateway", url_prefix="/ex/jira/<cloud_id>/rest/api/3")

    @app.url_value_preprocessor
    def drop_cloud_id(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values:
            values.pop("cloud_id", None)  # checked in before(); the REST views do not take it

    @app.get("/forge/jwks.json")
    def forge_jwks() -> Response:
        if forge is None:
            return Response("Not Found", status=404, mimetype="text/plain")
        return json_response(forge.keys.jwks())

    @app.get("/connect-keys/<kid>")
    def connect_key(kid: str) -> Response:
        pem = connect.keys.public_pem(kid)
        if pem is None:
            return Response("Not Found", status=404, mimetype="text/plain")
        return Response(pem, status=200, mimetype="text/plain")

    @app.get("/status")
    def status() -> Response:
        return json_response({"state": "RUNNING"})

    @app.before_request
    def before() -> Response | None:
        g.started = time.perf_counter()
        g.principal = None
        g.note = ""
        fault = faults.take(request.method, request.path)
        if fault is not None:
            g.note = f"fault {fault.pattern.pattern}"
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                return _fault_response(fault.status, fault.retry_after)
        gateway = GATEWAY_PATH.match(request.path)
        if not (request.path.startswith("/rest/") or gateway):
            return None
        if gateway and (forge is None or gateway.group(1) != forge.cloud_id):
            g.note = "unknown cloudId"
            return RestError(404, [f"No site with cloudId {gateway.group(1)}."]).response()
        try:
            g.principal = authenticate(connect, method=request.method, url=_raw_url(site.base),
                                       site_base=site.base, headers=request.headers, query=request.args,
                                       leeway=leeway, forge=forge, gateway=gateway is not None)
        except AuthError as exc:
            g.note = exc.message
            return RestError(401, ["Client must be authenticated to access this resource."]).response()
        scope = required_scope(request.method, gateway.group(2) if gateway else request.path)
        if enforce_scopes and scope not in g.principal.scopes:
            g.note = f"missing scope {scope}"
            message = f"The app does not have the {scope} scope this request needs; add it to the descriptor."
            return RestError(403, [message]).response()
        return None

    @app.errorhandler(RestError)
    def rest_error(exc: RestError) -> Response:
        g.note = exc.note or g.get("note", "")
        return exc.response()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return RestError(404, [f"null for uri: {request.base_url}"]).response()
        return RestError(exc.code or 500, [exc.description or exc.name]).response()

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        app.logger.exception("jira simulator bug while serving %s %s", request.method, request.path)
        g.note = f"simulator error {type(exc).__name__}"
        return RestError(500, ["Internal server error."]).response()

    @app.after_request
    def after(response: Response) -> Response:
        principal = g.get("principal")
        calls.add(Call(
            method=request.method, path=request.path, query=request.query_string.decode("utf-8", "replace"),
            status=response.status_code, body=_request_body(), latency_ms=_elapsed_ms(g.get("started")),
            account_id=principal.account_id if principal else None, note=g.get("note", ""),
        ))
        return response

    return app


def _raw_url(site_base: str) -> str:
    """The request URL with path and query exactly as sent (qsh is computed over these)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        query = request.query_string.decode("latin-1")
        raw = request.path + (f"?{query}" if query else "")
    return site_base.rstrip("/") + raw


def _fault_response(status: int, retry_after: float | None) -> Response:
    response = RestError(status, [FAULT_MESSAGES.get(status, "Injected failure.")]).response()
    if retry_after is not None:
        seconds = float(retry_after)
        response.headers["Retry-After"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
    if status == 429:
        response.headers["X-RateLimit-Remaining"] = "0"
        response.headers["RateLimit-Reason"] = "jira-quota-tenant-based"
    return response


def _request_body() -> Any:
    if not request.data:
        return None
    try:
        return json.loads(request.data)
    except ValueError:
        return request.data.decode("utf-8", "replace")[:2000]


def _elapsed_ms(started: float | None) -> float:
    return round((time.perf_counter() - started) * 1000, 3) if started else 0.0
