"""The screens' pages, loaded by Jira into iframes: the issue panel and the admin page.

Jira loads each page with ``?jwt=`` hashed for the page URL (never ``context-qsh``); it is verified
before anything is rendered, and the admin page also asks Jira whether the user is an administrator.
A refused load gets a small HTML page in plain words instead of the screen. The pages hold no data:
the screens fetch it from ``/api/ui`` with context tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from ..errors import AppError, AuthError
from ..platform.connect.descriptor import PAGE_PATHS
from ..services import Services
from .errors import count_error, stable_code
from .ui_auth import UiCaller, require_admin, verify_page_load

log = logging.getLogger(__name__)

CONNECT_CDN = "https://connect-cdn.atl-paas.net"
CONNECT_ALL_JS = f"{CONNECT_CDN}/all.js"
PAGE_HEADERS = {
    # The page URL carries the JWT: never send it on as a referrer, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Scripts only from our own /static and Atlassian's CDN (all.js): no inline script, nothing else.
    "Content-Security-Policy": (
        f"default-src 'self' {CONNECT_CDN}; script-src 'self' {CONNECT_CDN}; "
        f"style-src 'self' 'unsafe-inline' {CONNECT_CDN}; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    ),
}
_ERROR_TITLES = {401: "This page could not be opened", 403: "You don't have access to this page"}
_ERROR_TITLES_BY_CODE = {"not_admin": "Only Jira administrators can open this page"}
_ERROR_TEXT = {
    401: "Jira did not confirm who you are, or the link has expired. Reload the page in Jira to try again.",
}


def services() -> Services:
    """The process's services, built once by ``create_app``."""
    return current_app.extensions["jira_ai"]


def page_context(svc: Services, caller: UiCaller) -> dict[str, Any]:
    """What the page templates may use (nothing secret: no token, no ids beyond the issue key)."""
    return {
        "app_name": svc.settings.app_name,
        "static_url": request.script_root + "/static",
        "api_base": request.script_root,
        "issue_key": caller.issue_key or "",
        "all_js": CONNECT_ALL_JS,
    }


def page(template: str, svc: Services, caller: UiCaller) -> Response:
    """Render a screen with the page headers."""
    return Response(render_template(template, **page_context(svc, caller)), 200,
                    headers=PAGE_HEADERS, mimetype="text/html")


def error_page(status: int, message: str, *, code: str = "") -> Response:
    """A refused page load (``templates/error.html``), in plain words, styled like the screens."""
    title = _ERROR_TITLES_BY_CODE.get(code) or _ERROR_TITLES.get(status, "Something went wrong")
    html = render_template("error.html", status=status, title=title, message=_ERROR_TEXT.get(status, message),
                           static_url=request.script_root + "/static")
    return Response(html, status, headers=PAGE_HEADERS, mimetype="text/html")


def build_pages_blueprint() -> Blueprint:
    """``GET /connect/pages/email-panel`` and ``GET /connect/pages/admin``."""
    bp = Blueprint("pages", __name__)

    @bp.get(PAGE_PATHS["email_panel"])
    def email_panel():  # type: ignore[no-untyped-def]
        svc = services()
        return page("email_panel.html", svc, verify_page_load(svc))

    @bp.get(PAGE_PATHS["admin"])
    def admin():  # type: ignore[no-untyped-def]
        svc = services()
        caller = verify_page_load(svc)
        require_admin(svc, caller)
        return page("admin.html", svc, caller)

    @bp.errorhandler(AppError)
    def refused(exc: AppError):  # type: ignore[no-untyped-def]
        count_error(stable_code(exc.code, fallback=type(exc).code))  # as every error answered (errors.py)
        if isinstance(exc, AuthError):
            log.warning("401 %s: %s", request.path, exc.message)
            return error_page(401, "")
        log.log(logging.ERROR if exc.http_status >= 500 else logging.INFO,
                "%s %s: %s", exc.http_status, request.path, exc.code)
        return error_page(exc.http_status, exc.message, code=exc.code)

    return bp
