"""Browser fixtures: the real stack (gunicorn + worker + Jira simulator + fake LLM), headless Chromium,
and a ``screen`` helper that opens a page the way Jira does and saves a screenshot when the test ends."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_harness import ALL_JS, CHROMIUM, DANA, JiraTokens, ap_stub

from connect_app.devtools.stack import LocalStack
from tests.stacks import running

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LOOPBACK = re.compile(r"^https?://127\.0\.0\.1(:\d+)?/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip browser tests, with the reason, when Debian's Chromium is not installed."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # One person drafts, regenerates and posts about eight times a minute here: above the default rate limits.
    s = LocalStack(llm="fake", fake_llm_latency=0.25,
                   env={"RATE_LIMIT_USER_PER_MINUTE": "1000", "RATE_LIMIT_USER_PER_HOUR": "1000"})
    with running(s, users={DANA: "Dana Whitfield"}, projects={"SUP": "Customer Support"}):
        yield s


@pytest.fixture(scope="module")
def tokens(stack: LocalStack) -> JiraTokens:
    return JiraTokens(stack.sim.installation(), stack.app_url, stack.sim)


@pytest.fixture
def admin_id(stack: LocalStack) -> str:
    return stack.sim.admin_account_id


@dataclass
class Screen:
    """One browser context showing one app page, as Jira would show it in an iframe."""

    browser: Any
    tokens: JiraTokens
    viewport: dict[str, int]
    page: Any = None
    context: Any = None
    response: Any = None
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def open(self, path: str, account_id: str, *, issue_key: str | None = None, page_ttl: int = 180,
             page_issued: int | None = None, context_token: str | None = None, clipboard: bool = False,
             init_script: str | None = None) -> Any:
        """Open ``path`` with a page JWT for ``account_id``; all.js is our stub handing out a context token."""
        self.close()
        self.context = self.browser.new_context(viewport=self.viewport, locale="en-GB")
        if clipboard:
            self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        token = context_token or self.tokens.context_token(account_id, issue_key=issue_key)
        stub = ap_stub(token, issue_key)
        self.context.route(ALL_JS, lambda route: route.fulfill(
            status=200, body=stub, content_type="application/javascript"))
        self.context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), self._outside)
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        url = self.tokens.page_url(path, account_id, issue_key=issue_key, ttl=page_ttl, issued=page_issued)
        self.response = self.page.goto(url)
        return self.page

    def _outside(self, route: Any) -> None:
        if route.request.url == ALL_JS:  # routes registered later run first: hand it to the stub
            route.fallback()
            return
        self.outside.append(route.request.url)
        route.abort()

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None


def _screen(request: pytest.FixtureRequest, browser: Any, tokens: JiraTokens, viewport: dict[str, int]
            ) -> Iterator[Screen]:
    screen = Screen(browser, tokens, viewport)
    try:
        yield screen
        if screen.page is not None:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            screen.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        assert not screen.errors, f"uncaught errors in the page: {screen.errors}"
        assert not screen.outside, f"the page tried to load from outside the app: {screen.outside}"
    finally:
        screen.close()


@pytest.fixture
def panel_screen(request: pytest.FixtureRequest, browser: Any, tokens: JiraTokens) -> Iterator[Screen]:
    """A screen the width of Jira's issue sidebar."""
    yield from _screen(request, browser, tokens, {"width": 420, "height": 900})


@pytest.fixture
def admin_screen(request: pytest.FixtureRequest, browser: Any, tokens: JiraTokens) -> Iterator[Screen]:
    """A screen the size of Jira's admin page area."""
    yield from _screen(request, browser, tokens, {"width": 1200, "height": 900})
