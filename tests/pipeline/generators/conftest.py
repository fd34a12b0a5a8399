"""Fixtures for generator tests: a recording fake model gateway and a realistic issue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from connect_app.models import CommentInfo, Completion, IssueContext, Usage


@dataclass
class FakeGateway:
    """Records every call; returns ``reply`` or raises ``error``."""

    reply: str = "A grounded reply."
    error: Exception | None = None
    available: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def complete(self, **kwargs: Any) -> Completion:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return Completion(text=self.reply, model="fake-model", provider="fake",
                          usage=Usage(100, 50), cost_micros=420, cached=False)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def issue() -> IssueContext:
    return IssueContext(
        key="SUP-42",
        summary="Checkout fails on Safari",
        description=("Customers on Safari 17 cannot complete checkout. The payment iframe never loads. "
                     "This started after the 3.2 release."),
        status="In Progress", status_category="In Progress", issue_type="Bug", priority="High",
        assignee="Dana Lee", reporter="Sam Ortiz", due_date="2024-06-14", labels=["payments", "safari"],
        project_key="SUP", requester_name="Alex Kim",
        comments=[
            CommentInfo("1", "acc-1", "Sam Ortiz", "Is there a workaround for customers? Could we roll back?",
                        "2024-06-01T10:00:00.000+0000"),
            CommentInfo("2", "acc-2", "Dana Lee",
                        "We decided to keep 3.2 and patch the CSP header. The fix is in review.",
                        "2024-06-02T09:30:00.000+0000"),
            CommentInfo("3", "app", "Jira AI Assistant", "**Summary** The checkout bug is being fixed.",
                        "2024-06-02T10:00:00.000+0000", is_ai=True),
            CommentInfo("4", "acc-3", "Alex Kim", "@ai make it shorter", "2024-06-03T08:00:00.000+0000"),
        ],
    )


@pytest.fixture
def make_gateway():
    """The FakeGateway class, to build variants (``make_gateway(error=...)``)."""
    return FakeGateway
