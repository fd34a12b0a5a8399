"""The Flask application factory: ``create_app(settings=None)``; gunicorn serves ``create_app()``."""

from __future__ import annotations

from flask import Flask

from .ops.logging import configure_logging
from .services import Services, build_services
from .settings import Settings
from .web.connect import build_connect_blueprint
from .web.errors import register_error_handlers
from .web.ops import build_ops_blueprint


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the web app: settings from the environment unless given, services built once, routes."""
    settings = settings or Settings.from_env()
    configure_logging(settings)
    app = Flask(__name__, template_folder=None, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.extensions["jira_ai"] = services or build_services(settings)
    register_error_handlers(app)
    app.register_blueprint(build_connect_blueprint())
    app.register_blueprint(build_ops_blueprint())
    return app
