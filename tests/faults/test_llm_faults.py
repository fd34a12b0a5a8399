"""The language model misbehaves; every request still ends with exactly one reply.

Each test injects a fault into the OpenAI-compatible fake (``devtools/fake_llm.py``), writes an ``@ai``
comment in the Jira simulator, lets the real Connect door accept the webhook and runs the queued job
(see ``world.py``). The persistent-500 case through real processes is
``tests/e2e/test_connect_e2e.py::test_llm_failure_gives_a_labelled_offline_reply``.
"""

from __future__ import annotations

import time

from connect_app.ops.breaker import CLOSED, OPEN, BreakerRegistry
from tests.faults.world import World, reply_marker

SUMMARY = "@ai summarize this"


def chat_requests(world: World) -> list[dict]:
    return [r for r in world.llm.requests if r["path"].endswith("/chat/completions")]


def ask_and_answer(world: World, text: str = SUMMARY, summary: str = "Checkout times out") -> dict:
    issue = world.new_issue(summary)
    comment = world.ask(issue, text)
    world.drain()
    return world.only_reply(issue, comment["id"])


def assert_model_reply(reply: dict) -> None:
    marker = reply_marker(reply)
    assert marker["status"] == "answered" and marker["offline"] is False, marker
    assert "offline draft" not in reply["text"].lower()


def assert_offline_reply(reply: dict, label: str) -> None:
    marker = reply_marker(reply)
    assert marker["status"] == "answered" and marker["offline"] is True, marker
    assert "offline draft" in reply["text"].lower() and label in reply["text"].lower(), reply["text"]


def test_a_timeout_once_is_retried_by_the_sdk_and_the_model_answers(world):
    world.llm.faults.push("sleep", seconds=3, endpoint="chat")  # LLM_TIMEOUT_SECONDS=1
    reply = ask_and_answer(world)
    assert_model_reply(reply)
    assert len(chat_requests(world)) == 2


def test_timeouts_on_every_try_give_one_labelled_offline_reply_in_bounded_time(world):
    world.llm.faults.push("sleep", seconds=3, count=2, endpoint="chat")  # the try and the SDK's one retry
    started = time.monotonic()
    reply = ask_and_answer(world)
    assert time.monotonic() - started < 6, "the job waited on the model beyond its timeout and one retry"
    assert_offline_reply(reply, "could not answer")
    assert len(chat_requests(world)) == 2, "the SDK's retries are the only retries"


def test_a_429_with_retry_after_is_waited_out_then_answered(world):
    world.llm.faults.push("status", status=429, retry_after=0.6, endpoint="chat")
    started = time.monotonic()
    reply = ask_and_answer(world)
    assert_model_reply(reply)
    statuses = [r["status"] for r in chat_requests(world)]
    assert statuses == [429, 200]
    assert time.monotonic() - started >= 0.6, "the retry came before Retry-After"


def test_a_429_that_persists_gives_one_labelled_offline_reply(world):
    world.llm.faults.push("status", status=429, retry_after=0.1, count=5, endpoint="chat")
    reply = ask_and_answer(world)
    assert_offline_reply(reply, "could not answer")
    assert [r["status"] for r in chat_requests(world)] == [429, 429]


def test_a_500_once_is_retried_by_the_sdk_and_the_model_answers(world):
    world.llm.faults.push("status", status=500, endpoint="chat")
    reply = ask_and_answer(world)
    assert_model_reply(reply)
    assert [r["status"] for r in chat_requests(world)] == [500, 200]


def test_empty_content_gives_one_labelled_offline_reply(world):
    world.llm.faults.push("empty", endpoint="chat")
    reply = ask_and_answer(world)
    assert_offline_reply(reply, "could not answer")


def test_malformed_json_in_the_classification_falls_back_to_the_local_intent_and_is_not_cached(world):
    unsure = "@ai the customer wants an update I guess"  # rules: unclear at 0.2, so the model is asked
    world.llm.faults.push("malformed", endpoint="chat")
    reply = ask_and_answer(world, unsure)
    asked = chat_requests(world)
    assert len(asked) == 1 and asked[0]["body"]["response_format"]["type"] == "json_schema"
    assert reply_marker(reply)["intent"] == "unclear", "the broken answer was not used"
    assert reply_marker(reply)["status"] == "answered"

    world.llm.reset()
    again = ask_and_answer(world, unsure, summary="Another customer asks")
    assert reply_marker(again)["intent"] == "comment_request", "the model was asked again, not a cached answer"
    assert chat_requests(world)[0]["body"]["response_format"]["type"] == "json_schema"


def test_an_outage_opens_the_breaker_then_a_probe_closes_it(world):
    registry = BreakerRegistry(world.services.stores.durable, reset_timeout=1.0)
    world.use_breakers(registry)
    breaker = registry.get("llm")
    threshold = breaker.failure_threshold
    world.llm.faults.push("status", status=500, count=1000, endpoint="chat")

    for n in range(threshold):  # each request: one failed call (two HTTP tries), one offline reply
        assert_offline_reply(ask_and_answer(world, summary=f"Outage issue {n}"), "could not answer")
    assert breaker.state() == OPEN
    ready = world.readiness()
    assert ready["http_status"] == 200 and ready["status"] == "degraded"
    assert ready["checks"]["llm"] == "circuit_open"

    seen = world.llm.request_count
    short_circuited = ask_and_answer(world, summary="While the breaker is open")
    assert world.llm.request_count == seen, "no call reaches the model while the breaker is open"
    assert_offline_reply(short_circuited, "unavailable right now")

    world.llm.faults.clear()
    time.sleep(breaker.reset_timeout + 0.1)
    assert world.readiness()["checks"]["llm"] == "circuit_half_open"
    probe = ask_and_answer(world, summary="After the reset timeout")
    assert_model_reply(probe)
    assert world.llm.request_count == seen + 1, "exactly one probe call"
    assert breaker.state() == CLOSED
    assert world.readiness()["status"] == "ready"
