"""Redis (``REDIS_URL``: the shared store and the queue) is restarted in the middle of a burst.

The test owns its redis-server (not the session fixture), with append-only persistence so a restart on
the same port keeps the data, as a production Redis would. Deliveries that arrive while it is down are
answered 503, so Jira retries them; once it is back every request is answered exactly once.
"""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from connect_app.devtools.stack import LocalStack
from tests.faults.procs import (
    SIM_OPTIONS,
    STACK_ENV,
    RedisServer,
    assert_each_answered_once,
    assert_journal_empties,
    delivery_statuses,
    new_issue,
    start_stack,
    wait_for,
)
from tests.faults.world import DANA

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("own-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(redis_server):
    # One worker process whose lease outlives the outage: its unfinished jobs can only come back
    # through its own sweep (no other worker will think it dead).
    env = {**STACK_ENV, "REDIS_URL": redis_server.url, "QUEUE_WORKERS": "2", "JOB_LEASE_SECONDS": "10"}
    s = start_stack(LocalStack(llm="fake", fake_llm_latency=0.2, workers=1, env=env, sim_options=SIM_OPTIONS))
    yield s
    s.stop()


def test_redis_restarted_mid_burst_answers_each_request_once(stack, redis_server):
    sim = stack.sim
    issues = [new_issue(stack, f"Export stalls at {n}0%") for n in range(4)]
    texts = ["@ai summarize this", "@ai write a status update for the team",
             "@ai draft an email to the customer about the delay"]
    burst = [(issues[n % 4], texts[n % 3] + f" (#{n})") for n in range(8)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        before = list(pool.map(lambda r: (r[0], sim.add_comment(r[0], DANA, r[1])), burst))
    time.sleep(0.3)  # some answered, some being written (the model takes 0.2 s), some queued
    redis_server.stop()

    stack.stop_web()  # processes that start during the outage must come up and wait, not crash
    stack.start_web()
    late_worker = stack.start_worker()
    during = [(issue, sim.add_comment(issue, DANA, f"@ai summarize this (redis down {n})"))
              for n, issue in enumerate(issues)]
    wait_for(lambda: all(503 in delivery_statuses(stack, c["id"]) for _, c in during), 15,
             "deliveries to be answered 503 while Redis is down")
    redis_server.start()

    assert_each_answered_once(stack, before + during, timeout=45)
    assert late_worker.poll() is None, "the worker started during the outage is still running"
    assert_journal_empties(stack)
    for _, c in during:
        statuses = delivery_statuses(stack, c["id"])
        assert statuses[0] == 503 and statuses[-1] == 204 and 500 not in statuses, statuses
