"""The durable store fails at the worst moments, in one process, deterministically.

``test_process_faults.py`` (a full disk) and ``test_redis_faults.py`` (Redis restarted) do this to real
processes; here the outage is switched on and off around exactly one step, so the protection that
answers it is proven every run, not only when the timing happens to line up.
"""

from __future__ import annotations

from typing import Any

from connect_app.errors import StorageError
from connect_app.ops.breaker import BreakerRegistry
from tests.faults.world import World, reply_marker

STORE_METHODS = ("get", "set", "add", "incr", "incr_if_within", "delete", "scan", "ping")


def outage_switch(monkeypatch: Any, store: Any) -> dict[str, bool]:
    """Make every call on ``store`` raise StorageError while ``switch["down"]`` is True."""
    switch = {"down": False}
    for name in STORE_METHODS:
        original = getattr(store, name)

        def guarded(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if switch["down"]:
                raise StorageError("storage failed: injected outage")
            return _original(*args, **kwargs)

        monkeypatch.setattr(store, name, guarded)
    return switch


def test_a_job_whose_attempt_ends_while_the_store_is_down_is_recovered_by_its_own_worker(world: World,
                                                                                        monkeypatch):
    """The store fails mid-job (here: at the budget reservation) and stays down while the attempt ends,
    so the job can be neither handed back nor finished: the journal still says this live worker runs
    it, and its queued retry is skipped as 'running elsewhere'. The worker's sweep must take it back."""
    services = world.services
    queue, journal = services.queue, services.journal
    switch = outage_switch(monkeypatch, services.stores.durable)
    reserve = services.budget.reserve

    def reserve_as_the_store_fails(*args: Any, **kwargs: Any) -> Any:
        switch["down"] = True
        return reserve(*args, **kwargs)

    monkeypatch.setattr(services.budget, "reserve", reserve_as_the_store_fails)
    issue = world.new_issue()
    comment = world.ask(issue, "@ai summarize this")
    queue.runner = services.pipeline
    queue.huey.execute(queue.huey.dequeue())
    assert switch["down"], "the outage began during the job"

    monkeypatch.setattr(services.budget, "reserve", reserve)
    switch["down"] = False
    journal.heartbeat(queue.owner)  # this worker is alive: no other worker will take its jobs
    [stuck] = journal.running_under(queue.owner)
    assert world.replies(issue, comment["id"]) == []

    assert queue.recover() == 1, "the sweep re-enqueues a job recorded as running here that no thread runs"
    world.drain()
    assert reply_marker(world.only_reply(issue, comment["id"]))["status"] == "answered"
    assert journal.get(stuck.job_id) is None


def test_a_job_running_here_is_not_taken_by_the_sweep(world: World):
    services = world.services
    queue, journal = services.queue, services.journal
    issue = world.new_issue()
    world.ask(issue, "@ai summarize this")
    queue.runner = services.pipeline
    journal.heartbeat(queue.owner)
    seen: list[int] = []
    original = services.pipeline.process

    def process_and_sweep(*args: Any, **kwargs: Any) -> Any:
        seen.append(queue.recover())  # the maintenance thread sweeps while this job runs
        return original(*args, **kwargs)

    services.pipeline.process = process_and_sweep  # type: ignore[method-assign]
    try:
        world.drain()
    finally:
        del services.pipeline.process
    assert seen == [0]


def test_breakers_work_and_a_process_starts_while_the_store_is_down(world: World, monkeypatch):
    store = world.services.stores.durable
    switch = outage_switch(monkeypatch, store)
    registry = BreakerRegistry(store)
    switch["down"] = True
    breaker = registry.get("llm")  # build_services does this at start: it must not fail
    breaker.before_call()  # fails open: the call goes through
    breaker.record_failure()
    switch["down"] = False
    assert "llm" in registry.names()
    assert [v for _k, v in store.scan("breaker-names:llm")] == ["llm"], "recorded once the store answers"
