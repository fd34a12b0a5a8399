"""Task completion branches that change nothing: no done transition in the workflow, already done."""

from __future__ import annotations

import pytest

from tests.pipeline.sim_world import pipeline_world

DONE_TRANSITION = "31"  # the simulator's "Done" transition


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pipeline_world(tmp_path_factory.mktemp("data")) as w:
        yield w


def test_no_done_transition_is_explained_and_nothing_changes(world):
    sim = world.sim
    issue = sim.add_issue("SUP", "Rotate the API keys", status="In Progress")["key"]
    with sim.state.lock:
        done = sim.state.transitions.pop(DONE_TRANSITION)
    try:
        event = world.ask(issue, "@ai mark this done, the keys are rotated")
        sim.clear_calls()
        outcome = world.services.pipeline.process(event)
    finally:
        with sim.state.lock:
            sim.state.transitions[DONE_TRANSITION] = done
    assert outcome.status == "posted" and outcome.transitioned_to is None
    assert outcome.draft.data["action_result"] == "no_done_transition"
    assert sim.calls("/transitions", method="GET"), "the workflow was looked at"
    assert sim.calls("/transitions", method="POST") == []
    assert sim.issue(issue)["fields"]["status"]["name"] == "In Progress"
    [reply] = world.replies(issue)
    assert "couldn't find a transition from In Progress to a done status" in reply["text"]
    assert "nothing was changed" in reply["text"]


def test_already_done_is_explained_and_nothing_changes(world):
    sim = world.sim
    issue = sim.add_issue("SUP", "Renew the TLS certificate", status="Done")["key"]
    event = world.ask(issue, "@ai close this, the certificate is renewed")
    sim.clear_calls()
    outcome = world.services.pipeline.process(event)
    assert outcome.status == "posted" and outcome.transitioned_to is None
    assert outcome.draft.data["action_result"] == "already_done"
    assert sim.calls("/transitions", method="POST") == []
    assert sim.issue(issue)["fields"]["status"]["name"] == "Done"
    [reply] = world.replies(issue)
    assert f"{issue} is already in Done" in reply["text"]
    assert "nothing to change" in reply["text"]
