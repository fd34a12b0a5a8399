"""Jira misbehaves while a request is being answered; it still ends with one reply, one note, or a
deliberate, logged silence when there is nothing left to answer.

Faults are injected into the Jira simulator (``sim.faults.add``; ``sim.delete_issue``;
``sim.delete_comment``) between the real Connect door accepting the webhook and the job running (see
``world.py``). A 500 on every attempt, through real processes, is
``tests/e2e/test_connect_e2e.py::test_a_job_that_keeps_failing_leaves_one_polite_note``.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from connect_app.errors import StorageError
from connect_app.ops.breaker import CLOSED
from tests.faults.world import World, count_signatures, reply_marker

SUMMARY = "@ai summarize this"


def calls_to(world: World, issue: str, method: str | None = None, suffix: str = "") -> list[dict]:
    """REST calls on exactly ``/issue/<issue><suffix>``."""
    return [c for c in world.sim.calls(f"/rest/api/3/issue/{issue}", method=method)
            if c["path"].endswith(f"/issue/{issue}{suffix}")]


def issue_calls(world: World, issue: str) -> list[dict]:
    """Every REST call about ``issue`` (the issue itself and anything under it)."""
    return [c for c in world.sim.calls() if re.search(rf"/issue/{re.escape(issue)}(/|$)", c["path"])]


def site_breaker(world: World):
    return world.services.breakers.get(f"jira:{world.tenant_id}")


def test_a_429_with_retry_after_is_waited_out_and_the_retry_signed_afresh(world, monkeypatch):
    issue = world.new_issue()
    comment = world.ask(issue, SUMMARY)
    world.sim.faults.add(rf"/issue/{issue}/comment$", 429, retry_after=0.5, method="POST")
    signed = count_signatures(monkeypatch)
    world.drain()

    reply = world.only_reply(issue, comment["id"])
    assert reply_marker(reply)["status"] == "answered"
    posts = calls_to(world, issue, "POST", "/comment")
    assert [c["status"] for c in posts] == [429, 201]
    assert posts[1]["at"] - posts[0]["at"] >= 0.5, "the retry came before Retry-After"
    assert posts[1]["account_id"] == world.sim.app_account_id, "the retry was accepted as the app"
    assert signed.count(("POST", f"/rest/api/3/issue/{issue}/comment")) == 2, "each try gets its own token"


def test_a_500_is_retried_by_the_job_and_answered_once(world):
    issue = world.new_issue()
    comment = world.ask(issue, SUMMARY)
    world.sim.faults.add(rf"/issue/{issue}$", 500, method="GET")
    world.drain()

    reply = world.only_reply(issue, comment["id"])
    assert reply_marker(reply)["status"] == "answered"
    assert [c["status"] for c in calls_to(world, issue, "GET")] == [500, 200], "one job retry, no more"


def test_a_timeout_is_retried_by_the_job_and_answered_once(world):
    world.use_jira_client(timeout=0.3)
    issue = world.new_issue()
    comment = world.ask(issue, SUMMARY)
    world.sim.faults.add(rf"/issue/{issue}$", None, delay=1.0, method="GET")
    started = time.monotonic()
    world.drain()

    assert reply_marker(world.only_reply(issue, comment["id"]))["status"] == "answered"
    assert time.monotonic() - started < 5


def test_a_reply_jira_commits_after_we_timed_out_is_not_posted_again(world):
    """The POST times out on our side, but Jira stores the comment anyway; the retry must see it."""
    world.use_jira_client(timeout=0.3)
    issue = world.new_issue()
    comment = world.ask(issue, SUMMARY)
    world.sim.faults.add(rf"/issue/{issue}/comment$", None, delay=0.45, method="POST")
    world.drain()
    time.sleep(0.3)  # let the slow POST land if it has not yet

    assert len(calls_to(world, issue, "POST", "/comment")) == 1, "the retry did not post a second time"
    assert reply_marker(world.only_reply(issue, comment["id"]))["status"] == "answered"


def test_persistent_timeouts_end_with_one_polite_note(world):
    world.use_jira_client(timeout=0.3)
    issue = world.new_issue()
    comment = world.ask(issue, SUMMARY)
    attempts = 1 + world.settings.job_retries
    slow = world.sim.faults.add(rf"/issue/{issue}$", None, delay=0.6, count=attempts, method="GET")
    world.drain()

    note = world.only_reply(issue, comment["id"])
    assert reply_marker(note)["status"] == "failed"
    assert note["text"].startswith("Sorry, I couldn't complete your request (Jira could not be reached)")
    assert slow.hits == attempts, "every attempt was tried once; then the note"


def test_an_issue_deleted_before_the_reply_ends_the_job_quietly(world, caplog):
    issue = world.new_issue()
    world.ask(issue, SUMMARY)
    world.sim.delete_issue(issue)
    with caplog.at_level(logging.INFO):
        world.drain()

    assert world.services.journal.pending() == 0
    assert world.sim.calls(f"/issue/{issue}/comment", method="POST") == []
    assert [c["status"] for c in issue_calls(world, issue)] == [404], "one 404, then no retry storm"
    assert "issue or comment gone" in caplog.text
    assert site_breaker(world).state() == CLOSED, "a 404 is an answer, not an outage"


def test_an_issue_deleted_while_the_reply_is_written_ends_the_job_quietly(world, caplog):
    issue = world.new_issue()
    world.ask(issue, SUMMARY)
    world.llm.faults.push("sleep", seconds=0.8, endpoint="chat")  # the job is writing when the issue goes
    timer = threading.Timer(0.3, world.sim.delete_issue, args=(issue,))
    timer.start()
    with caplog.at_level(logging.INFO):
        world.drain()
    timer.join()

    posts = world.sim.calls(f"/issue/{issue}/comment", method="POST")
    assert [c["status"] for c in posts] == [404], "one refused post, no retry"
    assert world.services.journal.pending() == 0
    assert "issue or comment gone" in caplog.text


def test_a_request_deleted_before_the_reply_gets_no_reply_and_no_action(world, caplog):
    """Decision: a withdrawn request is not answered (the reply would quote words their author took back)
    and never acted on. The job ends with a log line."""
    issue = world.new_issue("Cache TTL too long")
    comment = world.ask(issue, "@ai mark this done, the TTL fix is deployed")
    world.sim.delete_comment(issue, comment["id"])
    with caplog.at_level(logging.INFO):
        world.drain()

    assert world.replies(issue, comment["id"]) == []
    assert world.sim.issue(issue)["fields"]["status"]["name"] == "In Progress"
    assert world.sim.calls("/transitions", method="POST") == []
    assert world.llm.request_count == 0
    assert "request comment was deleted" in caplog.text
    assert world.services.journal.pending() == 0


def test_a_reply_deleted_before_the_jobs_rerun_is_not_posted_again(world, monkeypatch, caplog):
    """Decision: a reply of ours that someone deleted stays deleted. The attempt posts the reply but its
    end is not recorded (the store fails as it finishes, like a worker dying right after the post); a
    user deletes the reply; the worker's sweep reruns the job. The rerun finds the journalled reply id
    without its marker in Jira: it ends, posting nothing, writing nothing, not looping."""
    services = world.services
    queue, journal = services.queue, services.journal
    finish = journal.finish
    fail_once = {"left": 1}

    def finish_as_the_store_fails(job_id: str) -> None:
        if fail_once["left"]:
            fail_once["left"] -= 1
            raise StorageError("storage failed: injected outage")
        finish(job_id)

    monkeypatch.setattr(journal, "finish", finish_as_the_store_fails)
    issue = world.new_issue("Stale prices on the product page")
    comment = world.ask(issue, SUMMARY)
    queue.runner = services.pipeline
    queue.huey.execute(queue.huey.dequeue())
    (reply,) = world.replies(issue, comment["id"])
    world.sim.delete_comment(issue, reply["id"])
    model_calls = world.llm.request_count

    journal.heartbeat(queue.owner)
    assert queue.recover() == 1, "the job recorded as running here is taken back"
    with caplog.at_level(logging.INFO):
        world.drain()

    assert world.replies(issue, comment["id"]) == []
    assert len(calls_to(world, issue, "POST", "/comment")) == 1, "posted once, never again"
    assert world.llm.request_count == model_calls, "the rerun wrote nothing"
    assert "was deleted since it was posted" in caplog.text
    assert journal.pending() == 0


def test_a_reply_deleted_after_the_job_ended_is_not_posted_again_by_a_redelivery(world, caplog):
    """After the job ended, a user deletes the reply and Jira delivers the request's webhook again: the
    dedupe claim answers it without a job, so nothing is posted and the model is not asked again."""
    issue = world.new_issue("Search results miss archived tickets")
    comment = world.ask(issue, SUMMARY)
    world.drain()
    reply = world.only_reply(issue, comment["id"])
    world.sim.delete_comment(issue, reply["id"])
    model_calls = world.llm.request_count
    (delivery,) = [d for d in world.sim.deliveries("comment_created")
                   if str(d["payload"]["comment"]["id"]) == str(comment["id"])]
    world.sim.redeliver(delivery["identifier"])
    assert world.sim.wait_idle(10)
    world.drain()

    statuses = [a["status"] for a in world.sim.deliveries(identifier=delivery["identifier"])[0]["attempts"]]
    assert statuses[-1] == 204, statuses
    assert world.replies(issue, comment["id"]) == []
    assert world.llm.request_count == model_calls
    assert world.services.journal.pending() == 0
