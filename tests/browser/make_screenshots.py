"""Take the README's screenshots of the two screens against a real local stack.

    .venv/bin/python tests/browser/make_screenshots.py            # writes docs/screenshots/*.png

It starts the stack (simulator, gunicorn, worker, fake LLM), gives the site a month of spend and a few
real requests, drafts an email in the issue panel and opens the admin page, in headless Chromium.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_harness import ADMIN_PATH, ALL_JS, PANEL_PATH, JiraTokens, ap_stub, launch

from connect_app.devtools.stack import LocalStack
from connect_app.storage.disk import DiskStore
from connect_app.storage.ledger import CostLedger
from connect_app.storage.site_settings import SiteSettingsRepo

ROOT = Path(__file__).resolve().parents[2]
AGENT = "712020:3b8e5a1c-9d4f-4e2a-8c7b-6f5e4d3c2b1a"


def seed_month(stack: LocalStack) -> None:
    """Thirty days of plausible spend for the site, one alert, and the site's settings."""
    rng = random.Random(5)
    store = DiskStore(stack.data_dir / "app" / "store")
    try:
        ledger = CostLedger(store)
        today = datetime.now(UTC).date()
        for back in range(1, 30):
            day = (today - timedelta(days=back)).isoformat()
            weekday = (today - timedelta(days=back)).weekday() < 5
            for intent, model, cost, calls in (
                ("summary_request", "gpt-4o-mini", 21_000, 40 if weekday else 8),
                ("email_request", "gpt-4o-mini", 34_000, 18 if weekday else 3),
                ("comment_request", "gpt-4o-mini", 18_000, 12 if weekday else 2),
                ("classification", "gpt-4o-mini", 1_200, 30 if weekday else 6),
            ):
                for _ in range(int(calls * rng.uniform(0.6, 1.4))):
                    ledger.record_call(tenant_id=stack.tenant_id, intent=intent, model=model,
                                       cost_micros=int(cost * rng.uniform(0.7, 1.3)), prompt_tokens=2400,
                                       completion_tokens=350, cached_tokens=1024, day=day)
            for _ in range(rng.randint(2, 9)):
                ledger.record_cache_hit(tenant_id=stack.tenant_id, intent="summary_request",
                                        model="gpt-4o-mini", saved_micros=21_000, layer="exact", day=day)
            for _ in range(rng.randint(10, 25)):
                ledger.record_cache_miss(tenant_id=stack.tenant_id, intent="summary_request", layer="exact",
                                         day=day)
        ledger.record_alert(tenant_id=stack.tenant_id, percent=80, spent_micros=2_450_000,
                            limit_micros=3_000_000, day=(today - timedelta(days=6)).isoformat())
        SiteSettingsRepo(store).update(stack.tenant_id, {
            "daily_limit_usd": 3.0, "alert_percentage": 80, "default_email_tone": "friendly",
            "enabled_projects": ["SUP", "OPS"], "extra_instructions": "Sign emails as the Acme Support team.",
        })
    finally:
        store.close()


def seed_issue(stack: LocalStack) -> str:
    """An issue with some history, and a few real @ai requests so health has latencies to show."""
    sim = stack.sim
    sim.add_user(AGENT, "Priya Natarajan")
    sim.add_project("SUP", "Customer Support")
    key = sim.add_issue(
        "SUP", "Checkout times out for EU customers", status="In Progress", assignee=AGENT, reporter=AGENT,
        description_text="Since Friday, customers on the EU cluster see a timeout on the payment step.",
    )["key"]
    sim.add_comment(key, AGENT, "Root cause: the payment gateway's connection pool is exhausted at peak.")
    sim.add_comment(key, AGENT, "Fix deployed to staging; rolling out to production on Thursday.")
    for text in ("@ai summarize this", "@ai write a status update for the team"):
        comment = sim.add_comment(key, AGENT, text)
        sim.wait_for_comment(key, lambda c, cid=comment["id"]: (c["properties"].get("jira-ai-reply") or {})
                             .get("request") == f"comment:{cid}", timeout=30)
    return key


def shoot(out: Path) -> None:
    """Run the stack and save ``email-panel.png`` and ``admin.png`` in ``out``."""
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(llm="fake", fake_llm_latency=0.2)
    try:
        stack.start()
        stack.install()
        issue = seed_issue(stack)
        seed_month(stack)
        tokens = JiraTokens(stack.sim.installation(), stack.app_url, stack.sim)
        admin = stack.sim.admin_account_id
        with sync_playwright() as playwright:
            browser = launch(playwright)

            def screen(account: str, issue_key: str | None, width: int):
                context = browser.new_context(viewport={"width": width, "height": 800}, device_scale_factor=1)
                stub = ap_stub(tokens.context_token(account, issue_key=issue_key), issue_key)
                context.route(ALL_JS, lambda route: route.fulfill(body=stub, content_type="application/javascript"))
                return context

            context = screen(AGENT, issue, 400)
            page = context.new_page()
            page.goto(tokens.page_url(PANEL_PATH, AGENT, issue_key=issue))
            page.get_by_label("Purpose", exact=True).select_option("delay")
            page.get_by_label("Notes (optional)", exact=True).fill("The fix goes live on Thursday.")
            page.get_by_role("button", name="Draft email").click()
            expect(page.locator("#ep-result")).to_be_visible(timeout=30_000)
            page.evaluate("document.activeElement.blur()")
            page.mouse.move(0, 0)
            page.wait_for_timeout(400)  # let the buttons' colour transitions finish
            page.screenshot(path=str(out / "email-panel.png"), full_page=True)
            context.close()

            context = screen(admin, None, 1280)
            page = context.new_page()
            page.goto(tokens.page_url(ADMIN_PATH, admin))
            expect(page.locator("#ad-content")).to_be_visible(timeout=15_000)
            page.wait_for_timeout(400)
            page.screenshot(path=str(out / "admin.png"), full_page=True)
            context.close()
            browser.close()
    except Exception:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out`` (default docs/screenshots)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    shoot(args.out)
    print(f"wrote {args.out / 'email-panel.png'} and {args.out / 'admin.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
