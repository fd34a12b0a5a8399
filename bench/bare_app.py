"""The ceiling of the webhook benchmark: a bare Flask app that answers every POST with 204.

Served by the same gunicorn settings as the product::

    python -m gunicorn -c python:connect_app.gunicorn_conf --bind 127.0.0.1:PORT 'bench.bare_app:create_app()'

so the difference between it and our webhook endpoint is the work our door does (verify, parse,
claim, journal, enqueue), not the web server.
"""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    """A Flask app with one route, ``POST /<anything>``, answering 204 without reading the body."""
    app = Flask("bare_bench_app")

    @app.post("/<path:_path>")
    def accept(_path: str) -> tuple[str, int]:
        return "", 204

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app
