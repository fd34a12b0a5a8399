"""Running a LocalStack for a test module: start, install, seed people and projects, logs on failure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from connect_app.devtools.stack import LocalStack


@contextmanager
def running(stack: LocalStack, *, users: Mapping[str, str] | None = None,
            projects: Mapping[str, str] | None = None) -> Iterator[LocalStack]:
    """Start ``stack``, install the app, add ``users`` (id -> name) and ``projects`` (key -> name).

    A failure while starting or inside the block prints every process log before it propagates;
    the stack is stopped either way.
    """
    try:
        stack.start()
        stack.install()
        for account_id, name in (users or {}).items():
            stack.sim.add_user(account_id, name)
        for key, name in (projects or {}).items():
            stack.sim.add_project(key, name)
        yield stack
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.stop()
