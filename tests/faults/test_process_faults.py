"""Processes stop, restart and run out of disk; every accepted request is still answered exactly once.

Real processes through ``LocalStack``: gunicorn serving the app, ``jira-ai worker`` processes, the Jira
simulator delivering signed webhooks and retrying failed deliveries as Jira does (compressed here to
0.3-4.8 s). A worker killed mid-job is ``tests/e2e/test_connect_e2e.py::
test_a_worker_killed_mid_job_still_gives_exactly_one_reply``; Redis restarted is ``test_redis_faults.py``.

The store directory (``DATA_DIR``) is a 16 MiB tmpfs mounted by the test. These tests run as root, for
whom ``chmod`` stops no write; filling the tmpfs does (``ENOSPC`` binds root too), and it is the
common way a store stops taking writes in production. A store directory that turns read-only (``EROFS``)
mid-run is an ext4 image the kernel remounts read-only on a reported error, on a stack of its own (see
``procs.Ext4Image`` for why not ``mount -o remount,ro``). Without the right to mount, those tests are
skipped and say why.
"""

from __future__ import annotations

import shutil
import signal
import time

import pytest
import requests

from connect_app.devtools.stack import LocalStack
from tests.faults.procs import (
    SIM_OPTIONS,
    STACK_ENV,
    Ext4Image,
    Tmpfs,
    assert_each_answered_once,
    assert_journal_empties,
    delivery_statuses,
    new_issue,
    start_stack,
    wait_for,
)
from tests.faults.world import DANA

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    root = tmp_path_factory.mktemp("process-faults")
    tmpfs = Tmpfs(root / "app").mount()
    yield root, tmpfs
    tmpfs.free()
    tmpfs.unmount()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(disk):
    root, _tmpfs = disk
    s = start_stack(LocalStack(data_dir=root, env=STACK_ENV, sim_options=SIM_OPTIONS))
    yield s
    s.stop()


def readiness(stack: LocalStack) -> tuple[int, dict]:
    res = requests.get(stack.app_url + "/readyz", timeout=10)
    return res.status_code, res.json()


def test_the_web_process_restarted_with_jobs_queued_answers_each_request_once(stack):
    for worker in list(stack.workers):  # nothing consumes: accepted jobs wait in the queue
        stack.kill_worker(worker, sig=signal.SIGINT)
    issue = new_issue(stack)
    queued = [stack.sim.add_comment(issue, DANA, f"@ai summarize this (queued {n})") for n in range(3)]
    assert stack.sim.wait_idle(10)
    assert all(delivery_statuses(stack, c["id"]) == [204] for c in queued)

    stack.stop_web()
    during = [stack.sim.add_comment(issue, DANA, f"@ai write a status update (while down {n})") for n in range(2)]
    wait_for(lambda: all(None in delivery_statuses(stack, c["id"]) for c in during), 10,
             "deliveries to fail while the web process is down")
    stack.start_web()
    stack.start_worker()

    asked = [(issue, c) for c in queued + during]
    assert_each_answered_once(stack, asked)
    for c in during:  # refused while down, accepted once back: Jira's retry did the work
        statuses = delivery_statuses(stack, c["id"])
        assert statuses[0] is None and statuses[-1] == 204, statuses
    assert_journal_empties(stack)


def test_a_full_store_disk_answers_503_is_not_ready_and_loses_nothing(stack, disk):
    _root, tmpfs = disk
    if not tmpfs.mounted:
        pytest.skip(f"cannot mount a tmpfs to fill (needs CAP_SYS_ADMIN): {tmpfs.reason}")
    issue = new_issue(stack)
    status, body = readiness(stack)
    assert status == 200 and body["checks"]["storage"] == "ok"

    tmpfs.fill()
    try:
        status, body = readiness(stack)
        assert status == 503 and body["status"] == "not_ready" and body["checks"]["storage"] == "failing", body
        during = [stack.sim.add_comment(issue, DANA, f"@ai summarize this (disk full {n})") for n in range(2)]
        wait_for(lambda: all(503 in delivery_statuses(stack, c["id"]) for c in during), 10,
                 "deliveries to be refused with 503")
        refused = [a for d in stack.sim.deliveries("comment_created") for a in d["attempts"] if a["status"] == 503]
        assert all("storage_error" in a["response"] for a in refused), refused[0]["response"]
        time.sleep(1.0)  # a few of Jira's retries meet the full disk too
    finally:
        tmpfs.free()

    assert_each_answered_once(stack, [(issue, c) for c in during])
    wait_for(lambda: readiness(stack)[0] == 200, 10, "readiness once the disk has room")
    for c in during:
        statuses = delivery_statuses(stack, c["id"])
        assert statuses[0] == 503 and statuses[-1] == 204 and 500 not in statuses, statuses
    assert_journal_empties(stack)


@pytest.fixture(scope="module")
def ro_disk(tmp_path_factory):
    root = tmp_path_factory.mktemp("read-only-store")
    fs = Ext4Image(root / "store.img", root / "app").mount()
    yield root, fs
    fs.unmount()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ro_stack(ro_disk):
    root, fs = ro_disk
    if not fs.mounted:
        pytest.skip(f"cannot mount an ext4 image to make read-only (needs CAP_SYS_ADMIN and loop devices): "
                    f"{fs.reason}")
    s = start_stack(LocalStack(data_dir=root, env=STACK_ENV, sim_options=SIM_OPTIONS))
    yield s
    s.stop()


def test_a_read_only_store_directory_answers_503_is_not_ready_and_loses_nothing(ro_stack, ro_disk):
    """The store's filesystem turns read-only mid-run (EROFS, as after a disk error): the door refuses
    with 503 ``storage_error``, ``/readyz`` says not ready. The operator restarts the processes on the
    checked, writable filesystem within Jira's retries, which then deliver: each request answered once."""
    stack, (_root, fs) = ro_stack, ro_disk
    issue = new_issue(stack)
    status, body = readiness(stack)
    assert status == 200 and body["checks"]["storage"] == "ok"

    fs.make_read_only()
    try:
        status, body = readiness(stack)
        assert status == 503 and body["status"] == "not_ready" and body["checks"]["storage"] == "failing", body
        during = [stack.sim.add_comment(issue, DANA, f"@ai summarize this (read-only {n})") for n in range(2)]
        wait_for(lambda: all(503 in delivery_statuses(stack, c["id"]) for c in during), 10,
                 "deliveries to be refused with 503")
        refused = [a for d in stack.sim.deliveries("comment_created") for a in d["attempts"] if a["status"] == 503]
        assert refused and all("storage_error" in a["response"] for a in refused), refused
    finally:  # the operator's restart: processes down, filesystem checked and writable, processes up
        stack.stop_web(sig=signal.SIGKILL)
        for worker in list(stack.workers):
            stack.kill_worker(worker)
        fs.repair()
        stack.start_web()
        stack.start_worker()

    assert_each_answered_once(stack, [(issue, c) for c in during])
    wait_for(lambda: readiness(stack)[0] == 200, 10, "readiness once the store is writable")
    for c in during:
        statuses = delivery_statuses(stack, c["id"])
        assert statuses[0] == 503 and statuses[-1] == 204 and 500 not in statuses, statuses
    assert_journal_empties(stack)
