"""Maps typed errors to HTTP responses, in one place, and counts each by its stable code.

Auth failures log their reason, not the token. Every error answered here is counted once in the app's
metrics (``current_app.extensions["jira_ai"].metrics``, when the services have them) as
``jira_ai_errors_total{code=...}``: the label is the error's stable code only (``AppError.code`` or
the code of an HTTP error, see :data:`HTTP_ERROR_CODES`), never a message, path or token. Counting
never raises and never replaces the response. Refusals the rate limiter answers itself (its 429
replies) are counted by the limiter, as ``rate_limited``.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    AppError,
    AuthError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
)

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal_error"
HTTP_ERROR_CODES: dict[int, str] = {
    400: BadRequestError.code,
    401: AuthError.code,
    403: ForbiddenError.code,
    404: NotFoundError.code,
    413: PayloadTooLargeError.code,
    429: RateLimitedError.code,
    500: INTERNAL_ERROR,
}
"""Our stable codes for HTTP errors raised by Flask/werkzeug (a body over MAX_CONTENT_LENGTH is a 413)."""
_STABLE_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def register_error_handlers(app: Flask) -> None:
    """Install handlers turning AppError and HTTP errors into JSON bodies, each error counted."""

    @app.errorhandler(AppError)
    def app_error(exc: AppError):  # type: ignore[no-untyped-def]
        code = stable_code(exc.code, fallback=type(exc).code)
        count_error(code)
        if isinstance(exc, AuthError):
            log.warning("401 %s %s: %s", request.method, request.path, exc.message)
            return jsonify(error=code, message="Authentication failed."), 401
        level = logging.ERROR if exc.http_status >= 500 else logging.INFO
        log.log(level, "%s %s %s: %s", exc.http_status, request.method, request.path, exc.message)
        return jsonify(error=code, message=exc.message), exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        code = http_error_code(exc)
        if status >= 400:
            count_error(code)
        if status == 413:
            log.info("413 %s %s: body too large", request.method, request.path)
        return jsonify(error=code, message=exc.description), status

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError):  # type: ignore[no-untyped-def]
        if not raised_by_json_decoder(exc):
            return unexpected(exc)
        count_error(BadRequestError.code)
        log.info("400 %s %s: the JSON body is nested too deeply", request.method, request.path)
        return jsonify(error=BadRequestError.code, message="the JSON body is nested too deeply"), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        count_error(INTERNAL_ERROR)
        log.exception("500 %s %s: unexpected error", request.method, request.path)
        return jsonify(error=INTERNAL_ERROR, message="Something went wrong on our side."), 500


def http_error_code(exc: HTTPException) -> str:
    """The stable code of an HTTP error: ours where one exists, else werkzeug's name in snake case."""
    status = exc.code or 500
    if status in HTTP_ERROR_CODES:
        return HTTP_ERROR_CODES[status]
    return stable_code((exc.name or "").lower().replace(" ", "_"), fallback=INTERNAL_ERROR)


def stable_code(code: object, *, fallback: str = INTERNAL_ERROR) -> str:
    """``code`` when it looks like a stable code (``snake_case``, at most 64 characters), else ``fallback``.

    Guards the metric label and the response body against a code built from data (a message, a token).
    """
    if isinstance(code, str) and _STABLE_CODE.fullmatch(code):
        return code
    return fallback if _STABLE_CODE.fullmatch(fallback) else INTERNAL_ERROR


def count_error(code: str) -> None:
    """Count one error by its stable code in the app's metrics, if it has any; never raises."""
    try:
        metrics = getattr(current_app.extensions.get("jira_ai"), "metrics", None)
        if metrics is not None:
            metrics.record_error(code)
    except Exception as exc:  # counting must never hide the error being answered
        log.warning("could not count error %s: %s", code, type(exc).__name__)


def raised_by_json_decoder(exc: BaseException) -> bool:
    """True when ``exc`` came out of the standard library's JSON decoder (a body nested too deeply).

    Reading a request body (``request.get_json``) lets a RecursionError through rather than a
    ValueError; every other RecursionError is a bug and stays a 500.
    """
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and last.replace("\\", "/").endswith("/json/decoder.py")
