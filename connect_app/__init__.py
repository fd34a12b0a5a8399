"""Jira AI Assistant: an AI assistant for Jira Cloud, behind Connect and Forge Remote doors.

``create_app`` is the Flask factory; ``JiraAIAssistant`` and the functions ``process_message``,
``get_health``, ``get_metrics`` and ``get_costs`` are the engine's public API. Everything is imported
lazily, so importing the package builds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from .assistant import JiraAIAssistant, get_costs, get_health, get_metrics, process_message
    from .settings import Settings

_FACADE = {"JiraAIAssistant", "process_message", "get_health", "get_metrics", "get_costs"}


def create_app(settings: Settings | None = None, **kwargs: Any) -> Flask:
    """The Flask application factory (``gunicorn 'connect_app:create_app()'``)."""
    from .app import create_app as factory

    return factory(settings, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _FACADE:
        from . import assistant

        return getattr(assistant, name)
    raise AttributeError(f"module 'connect_app' has no attribute {name!r}")


__all__ = ["JiraAIAssistant", "__version__", "create_app", "get_costs", "get_health", "get_metrics",
           "process_message"]
