"""A Jira simulator with the app installed and its pipeline, in one process, for pipeline tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from connect_app.app import create_app
from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import free_port
from connect_app.models import AiEvent
from connect_app.settings import Settings

DANA = "5b10ac8d82e05b22cc7d4ef5"  # may transition issues
SAM = "5b10a0effa615349cb016cd8"  # may not transition issues in SUP


@dataclass
class World:
    """The simulator, the app's services and the installed site's tenant id."""

    sim: Any
    services: Any
    tenant: str

    def ask(self, issue: str, text: str, *, author: str = DANA) -> AiEvent:
        """Write ``text`` as a comment by ``author`` and return the event the Connect door would make."""
        comment = self.sim.add_comment(issue, author, text)
        return AiEvent(tenant_id=self.tenant, door="connect", kind="comment", delivery_id=f"d-{comment['id']}",
                       issue_key=issue, project_key="SUP", comment_id=comment["id"],
                       text=text.removeprefix("@ai "), author_account_id=author, author_name="Dana")

    def replies(self, issue: str) -> list[dict[str, Any]]:
        """The app's replies on ``issue``, oldest first."""
        return [c for c in self.sim.comments(issue) if "jira-ai-reply" in c["properties"]]


@contextmanager
def pipeline_world(data_dir: Path) -> Iterator[World]:
    """Simulator + app (offline LLM) served on loopback, installed, with users Dana and Sam and project SUP."""
    sim = JiraSimulator().start()
    port = free_port()
    settings = Settings.from_env({
        "APP_BASE_URL": f"http://127.0.0.1:{port}", "DATA_DIR": str(data_dir),
        "CONNECT_INSTALL_KEYS_URL": sim.install_keys_url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "pipeline-test-secret-0123456789", "LLM_PROVIDER": "offline",
    }, env_file=None)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    services = app.extensions["jira_ai"]
    try:
        result = sim.install(settings.app_base_url)
        assert result["installed"], result
        sim.add_user(DANA, "Dana Whitfield")
        sim.add_user(SAM, "Sam Okafor")
        sim.add_project("SUP", "Support")
        sim.revoke(SAM, "TRANSITION_ISSUES", "SUP")
        yield World(sim, services, result["installation"]["client_key"])
    finally:
        server.shutdown()
        services.close()
        sim.stop()
