"""A whole local deployment for the demo, end-to-end tests and benchmarks.

It starts the Jira simulator (and the fake LLM when asked) in this process, and the real app as
real processes: gunicorn serving ``connect_app:create_app()`` and ``jira-ai worker``, configured only
through environment variables, exactly as an operator would run them. ``door`` chooses how the site
reaches the app: ``"connect"`` (signed install, webhooks) or ``"forge"`` (a Forge Remote installation:
FITs signed by the simulator's JWKS, trigger events, system tokens).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

DOORS = ("connect", "forge")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, *, timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers 2xx, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


class LocalStack:
    """Simulator + app web process(es) + worker process(es), wired together on loopback."""

    def __init__(
        self,
        *,
        llm: str = "offline",
        data_dir: str | Path | None = None,
        web_workers: int = 1,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        log_dir: str | Path | None = None,
        fake_llm_latency: float = 0.0,
        keep: bool = False,
        door: str = "connect",
        sim_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``llm`` is "offline" (no key), "fake" (the OpenAI-compatible fake server) or "env" (the
        OPENAI_* and LLM_* variables of this process, as an operator configured them); ``door`` is
        "connect" or "forge"; ``sim_options`` are passed to :class:`JiraSimulator`.
        """
        if door not in DOORS:
            raise ValueError(f"door must be one of {', '.join(DOORS)}, not {door!r}")
        self.door = door
        self.sim_options = dict(sim_options or {})
        self.forge_app_id = f"ari:cloud:ecosystem::app/{uuid.uuid4()}"
        self.llm_mode = llm
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="jira-ai-stack-"))
        self.log_dir = Path(log_dir or self.data_dir / "logs")
        self.web_workers = web_workers
        self.worker_count = workers
        self.extra_env = dict(env or {})
        self.fake_llm_latency = fake_llm_latency
        self.keep = keep
        self.port = free_port()
        self.app_url = f"http://127.0.0.1:{self.port}"
        self.sim: Any = None
        self.llm: Any = None
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.tenant_id: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def env(self) -> dict[str, str]:
        """The environment the app processes run with."""
        from ..settings import Settings

        inherited = Settings.child_environment()
        llm_vars = ("OPENAI_", "LLM_")
        env = {
            k: v for k, v in inherited.items()
            if not k.startswith((*llm_vars, "REDIS_")) or (self.llm_mode == "env" and k.startswith(llm_vars))
        }
        env.update(
            {
                "APP_BASE_URL": self.app_url,
                "DATA_DIR": str(self.data_dir / "app"),
                "CONNECT_INSTALL_KEYS_URL": f"{self.sim.base_url}/connect-keys",
                "CONNECT_ALLOWED_HOSTS": "*.atlassian.net,127.0.0.1",
                "SECRET_KEY": "local-stack-secret-key-0123456789",
                "JOB_RETRY_DELAY_SECONDS": "0.5",
                "LOG_LEVEL": "INFO",
                "BIND": f"127.0.0.1:{self.port}",
                "WEB_WORKERS": str(self.web_workers),
                "PYTHONUNBUFFERED": "1",
                "PROMETHEUS_MULTIPROC_DIR": str(self.data_dir / "prometheus"),
            }
        )
        if self.llm is not None:
            env.update(
                {
                    "LLM_PROVIDER": "openai",
                    "OPENAI_API_KEY": "sk-local-fake-key-000000",
                    "OPENAI_API_BASE_URL": self.llm.base_url,
                    "LLM_TIMEOUT_SECONDS": "10",
                    "LLM_MAX_RETRIES": "1",
                }
            )
        elif self.llm_mode != "env":
            env["LLM_PROVIDER"] = "offline"
        if self.door == "forge":
            env.update(
                {
                    "FORGE_APP_ID": self.forge_app_id,
                    "FORGE_JWKS_URL": self.sim.forge_jwks_url,
                    "FORGE_ALLOWED_API_HOSTS": "127.0.0.1",
                    "FORGE_TOKEN_WAIT_SECONDS": "2",
                }
            )
        env.update(self.extra_env)
        return env

    def start(self) -> LocalStack:
        """Start everything and install the app on the simulated site."""
        from .jira_sim import JiraSimulator

        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "prometheus").mkdir(parents=True, exist_ok=True)
        self.sim = JiraSimulator(**self.sim_options)
        self.sim.start()
        if self.llm_mode == "fake":
            from .fake_llm import FakeLLMServer

            self.llm = FakeLLMServer(latency=self.fake_llm_latency)
            self.llm.start()
        self.start_web()
        for _ in range(self.worker_count):
            self.start_worker()
        return self

    def start_web(self) -> None:
        """Start gunicorn serving the app and wait until it answers."""
        from ..cli import gunicorn_command
        from ..settings import Settings

        settings = Settings.from_env(self.env(), env_file=None)
        log = open(self.log_dir / "web.log", "ab")  # noqa: SIM115 - the child owns it
        self.web = subprocess.Popen(
            gunicorn_command(settings), env=self.env(), stdout=log, stderr=log, start_new_session=True
        )
        wait_http(self.app_url + "/healthz")

    def stop_web(self, *, sig: int = signal.SIGTERM) -> None:
        """Stop gunicorn (the master and its workers); :meth:`start_web` starts it again."""
        if self.web is None:
            return
        if self.web.poll() is None:
            os.killpg(self.web.pid, sig)
        try:
            self.web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.web.pid, signal.SIGKILL)
            self.web.wait(timeout=5)
        self.web = None

    def start_worker(self) -> subprocess.Popen:
        """Start one ``jira-ai worker`` process."""
        index = len(self.workers)
        log = open(self.log_dir / f"worker-{index}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "connect_app.cli", "worker"],
            env=self.env(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen, *, sig: int = signal.SIGKILL) -> None:
        """Kill a worker process (SIGKILL by default: no chance to clean up)."""
        os.killpg(proc.pid, sig)
        proc.wait(timeout=10)
        self.workers.remove(proc)

    def install(self) -> str:
        """Install the app through this stack's door; returns the site's tenant id."""
        return self.install_forge() if self.door == "forge" else self.install_connect()

    def install_connect(self) -> str:
        """Install the app on the simulated site the way Jira does; returns the site's clientKey."""
        result = self.sim.install(self.app_url)
        if not result.get("installed"):
            detail = result.get("response") or result.get("error")
            raise RuntimeError(f"the app refused the install: {result.get('status')} {detail}")
        self.tenant_id = result["installation"]["client_key"]
        return self.tenant_id

    def install_forge(self) -> str:
        """Install the Forge app (remote: this stack's app) and wait until the app accepted the
        ``avi:forge:installed:app`` event; returns the installationId (the site's tenant id).
        """
        result = self.sim.install_forge(self.app_url, app_id=self.forge_app_id)
        deliveries = result["deliveries"]
        if not deliveries or any(d["state"] != "delivered" for d in deliveries):
            attempts = [a for d in deliveries for a in d["attempts"]]
            last = attempts[-1] if attempts else {}
            raise RuntimeError(f"the app refused the Forge install event: {last.get('status')} "
                               f"{last.get('response') or last.get('error')}")
        self.tenant_id = result["installation"]["installation_id"]
        return self.tenant_id

    def stop(self) -> None:
        """Stop every process and server; remove the data directory if this stack made it."""
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.workers.clear()
        self.web = None
        if self.llm is not None:
            self.llm.stop()
        if self.sim is not None:
            self.sim.stop()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def logs(self) -> str:
        """Every process log, for failure messages."""
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            out.append(f"===== {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(out)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
