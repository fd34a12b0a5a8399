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
PAGE_PATHS = {
    "email_panel": "/connect/pages/email-panel",
    "admin": "/connect/pages/admin",
}
GLANCE_MODULE_KEY = "ai-email-glance"
ISSUE_CONTEXT_MODULE_KEY = "ai-email-context"
PANEL_MODULE_KEYS = (GLANCE_MODULE_KEY, ISSUE_CONTEXT_MODULE_KEY)
"""The issue modules whose status lozenge shows the number of drafts (see :func:`glance_status_key`)."""


def glance_status_key(app_key: str, module_key: str) -> str:
    """The issue property Jira reads a glance's (or issue context's) status lozenge from."""
    return f"com.atlassian.jira.issue:{app_key}:{module_key}:status"


def _panel_module(key: str) -> dict[str, Any]:
    """An issue glance or issue context entry opening the email panel (same shape for both)."""
    return {
        "key": key,
        "name": {"value": "AI email draft"},
        "icon": {"width": 24, "height": 24, "url": "/static/img/glance.svg"},
        "content": {"type": "label", "label": {"value": "Draft an email"}},
        "target": {"type": "web_panel", "url": PAGE_PATHS["email_panel"]},
        "jiraNativeAppsEnabled": False,
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
            "jiraIssueGlances": [_panel_module(GLANCE_MODULE_KEY)],
            "jiraIssueContexts": [_panel_module(ISSUE_CONTEXT_MODULE_KEY)],
            "configurePage": {
                "key": "ai-configure",
                "name": {"value": "AI assistant: cost, health and settings"},
                "url": PAGE_PATHS["admin"],
                "conditions": [{"condition": "user_is_admin"}],
            },
            "adminPages": [
                {
                    "key": "ai-admin",
                    "name": {"value": "AI assistant"},
                    "url": PAGE_PATHS["admin"],
                    "icon": {"width": 16, "height": 16, "url": "/static/img/app-icon.svg"},
                    "conditions": [{"condition": "user_is_admin"}],
                }
            ],
        },
    }
