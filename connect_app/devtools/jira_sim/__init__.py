"""A local Jira Cloud site (Connect and Forge modes) for tests, the demo and benchmarks. Never imported by the
product.

See :class:`JiraSimulator`; run one with ``python -m connect_app.devtools.jira_sim --port 8080``.
"""

from .connect import ConnectHost, Installation, InstallKeys
from .faults import FaultInjector
from .forge import ForgeHost, ForgeInstallation
from .server import JiraSimulator
from .state import DEFAULT_ADMIN_ID
from .webhooks import WebhookDispatcher

__all__ = ["DEFAULT_ADMIN_ID", "ConnectHost", "FaultInjector", "ForgeHost", "ForgeInstallation",
           "InstallKeys", "Installation", "JiraSimulator", "WebhookDispatcher"]
