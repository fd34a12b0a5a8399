"""Helpers for the process-level fault tests: asking through a LocalStack, counting replies, a Redis
server the test owns (so it can restart it), and a tmpfs the test can fill."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from connect_app.devtools.stack import LocalStack
from connect_app.jobs.journal import JobJournal
from connect_app.settings import Settings
from connect_app.storage.factory import Stores, open_stores
from tests.faults.world import DANA, NO_RATE_LIMITS, PROJECT, reply_marker

#: Settings every process-level stack here runs with: quick leases, no rate limits.
STACK_ENV = {"JOB_LEASE_SECONDS": "2", **NO_RATE_LIMITS}
#: Jira's webhook retries, compressed: 0.3, 0.6, 1.2, 2.4, 4.8 s (the real ones are minutes apart).
SIM_OPTIONS = {"webhook_retry_base_delay": 0.3, "webhook_max_retries": 5}


def start_stack(stack: LocalStack) -> LocalStack:
    """Start ``stack``, install the app, add the requester and the project, and wait until every worker
    beats; print the logs if that fails."""
    try:
        stack.start()
        stack.install()
        stack.sim.add_user(DANA, "Dana Whitfield")
        stack.sim.add_project(PROJECT, "Customer Support")
        wait_for_workers(stack, len(stack.workers))
    except Exception:
        print(stack.logs())
        stack.stop()
        raise
    return stack


def stack_stores(stack: LocalStack) -> Stores:
    """The stack's own stores, opened from this process (close them after use)."""
    return open_stores(Settings.from_env(stack.env(), env_file=None))


def assert_journal_empties(stack: LocalStack, timeout: float = 15.0) -> None:
    """Every accepted job ends: none is left recorded (running or queued) once the requests are answered."""
    stores = stack_stores(stack)
    try:
        journal = JobJournal(stores.durable)
        try:
            wait_for(lambda: journal.pending() == 0, timeout, "the job journal to empty")
        except AssertionError:
            left = [(key, value.get("state"), value.get("owner")) for key, value in stores.durable.scan("job:")]
            raise AssertionError(f"jobs left in the journal: {left}\n{stack.logs()[-4000:]}") from None
    finally:
        stores.close()


def wait_for_workers(stack: LocalStack, count: int, timeout: float = 20.0) -> None:
    """Wait until ``count`` worker processes have sent a heartbeat (they consume from then on)."""
    pids = {str(p.pid) for p in stack.workers}
    stores = stack_stores(stack)
    try:
        def beating() -> bool:
            owners = [key for key, _ in stores.durable.scan("worker:")]
            return sum(any(f":{pid}:" in owner for owner in owners) for pid in pids) >= count

        wait_for(beating, timeout, f"{count} workers to start")
    finally:
        stores.close()


def new_issue(stack: LocalStack, summary: str = "Checkout times out for EU customers") -> str:
    return stack.sim.add_issue(PROJECT, summary, status="In Progress", assignee=DANA, reporter=DANA,
                               description_text=f"{summary} since Friday.")["key"]


def reply_counts(stack: LocalStack, issues: Iterable[str]) -> dict[str, int]:
    """How many replies of ours each request (``comment:<id>``) has, over ``issues``."""
    counts: dict[str, int] = {}
    for issue in set(issues):
        for comment in stack.sim.comments(issue):
            request = reply_marker(comment).get("request")
            if request:
                counts[request] = counts.get(request, 0) + 1
    return counts


def assert_each_answered_once(stack: LocalStack, asked: list[tuple[str, dict[str, Any]]],
                              timeout: float = 40.0) -> None:
    """Wait until every (issue, comment) has a reply, then check none has two."""
    issues = [issue for issue, _ in asked]
    deadline = time.monotonic() + timeout
    missing = asked
    while missing and time.monotonic() < deadline:
        time.sleep(0.25)
        counts = reply_counts(stack, issues)
        missing = [(i, c) for i, c in asked if f"comment:{c['id']}" not in counts]
    assert not missing, f"{len(missing)} of {len(asked)} requests unanswered\n{stack.logs()[-6000:]}"
    time.sleep(1.5)  # let a duplicate surface, if one is coming
    counts = reply_counts(stack, issues)
    twice = {k: v for k, v in counts.items() if v != 1}
    assert not twice, f"requests answered more than once: {twice}"


def delivery_statuses(stack: LocalStack, comment_id: str) -> list[int | None]:
    """The HTTP statuses (None: no answer) of every attempt to deliver a comment's webhook."""
    return [a["status"] for d in stack.sim.deliveries("comment_created")
            if str(d["payload"]["comment"]["id"]) == str(comment_id) for a in d["attempts"]]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A redis-server this test owns, persisting every write (AOF, fsync always) so it can be restarted
    on the same port with its data, as a production Redis with persistence would be."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
        self.binary = binary
        self.workdir = workdir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        try:
            wait_for(lambda: _pings(client), 10, "redis-server to answer")
        finally:
            client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def _pings(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class Tmpfs:
    """A small tmpfs mounted for the test: filling it makes every write fail with ENOSPC, for root too
    (permissions do not stop root; a tmpfs size limit does). Needs the right to mount (CAP_SYS_ADMIN)."""

    def __init__(self, path: Path, size_mb: int = 16) -> None:
        self.path = path
        self.size_mb = size_mb
        self.mounted = False
        self.reason = ""

    def mount(self) -> Tmpfs:
        self.path.mkdir(parents=True, exist_ok=True)
        if shutil.which("mount") is None:
            self.reason = "no mount command"
            return self
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)],
                                capture_output=True, text=True)
        self.mounted = result.returncode == 0
        self.reason = result.stderr.strip()
        return self

    @property
    def filler(self) -> Path:
        return self.path / "filler.bin"

    def fill(self) -> None:
        """Write until the filesystem is full."""
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError), open(self.filler, "wb") as out:  # close() may fail too
            while True:
                out.write(chunk)
                out.flush()
        with contextlib.suppress(OSError), open(self.path / "filler-tail.bin", "wb") as out:
            while True:
                out.write(b"\0" * 512)
                out.flush()

    def free(self) -> None:
        for name in ("filler.bin", "filler-tail.bin"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path / name)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
            self.mounted = False


class Ext4Image:
    """An ext4 filesystem in a loop image, mounted with ``errors=remount-ro``. :meth:`make_read_only`
    triggers the kernel's forced read-only remount (as after a disk error): every write then fails with
    ``EROFS``, for root too and through files already open. A plain ``mount -o remount,ro`` cannot do
    that while the app holds its SQLite files open for writing (the kernel answers EBUSY), and on recent
    kernels nothing but unmounting clears the state, so :meth:`repair` unmounts, checks and mounts the
    image again once the processes using it are stopped. Needs the right to mount (CAP_SYS_ADMIN)."""

    def __init__(self, image: Path, path: Path, size_mb: int = 32) -> None:
        self.image = image
        self.path = path
        self.size_mb = size_mb
        self.mounted = False
        self.reason = ""

    def mount(self) -> Ext4Image:
        """Make the image (once) and mount it; ``mounted`` and ``reason`` say how that went."""
        self.path.mkdir(parents=True, exist_ok=True)
        missing = [tool for tool in ("mount", "umount", "findmnt", "mkfs.ext4", "e2fsck") if shutil.which(tool) is None]
        if missing:
            self.reason = f"missing {', '.join(missing)}"
            return self
        if not self.image.exists():
            with open(self.image, "wb") as out:
                out.truncate(self.size_mb * 1024 * 1024)
            made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", str(self.image)],
                                  capture_output=True, text=True)
            if made.returncode != 0:
                self.reason = made.stderr.strip()
                return self
        result = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.path)],
                                capture_output=True, text=True)
        self.mounted = result.returncode == 0
        self.reason = result.stderr.strip()
        if self.mounted and self._error_trigger() is None:
            self.unmount()
            self.reason = "the kernel has no ext4 trigger_fs_error in /sys/fs/ext4"
        return self

    def _error_trigger(self) -> Path | None:
        found = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(self.path)], capture_output=True, text=True)
        device = Path(found.stdout.strip()).name
        trigger = Path("/sys/fs/ext4") / device / "trigger_fs_error"
        return trigger if device and trigger.exists() else None

    def make_read_only(self) -> None:
        """Report a filesystem error to ext4, which remounts the filesystem read-only at once. What was
        written so far is flushed first: ext4 drops unwritten pages once read-only, and this test is
        about the app, not about a disk losing data it had accepted."""
        trigger = self._error_trigger()
        assert trigger is not None, "the ext4 image is not mounted"
        subprocess.run(["sync", "-f", str(self.path)], capture_output=True)
        trigger.write_text("fault test: the store directory becomes read-only\n")

    def repair(self) -> None:
        """Unmount, check and mount the image again, writable (stop every process using it first)."""
        self.unmount()
        subprocess.run(["e2fsck", "-f", "-y", str(self.image)], capture_output=True)
        self.mount()
        assert self.mounted, f"could not mount the repaired image: {self.reason}"

    def unmount(self) -> None:
        if self.mounted:
            result = subprocess.run(["umount", str(self.path)], capture_output=True, text=True)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
            self.mounted = False
