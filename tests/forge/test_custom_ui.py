"""The built Custom UI resources in headless Chromium, with a stand-in for Forge's bridge.

Inside Jira, Forge serves a resource folder and injects the bridge (``globalThis.__bridge``) the
``@forge/bridge`` package talks to. Here the folder is served from loopback and the bridge is a small
script that records every call and answers ``invoke`` with the envelope Forge returns
(``{status, headers, body}``), so the real bundle (transport-forge.js + @forge/bridge + the screen
scripts shared with Connect) is what runs.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.forge.conftest import BUILT, ForgeTools

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ISSUE_KEY = "SUP-7"
CONTEXT = {"cloudId": "c0ffee00-0000-4000-8000-000000000001", "moduleKey": "ai-email-panel",
           "extension": {"type": "jira:issueContext", "issue": {"key": ISSUE_KEY, "id": "10007"},
                         "project": {"key": "SUP", "id": "10000"}}}
PANEL = {"issue": {"key": ISSUE_KEY, "summary": "Exports fail for large projects", "status": "In Progress"},
         "defaults": {"tone": "friendly"}, "tones": ["formal", "friendly", "concise", "apologetic"],
         "recipients": ["customer", "stakeholder", "team", "vendor", "other"],
         "purposes": ["status_update", "delay", "resolution", "request_info", "other"], "drafts": 0,
         "budget": {"exhausted": False, "left_usd": 4.5, "limit_usd": 5.0}}
DRAFT = {"subject": "Update on the export problem", "body": "Hello,\n\nWe found the cause.", "markdown": "",
         "offline": False, "note": None, "budget_exhausted": False, "cached": False, "cost_usd": 0.0012,
         "drafts": 1}

BRIDGE = """
(() => {
  const answers = %(answers)s;
  const context = %(context)s;
  window.__forgeCalls = [];
  globalThis.__bridge = {
    callBridge: async (name, payload) => {
      window.__forgeCalls.push({ name, payload: payload === undefined ? null : JSON.parse(JSON.stringify(payload)) });
      if (name === "getContext") return context;
      if (name !== "invoke") return undefined;
      const answer = answers[payload.method + " " + payload.path]
        || { status: 404, body: { error: "not_found", message: "The test has no answer for this call." } };
      const envelope = { status: answer.status, headers: { "content-type": ["application/json"] }, body: answer.body };
      return answer.status < 300 ? { success: true, payload: envelope } : { success: false, error: envelope };
    },
  };
})();
"""


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the resource folders without logging every request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def resources(forge_tools: ForgeTools) -> Iterator[str]:
    """The built resources served from loopback, as Forge serves a Custom UI resource folder."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(BUILT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Frame:
    """One resource page in its own browser context, with the bridge stand-in (unless told otherwise)."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context: Any = None

    def open(self, resource: str, answers: dict[str, dict[str, Any]] | None, viewport: dict[str, int]) -> Any:
        self.context = self.browser.new_context(viewport=viewport, locale="en-GB")
        self.context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), self._outside)
        if answers is not None:
            self.context.add_init_script(BRIDGE % {"answers": json.dumps(answers), "context": json.dumps(CONTEXT)})
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.goto(f"{self.base}/{resource}/index.html")
        return page

    def _outside(self, route: Any) -> None:
        self.outside.append(route.request.url)
        route.abort()

    def invocations(self, page: Any) -> list[dict[str, Any]]:
        """What the page asked the bridge to invoke, in order."""
        return [c["payload"] for c in page.evaluate("window.__forgeCalls") if c["name"] == "invoke"]

    def close(self) -> None:
        if self.context is not None:
            self.context.close()


@pytest.fixture
def frame(browser: Any, resources: str) -> Iterator[Frame]:
    opened = Frame(browser, resources)
    try:
        yield opened
        assert not opened.errors, f"uncaught errors in the page: {opened.errors}"
        assert not opened.outside, f"the page tried to load from outside its resource folder: {opened.outside}"
    finally:
        opened.close()


def test_the_panel_drafts_an_email_through_invoke_remote(frame: Frame) -> None:
    page = frame.open("email-panel", {
        "GET /forge/ui/panel": {"status": 200, "body": PANEL},
        "POST /forge/ui/drafts": {"status": 202, "body": {"job_id": "job-1"}},
        "GET /forge/ui/jobs/job-1": {"status": 200, "body": {"status": "done", "result": DRAFT}},
    }, {"width": 420, "height": 900})
    page.locator("#ep-form").wait_for(state="visible")
    assert page.locator("#ep-issue-key").text_content() == ISSUE_KEY
    page.select_option("#ep-recipient", "customer")
    page.select_option("#ep-purpose", "delay")
    page.fill("#ep-notes", "Mention the fix ships on Friday.")
    page.click("#ep-draft")
    page.locator("#ep-result").wait_for(state="visible")
    assert page.input_value("#ep-subject") == DRAFT["subject"]

    calls = frame.invocations(page)
    assert [(c["method"], c["path"]) for c in calls] == [
        ("GET", "/forge/ui/panel"), ("POST", "/forge/ui/drafts"), ("GET", "/forge/ui/jobs/job-1")]
    assert all(c["invokeType"] == "ui-remote-fetch" for c in calls)  # invokeRemote, not invoke
    assert "body" not in calls[0]
    assert calls[1]["body"] == {"recipient": "customer", "recipient_text": "", "purpose": "delay",
                                "purpose_text": "", "tone": "friendly", "notes": "Mention the fix ships on Friday."}
    assert calls[1]["headers"]["Content-Type"] == "application/json"
    # The transport's other half: the issue from Forge's view context.
    assert page.evaluate("window.JiraAITransport.context()") == {"issueKey": ISSUE_KEY}


def test_an_expired_invocation_token_asks_for_a_reload(frame: Frame) -> None:
    page = frame.open("email-panel", {"GET /forge/ui/panel": {"status": 401, "body": {"error": "invalid_token"}}},
                      {"width": 420, "height": 900})
    page.locator("#ep-error").wait_for(state="visible")
    assert "Reload the page" in page.locator("#ep-error-text").text_content()
    assert page.locator("#ep-form").is_hidden()


def test_the_admin_page_shows_the_backend_refusal(frame: Frame) -> None:
    message = "Only Jira administrators can see this page."
    page = frame.open("admin", {"GET /forge/ui/admin": {"status": 403, "body": {"error": "forbidden",
                                                                                 "message": message}}},
                      {"width": 1200, "height": 900})
    page.locator("#ad-error").wait_for(state="visible")
    assert page.locator("#ad-error-text").text_content() == message
    assert [(c["method"], c["path"]) for c in frame.invocations(page)] == [("GET", "/forge/ui/admin")]


def test_outside_jira_the_page_says_so(frame: Frame) -> None:
    page = frame.open("email-panel", None, {"width": 420, "height": 900})
    page.locator("#ep-error").wait_for(state="visible")
    assert "only works inside Jira" in page.locator("#ep-error-text").text_content()
