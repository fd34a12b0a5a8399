"""Typed errors with a stable code each, mapped to HTTP in one place (``web/errors.py``).

Every error message says what went wrong and, where it can, what to fix. Messages never carry
secrets or tokens.
"""

from __future__ import annotations


class AppError(Exception):
    """Base class: ``code`` is stable (metrics, logs, API), ``http_status`` used by the web layer."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else self.code


class ConfigError(AppError):
    """The configuration is invalid."""

    code = "config_invalid"


class AuthError(AppError):
    """A request's token is missing or invalid. The message is the reason, for the log."""

    code = "auth_failed"
    http_status = 401


class ForbiddenError(AppError):
    """The caller is authenticated but not allowed to do this."""

    code = "forbidden"
    http_status = 403


class BadRequestError(AppError):
    """The request body or parameters are malformed."""

    code = "bad_request"
    http_status = 400


class PayloadTooLargeError(BadRequestError):
    """The request body exceeds the size limit."""

    code = "payload_too_large"
    http_status = 413


class NotFoundError(AppError):
    """The thing asked for does not exist."""

    code = "not_found"
    http_status = 404


class RateLimitedError(AppError):
    """Too many requests from this user or site."""

    code = "rate_limited"
    http_status = 429


class BudgetExceededError(AppError):
    """The site's daily LLM budget would be exceeded by this call."""

    code = "budget_exceeded"
    http_status = 402


class LLMError(AppError):
    """The language model could not answer (timeout, outage, refusal, malformed output)."""

    code = "llm_error"
    http_status = 502


class CircuitOpenError(AppError):
    """A dependency's circuit breaker is open: calls are short-circuited until it recovers."""

    code = "circuit_open"
    http_status = 503


class JiraError(AppError):
    """Jira answered with an error or could not be reached."""

    code = "jira_error"
    http_status = 502

    def __init__(self, message: str = "", *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class ValidationFailedError(AppError):
    """A generated reply failed the checks it must pass before it is posted."""

    code = "reply_invalid"
    http_status = 422


class StorageError(AppError):
    """The storage backend failed."""

    code = "storage_error"
    http_status = 503


class KeyServiceUnavailableError(AppError):
    """The server holding the public keys that sign incoming tokens could not be used; retry later."""

    code = "keys_unavailable"
    http_status = 503


class TokenExpiredError(JiraError):
    """A Forge site's system token has expired (or was never received); Jira cannot be called for it.

    A job waits for the next delivery or the hourly refresh to bring a fresh token instead of failing.
    It is a :class:`JiraError` so callers that tolerate an unreachable Jira tolerate this too.
    """

    code = "token_expired"
    http_status = 503
