"""The Flask application factory: ``create_app(settings=None)``; gunicorn serves ``create_app()``."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from .ops.logging import configure_logging
from .services import Services, build_services
from .settings import Settings
from .web.connect import build_connect_blueprint
from .web.errors import register_error_handlers
from .web.forge import build_forge_blueprint
from .web.ops import build_ops_blueprint
from .web.pages import build_pages_blueprint
from .web.ui_api import build_ui_api_blueprint

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the web app: settings from the environment unless given, services built once, routes.

    The screens' templates come from the top-level ``templates/`` folder and their files from
    ``static/``, served at ``/static``.
    """
    settings = settings or Settings.from_env()
    configure_logging(settings)
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR),
                static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.extensions["jira_ai"] = services or build_services(settings)
    register_error_handlers(app)
    app.register_blueprint(build_connect_blueprint())
    app.register_blueprint(build_ops_blueprint())
    app.register_blueprint(build_forge_blueprint())
    app.register_blueprint(build_ui_api_blueprint())
    app.register_blueprint(build_pages_blueprint())
    return app
