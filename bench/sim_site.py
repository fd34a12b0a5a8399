"""The simulated site the scale benchmarks talk to: seeding it, asking ``@ai``, counting the app's replies."""

from __future__ import annotations

import time

from connect_app.devtools.jira_sim import JiraSimulator
from connect_app.devtools.stack import LocalStack

USER = "5b10ac8d82e05b22cc7d4e01"
PROJECT = "BENCH"


def seed_site(stack: LocalStack, issues: int) -> list[str]:
    """Install the app on the stack's simulator, add a user, a project and ``issues`` issues."""
    stack.install()
    stack.sim.add_user(USER, "Bench User")
    stack.sim.add_project(PROJECT, "Bench")
    return [stack.sim.add_issue(PROJECT, f"Export stalls on node {n}", status="In Progress",
                                description_text=f"The nightly export stalls at {n % 10}0% on node {n}.",
                                )["key"]
            for n in range(issues)]


def replies_posted(sim: JiraSimulator) -> int:
    """How many comments the app has posted on the simulator (successful ``POST .../comment``)."""
    return sum(1 for call in sim.calls("/comment", method="POST") if call["status"] == 201)


def wait_replies(sim: JiraSimulator, target: int, timeout: float, poll: float = 0.05) -> float | None:
    """Wait until ``target`` replies were posted; the monotonic time it happened, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replies_posted(sim) >= target:
            return time.monotonic()
        time.sleep(poll)
    return None


def ask(stack: LocalStack, issues: list[str], count: int, tag: str) -> None:
    """Post ``count`` ``@ai`` comments (distinct words, so no cache answers them) across ``issues``."""
    for n in range(count):
        stack.sim.add_comment(issues[n % len(issues)], USER, f"@ai summarize this ({tag} {n})")
