"""Process helpers for the scale benchmarks: resident memory, a private redis-server, the bare gunicorn.

Everything here starts processes on 127.0.0.1 only and stops exactly the processes it started
(by process group, since each is started in a session of its own).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from connect_app.devtools.stack import free_port, wait_http
from connect_app.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ memory
def rss_kib(pid: int) -> int:
    """The resident set size (``VmRSS``) of ``pid`` in KiB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (read from ``/proc/*/stat``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces: the ppid follows the last ')'
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry))
    return sorted(found)


def tree_rss(pid: int) -> dict[str, Any]:
    """RSS of ``pid`` and of each of its descendants (gunicorn's workers), in MiB, and their total."""
    parent = rss_kib(pid)
    children = [rss_kib(child) for child in tree_pids(pid)[1:]]
    return {
        "process_mib": round(parent / 1024, 1),
        "children_mib": [round(kib / 1024, 1) for kib in children],
        "total_mib": round((parent + sum(children)) / 1024, 1),
    }


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    pids, pending = [], [pid]
    while pending:
        current = pending.pop(0)
        pids.append(current)
        pending.extend(children_of(current))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` and its live descendants (from ``/proc/*/stat``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for current in tree_pids(pid):
        try:
            with open(f"/proc/{current}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


class RssSampler:
    """A thread sampling the VmRSS of process trees every ``interval`` s: the peak of each tree's total.

    ``trees`` maps a name to a root pid. The pids of each tree (the root and its descendants, e.g.
    gunicorn's workers) are found once at start and again every ``rescan`` s; between rescans a
    sample reads only ``/proc/<pid>/status`` of the known pids, so sampling stays cheap on a busy box.
    """

    def __init__(self, trees: dict[str, int], *, interval: float = 0.05, rescan: float = 1.0) -> None:
        self.trees, self.interval, self.rescan = dict(trees), interval, rescan
        self.samples = 0
        self._peak: dict[str, tuple[int, list[int]]] = {name: (0, []) for name in trees}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        """Start sampling (one sample is taken before this returns)."""
        self._pids = {name: tree_pids(pid) for name, pid in self.trees.items()}
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, dict[str, Any]]:
        """Stop (after one last sample) and return each tree's peak, shaped like :func:`tree_rss`."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        return {name: self.peak(name) for name in self.trees}

    def peak(self, name: str) -> dict[str, Any]:
        """The sample with the largest total for ``name``: that moment's root and descendants, MiB."""
        total, parts = self._peak[name]
        return {"process_mib": round((parts[0] if parts else 0) / 1024, 1),
                "children_mib": [round(kib / 1024, 1) for kib in parts[1:]],
                "total_mib": round(total / 1024, 1), "samples": self.samples}

    def __enter__(self) -> RssSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()

    def _run(self) -> None:
        rescanned = time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - rescanned >= self.rescan:
                self._pids = {name: tree_pids(pid) for name, pid in self.trees.items()}
                rescanned = time.monotonic()
            self._sample()

    def _sample(self) -> None:
        for name, pids in self._pids.items():
            parts = [rss_kib(pid) for pid in pids]
            if sum(parts) > self._peak[name][0]:
                self._peak[name] = (sum(parts), parts)
        self.samples += 1


# --------------------------------------------------------------------------------- process groups
def pause(proc: subprocess.Popen) -> None:
    """Freeze a process started in its own session (SIGSTOP to its group)."""
    os.killpg(proc.pid, signal.SIGSTOP)


def resume(proc: subprocess.Popen) -> None:
    """Thaw a process frozen by :func:`pause`."""
    os.killpg(proc.pid, signal.SIGCONT)


def stop_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the process group of ``proc`` (started with a session of its own), SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# ------------------------------------------------------------------------------------------ redis
class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port (no persistence), for one benchmark run."""

    def __init__(self) -> None:
        """Nothing starts until :meth:`start` (or ``with``)."""
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._client: Any = None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise ConfigError("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self._dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)
            finally:
                client.close()
        return self

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:<port>/<db>``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> Any:
        """A redis-py client on this server (database 0 is kept for the benchmark's own questions)."""
        import redis

        if db:
            return redis.Redis(port=self.port, db=db)
        if self._client is None:
            self._client = redis.Redis(port=self.port)
        return self._client

    def info(self, section: str = "stats") -> dict[str, Any]:
        """``INFO <section>`` as a dict (each call is one INFO command on the server)."""
        return dict(self.client().info(section))

    def command_calls(self) -> dict[str, int]:
        """Calls per command name since start (``INFO commandstats``; commands run inside Lua included)."""
        stats = self.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}

    def used_memory(self) -> int:
        """Bytes of memory the server's data uses (``used_memory``)."""
        return int(self.info("memory")["used_memory"])

    def raw_ops_per_s(self, requests: int = 40_000, clients: int = 8) -> dict[str, float]:
        """``redis-benchmark`` SET and INCR on this server (no pipelining): what one instance takes here."""
        binary = shutil.which("redis-benchmark")
        if binary is None:
            return {}
        result = subprocess.run(
            [binary, "-h", "127.0.0.1", "-p", str(self.port), "-t", "set,incr", "-n", str(requests),
             "-c", str(clients), "--csv"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        rates = {}
        for line in result.stdout.splitlines()[1:]:
            cells = [cell.strip('"') for cell in line.split(",")]
            if len(cells) > 1:
                rates[cells[0].lower()] = float(cells[1])
        return rates

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc is not None:
            stop_group(self.proc, timeout=10)
            self.proc = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# What RedisStore's Lua scripts run inside one EVALSHA (INCRBY, PTTL, PEXPIRE; their GET is rare and left in).
LUA_INNER_COMMANDS = ("incrby", "pttl", "pexpire")


def command_delta(before: dict[str, int], after: dict[str, int], per: int) -> dict[str, Any]:
    """What the clients asked Redis for between two :meth:`RedisServer.command_calls`, per unit of work.

    ``commands`` counts every command executed, those run inside our Lua scripts included (a budget
    or counter update is one EVALSHA round trip that runs INCRBY/PTTL/PEXPIRE inside);
    ``round_trips`` leaves the scripts' inner commands out; ``evalsha`` counts the scripts. The
    benchmark's own INFO calls are left out.
    """
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    delta = {name: n for name, n in delta.items() if n > 0 and name != "info"}
    per = max(per, 1)
    top = sorted(delta.items(), key=lambda item: -item[1])[:6]
    inside_scripts = sum(delta.get(name, 0) for name in LUA_INNER_COMMANDS)
    return {"commands": round(sum(delta.values()) / per, 1),
            "round_trips": round((sum(delta.values()) - inside_scripts) / per, 1),
            "evalsha": round(delta.get("evalsha", 0) / per, 1),
            "top": {name: round(n / per, 1) for name, n in top}}


# ------------------------------------------------------------------------------- bare gunicorn
def bare_gunicorn_env(web_workers: int, data_dir: Path) -> dict[str, str]:
    """The environment for the bare app: the product's gunicorn settings, nothing else configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "REDIS_"))}
    env.update({"WEB_WORKERS": str(web_workers), "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
                "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "prometheus")})
    (data_dir / "prometheus").mkdir(parents=True, exist_ok=True)
    return env


def start_bare_gunicorn(web_workers: int, data_dir: Path, log: IO[bytes]) -> tuple[subprocess.Popen, str]:
    """Serve ``bench.bare_app:create_app()`` with ``connect_app.gunicorn_conf``; returns (process, URL)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:connect_app.gunicorn_conf", "--bind",
               f"127.0.0.1:{port}", "bench.bare_app:create_app()"]
    proc = subprocess.Popen(command, env=bare_gunicorn_env(web_workers, data_dir), cwd=REPO_ROOT, stdout=log,
                            stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz")
    except TimeoutError:
        stop_group(proc)
        raise
    return proc, url
