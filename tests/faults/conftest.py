"""Fixtures for the fault tests: one in-process world per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.world import World, running_world


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory) -> Iterator[World]:
    with running_world(str(tmp_path_factory.mktemp("faults-data"))) as world:
        yield world


@pytest.fixture
def world(shared_world: World) -> Iterator[World]:
    """The module's world with no faults pending, breakers closed and the queue empty."""
    shared_world.reset()
    yield shared_world
    shared_world.sim.faults.clear()
    shared_world.llm.faults.clear()
