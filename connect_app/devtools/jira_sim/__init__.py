"""A local Jira Cloud site (Connect mode) for tests, the demo and benchmarks. Never imported by the product.

See :class:`JiraSimulator`; run one with ``python -m connect_app.devtools.jira_sim --port 8080``.
"""

from .connect import ConnectHost, Installation, InstallKeys
from .faults import FaultInjector
from .server import JiraSimulator
from .state import DEFAULT_ADMIN_ID
from .webhooks import WebhookDispatcher

__all__ = ["DEFAULT_ADMIN_ID", "ConnectHost", "FaultInjector", "InstallKeys", "Installation", "JiraSimulator",
           "WebhookDispatcher"]
