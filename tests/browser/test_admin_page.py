"""The admin page (cost, health, settings) in headless Chromium against the real stack: what an admin sees."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from browser_harness import ADMIN_PATH, DANA, JiraTokens, accessibility_problems
from playwright.sync_api import expect

from connect_app.devtools.stack import LocalStack
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from tests.stacks import running

pytestmark = pytest.mark.browser

SEMANTIC = "Semantic cache: answer reworded repeats from earlier answers"
DEFAULTS = {"daily_limit_usd": None, "alert_percentage": None, "model": None, "default_email_tone": "formal",
            "resolution_summary_on_done": False, "enabled_projects": [], "extra_instructions": ""}


@pytest.fixture(scope="module")
def spend(stack):
    """Thirty days of this site's spend in the ledger: summaries dominate, one alert, some cache hits."""
    store = DiskStore(stack.data_dir / "app" / "store")
    try:
        ledger = CostLedger(store)
        today = datetime.now(UTC).date()
        for back in range(12):
            day = (today - timedelta(days=back)).isoformat()
            for _ in range(1 + back % 3):
                ledger.record_call(tenant_id=stack.tenant_id, intent="summary_request", model="gpt-4o-mini",
                                   cost_micros=150_000, prompt_tokens=2000, completion_tokens=300,
                                   cached_tokens=0, day=day)
            ledger.record_call(tenant_id=stack.tenant_id, intent="email_request", model="gpt-4o",
                               cost_micros=90_000, prompt_tokens=1500, completion_tokens=400,
                               cached_tokens=0, day=day)
            ledger.record_cache_hit(tenant_id=stack.tenant_id, intent="summary_request", model="gpt-4o-mini",
                                    saved_micros=150_000, layer="exact", day=day)
        ledger.record_alert(tenant_id=stack.tenant_id, percent=80, spent_micros=4_100_000,
                            limit_micros=5_000_000, day=(today - timedelta(days=3)).isoformat())
    finally:
        store.close()


def put_settings(stack, tokens, admin_id, changes):
    token = tokens.context_token(admin_id)
    res = requests.put(stack.app_url + "/api/ui/admin/settings", json=changes, timeout=10,
                       headers={"Authorization": f"JWT {token}"})
    assert res.status_code == 200, res.text
    return res.json()


@pytest.fixture
def restore_settings(stack, tokens, admin_id):
    yield
    put_settings(stack, tokens, admin_id, DEFAULTS)


def open_admin(admin_screen, admin_id, **kw):
    page = admin_screen.open(ADMIN_PATH, admin_id, **kw)
    expect(page.locator("#ad-content")).to_be_visible()
    return page


def field(page, label):
    return page.get_by_label(label, exact=True)


def test_the_admin_sees_cost_health_and_settings(stack, spend, admin_id, admin_screen):
    page = open_admin(admin_screen, admin_id)
    expect(page.locator("#ad-site")).to_have_text(stack.sim.base_url.split("://", 1)[1])

    # Cost: today's spend against the limit, 30 days of bars, the breakdowns, savings, alerts, advice.
    expect(page.locator("#ad-today-spent")).to_have_text("$0.24")
    meter = page.get_by_role("meter")
    expect(meter).to_have_attribute("aria-valuetext", "$0.24 of $5.00 used today (5%)")
    chart = page.locator("#ad-daily-chart svg")
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("rect.bar")).to_have_count(30)
    assert "Total $" in chart.locator("desc").text_content()
    assert chart.locator("rect.bar title").last.text_content().endswith(": $0.24")
    expect(page.locator("#ad-by-intent")).to_contain_text("Summaries")
    expect(page.locator("#ad-by-intent")).to_contain_text("Email drafts")
    expect(page.locator("#ad-by-model")).to_contain_text("gpt-4o-mini")
    expect(page.locator("#ad-hit-rate")).to_have_text("100%")
    expect(page.locator("#ad-cache-saved")).to_contain_text("$1.80 saved")
    expect(page.locator("#ad-alerts-count")).to_have_text("1")
    expect(page.locator("#ad-alerts")).to_contain_text("$4.10 of $5.00 spent (alert at 80%)")
    suggestion = page.locator(".ad-suggestion").first
    expect(suggestion).to_contain_text("summary_request drives")
    expect(suggestion.locator("dl")).to_contain_text("Share %")

    # Health: the breakers as lozenges, error rate, queue depth, stage latencies, last errors.
    expect(page.locator("#ad-health-status")).to_have_text(re.compile(r"^(healthy|degraded|unhealthy)$"))
    breakers = page.locator("#ad-breakers tbody tr")
    expect(breakers).to_have_count(2)
    expect(breakers.nth(0)).to_contain_text("AI service")
    expect(breakers.nth(1)).to_contain_text("Jira")
    expect(breakers.nth(0).locator(".ak-lozenge")).to_have_text("Closed")
    expect(page.locator("#ad-queue")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#ad-latency tbody tr").first).to_be_visible()
    expect(page.locator("#ad-errors tbody tr").first).to_be_visible()

    # Settings: the semantic cache cannot be turned on here, and the page says why.
    expect(field(page, "Semantic cache: answer reworded repeats from earlier answers")).to_be_disabled()
    expect(page.locator("#ad-semantic-help")).to_contain_text("Not available on this deployment")
    expect(field(page, "Default email tone")).to_have_value("formal")
    assert accessibility_problems(page) == []


def test_settings_round_trip(stack, admin_id, admin_screen, restore_settings):
    page = open_admin(admin_screen, admin_id)
    models = page.locator("#ad-model option").evaluate_all("os => os.map(o => o.value)")
    assert models[0] == "" and len(models) > 1
    field(page, "Daily limit (US dollars)").fill("12.5")
    field(page, "Alert at (% of the daily limit)").fill("65")
    field(page, "Model").select_option(models[1])
    field(page, "Default email tone").select_option("friendly")
    field(page, "Post a resolution summary when an issue is done").check()
    field(page, "Projects where @ai is enabled").fill("sup, ops")
    field(page, "Extra instructions for the AI (optional)").fill("Sign emails as the Support team.")
    expect(page.locator("#ad-instructions-count")).to_have_text("32 / 1,000")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#ad-saved")).to_have_text("Saved. The changes apply from the next request.")
    expect(page.locator("#ad-settings-error")).to_be_hidden()
    expect(field(page, "Projects where @ai is enabled")).to_have_value("OPS, SUP")  # as the server keeps them

    page.reload()
    expect(page.locator("#ad-content")).to_be_visible()
    expect(field(page, "Daily limit (US dollars)")).to_have_value("12.5")
    expect(field(page, "Alert at (% of the daily limit)")).to_have_value("65")
    expect(field(page, "Model")).to_have_value(models[1])
    expect(field(page, "Default email tone")).to_have_value("friendly")
    expect(field(page, "Post a resolution summary when an issue is done")).to_be_checked()
    expect(field(page, "Projects where @ai is enabled")).to_have_value("OPS, SUP")
    expect(field(page, "Extra instructions for the AI (optional)")).to_have_value("Sign emails as the Support team.")
    expect(page.get_by_role("meter")).to_have_attribute("aria-valuetext", re.compile(r" of \$12\.50 used today "))


def test_invalid_settings_are_explained_next_to_the_form(stack, admin_id, admin_screen, restore_settings):
    page = open_admin(admin_screen, admin_id)
    projects = field(page, "Projects where @ai is enabled")
    projects.fill("SUP, 9X")
    projects.press("Enter")  # Enter submits
    message = page.locator("#ad-settings-error")
    expect(message).to_be_visible()
    expect(message).to_have_attribute("role", "alert")
    expect(message).to_contain_text("The settings were not saved")
    expect(message).to_contain_text("Not a project key: 9X")
    expect(projects).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#ad-projects-error")).to_contain_text("9X")
    expect(page.locator("#ad-saved")).to_have_text("")

    field(page, "Daily limit (US dollars)").fill("20000")
    projects.fill("SUP")
    page.get_by_role("button", name="Save").click()
    expect(message).to_contain_text("Daily limit must be a number from 0 to 10000")
    expect(field(page, "Daily limit (US dollars)")).to_have_attribute("aria-invalid", "true")
    expect(projects).not_to_have_attribute("aria-invalid", "true")

    page.reload()
    expect(page.locator("#ad-content")).to_be_visible()
    expect(field(page, "Projects where @ai is enabled")).to_have_value("")  # nothing was saved
    expect(field(page, "Daily limit (US dollars)")).to_have_value("")


def test_extra_instructions_have_a_live_count_and_a_limit(stack, admin_id, admin_screen):
    page = open_admin(admin_screen, admin_id)
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PUT" else None)
    box = field(page, "Extra instructions for the AI (optional)")
    box.fill("x" * 1001)
    counter = page.locator("#ad-instructions-count")
    expect(counter).to_have_text("1,001 / 1,000")
    expect(counter).to_have_class("ak-helper ak-count is-over")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#ad-instructions-error")).to_have_text(
        "Extra instructions are limited to 1,000 characters; remove 1 character.")
    expect(box).to_be_focused()
    assert sent == []
    box.press("Backspace")
    expect(counter).to_have_text("1,000 / 1,000")
    expect(page.locator("#ad-instructions-error")).to_be_hidden()


def test_a_non_admin_is_refused_in_plain_words(stack, admin_screen):
    page = admin_screen.open(ADMIN_PATH, DANA)
    assert admin_screen.response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Only Jira administrators can open this page")
    expect(page.get_by_role("alert")).to_contain_text("Only Jira administrators")
    expect(page.locator("#ad-content")).to_have_count(0)


def test_a_non_admin_token_gets_no_data(stack, tokens, admin_id, admin_screen):
    """Even inside an admin's page, API calls made with a non-admin's token are refused."""
    page = admin_screen.open(ADMIN_PATH, admin_id, context_token=tokens.context_token(DANA))
    error = page.locator("#ad-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Only Jira administrators can see this page")
    expect(error).to_contain_text("Only Jira administrators can see and change the AI assistant's settings.")
    expect(page.locator("#ad-content")).to_be_hidden()


@pytest.fixture(scope="module")
def semantic_stack():
    """A second deployment that offers the semantic cache (the hashing embedder: no model to download)."""
    s = LocalStack(llm="fake", env={"USE_EMBEDDING_CACHE": "true", "EMBEDDING_BACKEND": "hashing"})
    with running(s):
        yield s


def saved_semantic_cache(stack, tokens, admin_id):
    """What the server keeps for the site (``semantic_cache``), read through the API, not the page."""
    res = requests.get(stack.app_url + "/api/ui/admin", timeout=10,
                       headers={"Authorization": f"JWT {tokens.context_token(admin_id)}"})
    assert res.status_code == 200, res.text
    return res.json()["settings"]["semantic_cache"]


def test_the_semantic_cache_is_turned_off_and_on_where_the_deployment_offers_it(semantic_stack, admin_screen):
    tokens = JiraTokens(semantic_stack.sim.installation(), semantic_stack.app_url, semantic_stack.sim)
    admin_screen.tokens = tokens  # the same browser screen, opened on the deployment with the cache
    admin_id = semantic_stack.sim.admin_account_id
    page = open_admin(admin_screen, admin_id)
    box = field(page, SEMANTIC)
    expect(box).to_be_enabled()
    expect(box).to_be_checked()  # the deployment's default until the site says otherwise
    expect(page.locator("#ad-semantic-help")).to_contain_text("never shared with other sites")
    assert saved_semantic_cache(semantic_stack, tokens, admin_id) is None

    for turn_on in (False, True):
        box.set_checked(turn_on)
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#ad-saved")).to_have_text("Saved. The changes apply from the next request.")
        expect(page.locator("#ad-settings-error")).to_be_hidden()
        assert saved_semantic_cache(semantic_stack, tokens, admin_id) is turn_on
        page.reload()
        expect(page.locator("#ad-content")).to_be_visible()
        box = field(page, SEMANTIC)
        expect(box).to_be_enabled()
        if turn_on:
            expect(box).to_be_checked()
        else:
            expect(box).not_to_be_checked()
    assert accessibility_problems(page) == []
