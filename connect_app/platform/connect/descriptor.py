"""The Connect app descriptor (``atlassian-connect.json``), rendered for the configured base URL.

The committed ``atlassian-connect.json`` at the top of the repository is this function's output for
the default settings; a test keeps the two in step and validates both against Atlassian's schema.
"""

from __future__ import annotations

from typing import Any

from ...settings import Settings

LIFECYCLE_PATHS = {
    "installed": "/connect/lifecycle/installed",
    "uninstalled": "/connect/lifecycle/uninstalled",
    "enabled": "/connect/lifecycle/enabled",
    "disabled": "/connect/lifecycle/disabled",
}
WEBHOOK_PATHS = {
    "comment_created": "/connect/webhooks/comment-created",
    "jira:issue_updated": "/connect/webhooks/issue-updated",
}


def render_descriptor(settings: Settings) -> dict[str, Any]:
    """The descriptor Jira reads when the app is installed (or its URL is polled for updates)."""
    return {
        "key": settings.app_key,
        "name": settings.app_name,
        "description": "An AI assistant in your issues: write '@ai' in a comment to get summaries, drafted "
                       "emails, status updates, or to mark work done. Cost-capped per site.",
        "vendor": {"name": settings.vendor_name, "url": settings.vendor_url},
        "baseUrl": settings.app_base_url.rstrip("/"),
        "links": {"self": settings.url("/atlassian-connect.json"), "homepage": settings.vendor_url},
        "authentication": {"type": "jwt"},
        "apiVersion": 1,
        "apiMigrations": {"gdpr": True, "signed-install": True, "context-qsh": True},
        "enableLicensing": False,
        "lifecycle": dict(LIFECYCLE_PATHS),
        "scopes": ["READ", "WRITE"],
        "modules": {
            "webhooks": [
                {"event": event, "url": path, "excludeBody": False}
                for event, path in WEBHOOK_PATHS.items()
            ],
        },
    }
