"""How long reply validation takes on hostile or very long model output (a unit test only checks it ends)."""

from __future__ import annotations

import contextlib
import time

from connect_app.errors import ValidationFailedError
from connect_app.models import Draft, Intent
from connect_app.pipeline.validate import validate_reply

INPUTS = {
    "12k dashes": "-" * 12000,
    "12k backticks": "`" * 12000,
    "3k '@ai' lines": "@ai\n" * 3000,
    "12k braces": "{" * 12000,
    "2k '[your '": "[your " * 2000,
    "realistic 4 KB summary": (
        "**Current state**\n\n- Status: In Progress\n- Assignee: Dana\n\n"
        + "A paragraph with *emphasis*, `code` and a [link](https://example.com). " * 50
    ),
    "12k chars of nested lists": "".join(f"{'  ' * (i % 6)}- item {i}\n" for i in range(800)),
}


def bench_validate(repeat: int = 3) -> dict[str, float]:
    """Best-of-``repeat`` milliseconds to validate each input."""
    out = {}
    for name, markdown in INPUTS.items():
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            with contextlib.suppress(ValidationFailedError):
                validate_reply(Draft(intent=Intent.COMMENT_REQUEST, markdown=markdown))
            best = min(best, (time.perf_counter() - started) * 1000)
        out[name] = best
    return out
