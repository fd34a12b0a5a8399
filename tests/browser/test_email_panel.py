"""The "AI email draft" issue panel in headless Chromium against the real stack: what a person sees."""

from __future__ import annotations

import re
import time

import pytest
import requests
from browser_harness import DANA, PANEL_PATH, accessibility_problems
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DRAFT_TIMEOUT = 20_000


def new_issue(stack, summary="Checkout times out for EU customers"):
    return stack.sim.add_issue(
        "SUP", summary, status="In Progress", assignee=DANA, reporter=DANA,
        description_text="Customers on the EU cluster see a timeout on the payment step since Friday.")["key"]


def open_panel(panel_screen, issue, account=DANA, **kw):
    page = panel_screen.open(PANEL_PATH, account, issue_key=issue, **kw)
    expect(page.locator("#ep-form")).to_be_visible()
    return page


def draft(page):
    page.get_by_role("button", name="Draft email").click()
    expect(page.locator("#ep-subject")).not_to_have_value("", timeout=DRAFT_TIMEOUT)


def set_daily_limit(stack, tokens, admin_id, value):
    """Change the site's daily limit through the admin API, as the admin page does."""
    token = tokens.context_token(admin_id)
    res = requests.put(stack.app_url + "/api/ui/admin/settings", json={"daily_limit_usd": value}, timeout=10,
                       headers={"Authorization": f"JWT {token}"})
    assert res.status_code == 200, res.text


def test_drafting_shows_a_loading_state_then_the_subject_and_body(stack, panel_screen):
    issue = new_issue(stack)
    page = open_panel(panel_screen, issue)
    expect(page.locator("#ep-issue-key")).to_have_text(issue)
    expect(page.locator("#ep-issue-summary")).to_contain_text("Checkout times out for EU customers")
    expect(page.locator("#ep-drafts")).to_have_text("0 drafts")
    expect(page.get_by_label("Tone", exact=True)).to_have_value("formal")  # the site default

    page.get_by_label("Who is it for?", exact=True).select_option("customer")
    page.get_by_label("Purpose", exact=True).select_option("delay")
    page.get_by_label("Tone", exact=True).select_option("apologetic")
    page.get_by_label("Notes (optional)", exact=True).fill("The fix ships on Thursday.")
    expect(page.locator("#ep-notes-count")).to_have_text("26 / 2,000")
    button = page.locator("#ep-draft")
    button.click()
    # While the worker drafts: a disabled, busy button with a spinner, and words for screen readers.
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button.locator(".ak-spinner")).to_be_visible()
    expect(page.locator("#ep-progress")).to_have_text("Drafting your email…")

    expect(page.locator("#ep-result")).to_be_visible(timeout=DRAFT_TIMEOUT)
    expect(button).to_be_enabled()
    expect(page.locator("#ep-progress")).to_have_text("")
    expect(page.locator("#ep-announce")).to_have_text("Your draft is ready.")  # for screen readers
    subject = page.get_by_label("Subject", exact=True).input_value()
    body = page.get_by_label("Body", exact=True).input_value()
    assert subject.strip() and issue in subject + body  # grounded in this issue (the fake quotes its key)
    assert len(body.splitlines()) > 1
    expect(page.locator("#ep-offline")).to_be_hidden()
    expect(page.locator("#ep-drafts")).to_have_text("1 draft")
    expect(page.locator("#ep-result-title")).to_be_focused()  # keyboard users land on the result
    assert accessibility_problems(page) == []

    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator("#ep-regenerate")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#ep-drafts")).to_have_text("2 drafts", timeout=DRAFT_TIMEOUT)
    expect(page.get_by_label("Subject", exact=True)).not_to_have_value("")
    # The glance shows the count too, through the glance status issue property.
    with stack.sim.state.lock:
        properties = dict(stack.sim.site.issue(issue).properties)
    glance = [v for k, v in properties.items() if k.endswith(":ai-email-glance:status")]
    assert glance == [{"type": "lozenge", "value": {"label": "2 drafts", "type": "default"}}]


def test_someone_else_needs_words_and_the_form_is_keyboard_usable(stack, panel_screen):
    issue = new_issue(stack, "Invoice export is missing the VAT column")
    page = open_panel(panel_screen, issue)
    page.get_by_label("Who is it for?", exact=True).focus()
    page.keyboard.press("End")  # selects the last option: someone else
    expect(page.get_by_label("Who is it for?", exact=True)).to_have_value("other")
    expect(page.get_by_label("Describe who it is for", exact=True)).to_be_visible()

    page.get_by_label("Describe who it is for", exact=True).focus()
    page.keyboard.press("Enter")  # Enter submits the form
    error = page.locator("#ep-recipient-text-error")
    expect(error).to_have_text("Say who the email is for.")
    expect(page.get_by_label("Describe who it is for", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Describe who it is for", exact=True)).to_be_focused()
    expect(page.locator("#ep-result")).to_be_hidden()

    page.keyboard.type("the finance team at Globex")
    focus_order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focus_order.append(page.evaluate("document.activeElement.id"))
    assert focus_order == ["ep-purpose", "ep-tone", "ep-notes", "ep-draft"]
    page.get_by_label("Describe who it is for", exact=True).press("Enter")
    expect(page.locator("#ep-result")).to_be_visible(timeout=DRAFT_TIMEOUT)
    expect(error).to_be_hidden()

    # Tab order after the result: subject's copy button, subject, body's copy button, body, post, regenerate.
    page.get_by_label("Subject", exact=True).focus()
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order == ["ep-copy-body", "ep-body", "ep-post", "ep-regenerate"]


def test_copy_buttons_put_subject_and_body_on_the_clipboard(stack, panel_screen):
    issue = new_issue(stack, "Password reset emails arrive late")
    page = open_panel(panel_screen, issue, clipboard=True)
    draft(page)
    subject = page.get_by_label("Subject", exact=True).input_value()
    page.get_by_role("button", name="Copy subject").click()
    expect(page.locator("#ep-copy-subject")).to_have_text("Copied")
    expect(page.locator("#ep-announce")).to_have_text("Subject copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == subject

    page.get_by_label("Body", exact=True).fill(page.get_by_label("Body", exact=True).input_value() + "\n\nP.S. Edited by hand.")
    page.get_by_role("button", name="Copy body").click()
    expect(page.locator("#ep-copy-body")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.get_by_label("Body", exact=True).input_value()
    assert page.evaluate("navigator.clipboard.readText()").endswith("P.S. Edited by hand.")


NO_CLIPBOARD_API = """(() => {
  const real = Object.getOwnPropertyDescriptor(Navigator.prototype, 'clipboard');
  Object.defineProperty(Navigator.prototype, 'clipboard', {configurable: true, get: () => undefined});
  window.__restoreClipboardApi = () => Object.defineProperty(Navigator.prototype, 'clipboard', real);
})();"""


def test_copy_works_without_the_clipboard_api(stack, panel_screen):
    """Jira's iframes may not allow the Clipboard API: the textarea fallback copies all the same."""
    issue = new_issue(stack, "Search is slow for large projects")
    page = open_panel(panel_screen, issue, clipboard=True, init_script=NO_CLIPBOARD_API)
    draft(page)
    assert page.evaluate("navigator.clipboard === undefined")
    page.get_by_role("button", name="Copy body").click()
    expect(page.locator("#ep-copy-body")).to_have_text("Copied")
    expect(page.locator("#ep-copy-body")).to_be_focused()  # focus goes back where it was
    copied = page.evaluate("window.__restoreClipboardApi(), navigator.clipboard.readText()")
    assert copied == page.get_by_label("Body", exact=True).input_value()


def test_post_as_comment_puts_the_email_on_the_issue(stack, panel_screen):
    issue = new_issue(stack, "Mobile app crashes on login")
    page = open_panel(panel_screen, issue)
    page.get_by_label("Purpose", exact=True).select_option("resolution")
    draft(page)
    page.get_by_label("Subject", exact=True).fill("Login crash on the mobile app is fixed")
    post = page.get_by_role("button", name="Post as comment")
    post.click()
    expect(page.locator("#ep-progress")).to_have_text("Posting the draft as a comment…")
    posted = page.locator("#ep-posted")
    expect(posted).to_have_text(re.compile(r"^Posted as comment \d+ on this issue\.$"), timeout=DRAFT_TIMEOUT)
    expect(page.locator("#ep-post")).to_have_text("Posted")
    expect(page.locator("#ep-post")).to_be_disabled()
    comment_id = re.search(r"\d+", posted.inner_text()).group(0)

    comments = {c["id"]: c for c in stack.sim.comments(issue)}
    assert comment_id in comments
    comment = comments[comment_id]
    assert comment["author_type"] == "app"
    assert "Login crash on the mobile app is fixed" in comment["text"]
    marker = comment["properties"]["jira-ai-reply"]
    assert marker["source"] == "panel" and marker["intent"] == "email_request"
    assert marker["request"].startswith("panel:")


def test_budget_exhausted_is_said_in_plain_words(stack, tokens, admin_id, panel_screen):
    issue = new_issue(stack, "Export to CSV drops the last row")
    set_daily_limit(stack, tokens, admin_id, 0)
    try:
        page = open_panel(panel_screen, issue)
        banner = page.locator("#ep-budget")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Today's AI budget is used up")
        expect(banner).to_contain_text("A Jira administrator can raise the daily limit")
        draft(page)
        expect(page.locator("#ep-offline")).to_be_visible()
        expect(page.locator("#ep-note")).to_be_visible()
        assert page.locator("#ep-note-text").inner_text().strip()
        assert page.get_by_label("Body", exact=True).input_value().strip()  # still a usable draft, from the template
    finally:
        set_daily_limit(stack, tokens, admin_id, None)


def test_an_expired_session_is_refused_in_plain_words(stack, tokens, panel_screen):
    issue = new_issue(stack, "Webhook retries flood the audit log")
    stale = tokens.context_token(DANA, issue_key=issue, ttl=60, issued=int(time.time()) - 600)
    page = panel_screen.open(PANEL_PATH, DANA, issue_key=issue, context_token=stale)
    error = page.locator("#ep-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("The email panel could not open")
    expect(error).to_contain_text("expired")
    expect(error).to_contain_text("Reload the page")
    expect(page.locator("#ep-form")).to_be_hidden()
    assert "Authentication failed" not in page.content()


def test_an_expired_page_link_is_refused_in_plain_words(stack, panel_screen):
    issue = new_issue(stack, "Dashboard gadget shows stale data")
    page = panel_screen.open(PANEL_PATH, DANA, issue_key=issue, page_ttl=60, page_issued=int(time.time()) - 600)
    assert panel_screen.response.status == 401
    expect(page.get_by_role("heading", level=1)).to_have_text("This page could not be opened")
    expect(page.get_by_role("alert")).to_contain_text("Reload the page in Jira")
    assert "jwt" not in page.locator("body").inner_text().lower()
