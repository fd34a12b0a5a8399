"""Jira AI Assistant: an AI assistant for Jira Cloud, behind Connect and Forge Remote doors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from .settings import Settings


def create_app(settings: Settings | None = None, **kwargs: Any) -> Flask:
    """The Flask application factory (imported lazily so importing the package stays cheap)."""
    from .app import create_app as factory

    return factory(settings, **kwargs)


__all__ = ["__version__", "create_app"]
