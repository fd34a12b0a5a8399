"""Maps typed errors to HTTP responses, in one place. Auth failures log their reason, not the token."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import AppError, AuthError

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    """Install handlers turning AppError and HTTP errors into JSON bodies."""

    @app.errorhandler(AppError)
    def app_error(exc: AppError):  # type: ignore[no-untyped-def]
        if isinstance(exc, AuthError):
            log.warning("401 %s %s: %s", request.method, request.path, exc.message)
            return jsonify(error=exc.code, message="Authentication failed."), 401
        level = logging.ERROR if exc.http_status >= 500 else logging.INFO
        log.log(level, "%s %s %s: %s", exc.http_status, request.method, request.path, exc.message)
        return jsonify(error=exc.code, message=exc.message), exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = exc.code or 500
        if code == 413:
            log.info("413 %s %s: body too large", request.method, request.path)
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), code

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError):  # type: ignore[no-untyped-def]
        if not raised_by_json_decoder(exc):
            return unexpected(exc)
        log.info("400 %s %s: the JSON body is nested too deeply", request.method, request.path)
        return jsonify(error="bad_request", message="the JSON body is nested too deeply"), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("500 %s %s: unexpected error", request.method, request.path)
        return jsonify(error="internal_error", message="Something went wrong on our side."), 500


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
