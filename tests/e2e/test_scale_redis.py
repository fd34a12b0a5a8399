"""Proof under load: 2 gunicorn web processes and 2 job workers sharing one Redis, a burst of webhooks with
every delivery repeated (Jira's retries), and a small daily budget. Exactly one reply per request, no request
lost, and the day's spend never over the limit."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from connect_app.devtools.stack import LocalStack
from connect_app.storage.ledger import CostLedger
from connect_app.storage.redis_store import RedisStore

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

USERS = [f"5b10ac8d82e05b22cc7d4e{n:02d}" for n in range(6)]
REQUESTS = ["@ai summarize this", "@ai write a status update for the team",
            "@ai draft an email to the customer about the delay", "@ai help", "@ai what's the status?"]
LIMIT_USD = 0.002


@pytest.fixture(scope="module")
def stack(redis_url):
    url = redis_url.rsplit("/", 1)[0] + "/3"  # a database of its own
    flush = RedisStore(url, namespace="durable")
    flush._client.flushdb()
    flush.close()
    s = LocalStack(llm="fake", web_workers=2, workers=2,
                   env={"REDIS_URL": url, "MAX_DAILY_COST_USD": str(LIMIT_USD), "JOB_LEASE_SECONDS": "2",
                        "QUEUE_WORKERS": "4",  # a burst: every user asks 10 times at once (over the default limits)
                        "RATE_LIMIT_USER_PER_MINUTE": "1000", "RATE_LIMIT_USER_PER_HOUR": "1000"})
    try:
        s.start()
        s.install()
        for n, user in enumerate(USERS):
            s.sim.add_user(user, f"User {n}")
        s.sim.add_project("LOAD", "Load test")
        s.redis_url = url
        yield s
    except Exception:
        print(s.logs())
        raise
    finally:
        s.stop()


def test_burst_with_repeated_deliveries_gives_exactly_one_reply_each_and_stays_in_budget(stack):
    sim = stack.sim
    issues = [sim.add_issue("LOAD", f"Load issue {n}", description_text=f"Symptom {n}: the export stalls at {n}0%",
                            status="In Progress")["key"] for n in range(12)]
    requests = [(issues[n % len(issues)], USERS[n % len(USERS)], REQUESTS[n % len(REQUESTS)] + f" (#{n})")
                for n in range(60)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        comments = list(pool.map(lambda r: sim.add_comment(*r), requests))
    sim.wait_idle(30)
    for delivery in sim.deliveries("comment_created"):  # every delivery comes again, as Jira's retries do
        sim.redeliver(delivery["identifier"])
    sim.wait_idle(30)

    deadline = time.monotonic() + 90
    missing = comments
    while missing and time.monotonic() < deadline:
        time.sleep(0.5)
        replied = {}
        for issue in issues:
            for c in sim.comments(issue):
                request = (c["properties"].get("jira-ai-reply") or {}).get("request")
                if request:
                    replied[request] = replied.get(request, 0) + 1
        missing = [c for c in comments if f"comment:{c['id']}" not in replied]
    assert not missing, f"{len(missing)} requests without a reply\n{stack.logs()[-4000:]}"
    time.sleep(2)  # let any duplicate surface
    counts = {}
    for issue in issues:
        for c in sim.comments(issue):
            request = (c["properties"].get("jira-ai-reply") or {}).get("request")
            if request:
                counts[request] = counts.get(request, 0) + 1
    assert all(counts[f"comment:{c['id']}"] == 1 for c in comments), counts

    store = RedisStore(stack.redis_url, namespace="durable")
    try:
        day = CostLedger(store).day(stack.tenant_id)
    finally:
        store.close()
    assert day.cost_micros <= LIMIT_USD * 1_000_000
    assert day.calls > 0, "some requests were answered by the model"
    assert day.refusals > 0, "the small limit refused the rest (they got labelled offline drafts)"
