"""Logging set-up with a redaction filter: tokens and secrets never reach a log line."""

from __future__ import annotations

import logging
import re

from ..settings import Settings

_PATTERNS = [
    (re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"), "[jwt-redacted]"),
    (
        re.compile(
            r"(?i)\b(authorization|x-forge-oauth-system|x-forge-oauth-user|api-key)\b\s*[:=]\s*\S+(\s+\S+)?"
        ),
        r"\1: [redacted]",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{10,}"), "sk-[redacted]"),
    (
        re.compile(
            r"(?i)(shared_?secret|sharedSecret|secret_key|password|system_?token)(['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"
        ),
        r"\1\2[redacted]",
    ),
    (re.compile(r"([?&]jwt=)[^&\s]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    """``text`` with anything that looks like a token, key or secret masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (after %-formatting) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(settings: Settings) -> None:
    """Configure the root logger once per process: level, format and the redaction filter."""
    root = logging.getLogger()
    level = (
        logging.DEBUG if settings.debug_mode else getattr(logging, settings.log_level.upper(), logging.INFO)
    )
    if not any(getattr(h, "_jira_ai", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler._jira_ai = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    root.setLevel(level)
    # Third-party clients log request/response bodies at DEBUG; keep them quiet.
    for noisy in ("atlassian", "urllib3", "httpx", "httpx2", "openai", "huey", "werkzeug"):
        logging.getLogger(noisy).setLevel(
            max(level, logging.INFO if noisy in ("huey", "werkzeug") else logging.WARNING)
        )
