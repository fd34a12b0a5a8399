"""Scale benchmarks: the webhook door under load, pipeline overhead, job concurrency, storage, memory.

Each ``bench_*`` function runs one section against real processes on 127.0.0.1 (gunicorn, ``jira-ai
worker``, the Jira simulator, the fake LLM, a private ``redis-server``) and returns plain numbers;
:func:`run_all` runs them side by side and ``bench/run.py`` renders them. Every loop is bounded by a
count and by a time limit (:class:`Sizes`). Run alone with ``python -m bench.scale_bench [--quick]``.

1. webhooks: our verified, deduplicated, enqueuing ``comment-created`` endpoint against a bare Flask
   app answering 204 on the same gunicorn settings (the ceiling), on diskcache and on Redis, in
   interleaved rounds so background load hits every target alike; job workers are frozen meanwhile
   (SIGSTOP), so the door is measured alone.
2. pipeline (``bench.pipeline_bench``): ``Pipeline.process`` in-process with the simulator and the
   fake LLM answering at once, against the same four calls made directly (the ceiling).
3. jobs: 200 jobs with a 1-second LLM latency through 1 and then 2 worker processes.
4. storage (``bench.storage_bench``): ``BudgetGuard.reserve`` + ``settle`` and ``DedupeRepo.claim``
   on diskcache and Redis.
5. memory: resident size of web (gunicorn master + workers) and worker processes at rest, at their peak
   during (1) (a thread samples VmRSS of each process tree every 50 ms; job workers while they work
   the backlog (1) left) and right after it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import procs
from bench.capacity import derive
from bench.load import LoadResult, PreparedRequest, run_load
from bench.pipeline_bench import BIG_BUDGET_USD, bench_pipeline
from bench.sim_site import USER, ask, replies_posted, seed_site, wait_replies
from bench.storage_bench import bench_storage
from connect_app.devtools.stack import LocalStack
from connect_app.jobs.journal import JobJournal
from connect_app.platform.connect.descriptor import WEBHOOK_PATHS
from connect_app.platform.connect.jwt import encode_hs256, query_string_hash
from connect_app.settings import Settings
from connect_app.storage.factory import open_stores

WEBHOOK_PATH = WEBHOOK_PATHS["comment_created"]
FIRST_FAKE_COMMENT_ID = 50_000_000  # webhook bodies name comments far above the simulator's own ids

# A benchmark sends bursts from a few simulated people; the per-person and per-site limits (issue 8)
# would refuse most of them, so they are raised out of the way here.
NO_RATE_LIMITS = {"RATE_LIMIT_USER_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_HOUR": "1000000",
                  "RATE_LIMIT_SITE_PER_MINUTE": "1000000"}


@dataclass(frozen=True)
class Sizes:
    """Every bound of the scale benchmarks (counts and seconds)."""

    web_workers: int = 2
    concurrency: int = 8  # = 2 gunicorn workers x 4 threads: every server thread has a request
    rounds: int = 3
    round_requests: int = 1500
    round_seconds: float = 1.7
    warmup_requests: int = 150
    drain_seconds: float = 2.0
    pipeline_jobs: int = 100
    pipeline_seconds: float = 6.0
    jobs: int = 200
    job_threads: int = 10
    job_timeout: float = 60.0
    llm_latency: float = 1.0
    storage_ops: int = 3000
    storage_seconds: float = 1.5
    redis_benchmark_requests: int = 20_000


QUICK = Sizes(rounds=1, round_requests=300, round_seconds=1.0, warmup_requests=30, drain_seconds=1.0,
              pipeline_jobs=15, pipeline_seconds=3.0, jobs=40, job_timeout=30.0, storage_ops=300,
              storage_seconds=0.5, redis_benchmark_requests=2_000)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


# ================================================================================ 1. webhooks
CEILING = "bare Flask 204 (ceiling)"
DISK = "our webhook, diskcache + SQLite queue"
REDIS = "our webhook, Redis"


@dataclass
class Target:
    """One server under load: where to post, its process, and the stack whose site signs the requests."""

    name: str
    url: str
    server_pid: int
    stack: LocalStack
    issue: str
    own_stack: bool = False  # False: the bare app, which borrows a stack's signer
    redis: procs.RedisServer | None = None

    @property
    def short(self) -> str:
        """The name without "our webhook, "."""
        return self.name.removeprefix("our webhook, ")


def webhook_template(stack: LocalStack, issue: str) -> dict[str, Any]:
    """A ``comment_created`` body exactly as the simulator sends it (captured with delivery paused)."""
    stack.sim.pause_delivery()
    stack.sim.add_comment(issue, USER, "@ai summarize this")
    return stack.sim.deliveries("comment_created")[-1]["payload"]


def webhook_batch(
    template: dict[str, Any], stack: LocalStack, first_id: int, count: int
) -> list[PreparedRequest]:
    """``count`` deliveries of distinct comments (so none is a dedupe repeat), signed like Jira signs them.

    Each carries ``Authorization: JWT`` (HS256 with the site's shared secret, ``iss`` = clientKey,
    the ``qsh`` of this exact URL) and a fresh ``X-Atlassian-Webhook-Identifier``.
    """
    installation = stack.sim.installation()
    assert installation is not None, "install the app first"
    url = stack.app_url + WEBHOOK_PATH
    qsh = query_string_hash("POST", url, installation["app_base_url"])
    now = int(time.time())
    body = json.loads(json.dumps(template))
    comment = body["comment"]
    self_prefix = comment["self"].rsplit("/", 1)[0]
    batch = []
    for n in range(count):
        comment["id"] = str(first_id + n)
        comment["self"] = f"{self_prefix}/{comment['id']}"
        token = encode_hs256({"iss": installation["client_key"], "iat": now, "exp": now + 180, "qsh": qsh},
                             installation["shared_secret"])
        batch.append(PreparedRequest(json.dumps(body).encode("utf-8"), {
            "Authorization": f"JWT {token}",
            "Content-Type": "application/json; charset=UTF-8",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "X-Atlassian-Webhook-Flow": "Primary",
            "User-Agent": "Atlassian Webhook HTTP Client",
        }))
    return batch


def jobs_pending(stack: LocalStack) -> int:
    """Jobs the stack's app has accepted and not yet ended, read from its journal (the shared store).

    With the job workers frozen, the growth of this number is what the door accepted and enqueued.
    """
    settings = Settings.from_env(stack.env(), env_file=None)
    stores = open_stores(settings)
    try:
        return JobJournal(stores.durable).pending()
    finally:
        stores.close()


def start_app_stack(redis: procs.RedisServer | None, db: int, sizes: Sizes) -> tuple[LocalStack, list[str]]:
    """A stack with the product's gunicorn (``sizes.web_workers``) and one job worker, answered once."""
    env = {"MAX_DAILY_COST_USD": BIG_BUDGET_USD, **NO_RATE_LIMITS}
    if redis is not None:
        env["REDIS_URL"] = redis.url(db)
    stack = LocalStack(llm="fake", web_workers=sizes.web_workers, workers=1, env=env)
    try:
        stack.start()
        issues = seed_site(stack, 4)
        ask(stack, issues, 1, "warm-up")  # the worker answers once: every code path is loaded
        if wait_replies(stack.sim, 1, 30) is None:
            raise RuntimeError(f"the warm-up request got no reply\n{stack.logs()[-3000:]}")
    except Exception:
        stack.stop()
        raise
    return stack, issues


def bench_webhooks(sizes: Sizes) -> dict[str, Any]:
    """Section 1 (and 5): door throughput and latency against the bare ceiling; memory of each process."""
    out: dict[str, Any] = {"load_average_before": load_average(), "concurrency": sizes.concurrency,
                           "web_workers": sizes.web_workers, "rounds": sizes.rounds}
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as bare_dir, procs.RedisServer() as redis, \
            open(Path(bare_dir) / "bare.log", "wb") as log:
        bare_proc, bare_url = procs.start_bare_gunicorn(sizes.web_workers, Path(bare_dir), log)
        stacks: list[LocalStack] = []
        try:
            disk_stack, disk_issues = start_app_stack(None, 0, sizes)
            stacks.append(disk_stack)
            redis_stack, redis_issues = start_app_stack(redis, 1, sizes)
            stacks.append(redis_stack)
            targets = [
                Target(CEILING, bare_url + WEBHOOK_PATH, bare_proc.pid, disk_stack, disk_issues[0]),
                Target(DISK, disk_stack.app_url + WEBHOOK_PATH, _pid(disk_stack.web), disk_stack,
                       disk_issues[0], own_stack=True),
                Target(REDIS, redis_stack.app_url + WEBHOOK_PATH, _pid(redis_stack.web), redis_stack,
                       redis_issues[0], own_stack=True, redis=redis),
            ]
            out["web_threads"] = Settings.from_env(disk_stack.env(), env_file=None).web_threads
            out["memory"] = _memory_at_rest(targets)
            for stack in stacks:
                procs.pause(stack.workers[0])  # the door alone: no job runs during the burst
            sampler = procs.RssSampler({f"web: {t.short}": t.server_pid for t in targets}).start()
            try:
                out["targets"] = _load_rounds(targets, sizes)
            finally:
                for name, peak in sampler.stop().items():
                    out["memory"][name]["peak_during_burst"] = peak
            _memory_after_burst(targets, sizes, out["memory"])
        finally:
            for stack in stacks:
                for worker in stack.workers:
                    procs.resume(worker)  # a frozen process cannot act on SIGTERM
                stack.stop()
            procs.stop_group(bare_proc)
    ceiling = out["targets"][CEILING]
    for row in out["targets"].values():
        row["throughput_vs_ceiling"] = round(row["requests_per_s"] / ceiling["requests_per_s"], 3)
        row["p50_vs_ceiling"] = round(row["p50_ms"] / ceiling["p50_ms"], 2) if ceiling["p50_ms"] else None
    out["load_average_after"] = load_average()
    return out


def _pid(proc: subprocess.Popen | None) -> int:
    if proc is None:
        raise RuntimeError("the stack has no web process")
    return proc.pid


def _memory_at_rest(targets: list[Target]) -> dict[str, dict[str, Any]]:
    memory: dict[str, dict[str, Any]] = {}
    for target in targets:
        memory[f"web: {target.short}"] = {"at_rest": procs.tree_rss(target.server_pid)}
        if target.own_stack:
            memory[f"worker: {target.short}"] = {"at_rest": procs.tree_rss(target.stack.workers[0].pid)}
    return memory


def _load_rounds(targets: list[Target], sizes: Sizes) -> dict[str, Any]:
    """Warm each target up, then interleaved rounds: every target sees the same background load."""
    next_id = FIRST_FAKE_COMMENT_ID
    templates = {t.name: webhook_template(t.stack, t.issue) for t in targets if t.own_stack}
    templates[CEILING] = templates[DISK]  # the bare app ignores what it gets; it gets the same bytes
    for target in targets:
        batch = webhook_batch(templates[target.name], target.stack, next_id, sizes.warmup_requests)
        next_id += sizes.warmup_requests
        run_load(target.url, batch, concurrency=sizes.concurrency, max_seconds=10)
    runs: dict[str, list[LoadResult]] = {t.name: [] for t in targets}
    server_cpu = dict.fromkeys(runs, 0.0)
    client_cpu = dict.fromkeys(runs, 0.0)
    pending = {t.name: jobs_pending(t.stack) for t in targets if t.own_stack}
    redis_target = next(t for t in targets if t.redis is not None)
    assert redis_target.redis is not None
    redis_memory, redis_calls = redis_target.redis.used_memory(), redis_target.redis.command_calls()
    for _ in range(sizes.rounds):
        for target in targets:
            batch = webhook_batch(templates[target.name], target.stack, next_id, sizes.round_requests)
            next_id += sizes.round_requests
            cpu, mine = procs.cpu_seconds(target.server_pid), time.process_time()
            runs[target.name].append(run_load(target.url, batch, concurrency=sizes.concurrency,
                                              max_seconds=sizes.round_seconds))
            server_cpu[target.name] += procs.cpu_seconds(target.server_pid) - cpu
            client_cpu[target.name] += time.process_time() - mine
    redis_calls_after = redis_target.redis.command_calls()
    grown = redis_target.redis.used_memory() - redis_memory
    rows: dict[str, Any] = {}
    for target in targets:
        row = rows[target.name] = _merge(runs[target.name])
        answered = max(sum(row["statuses"].values()), 1)
        row["server_cpu_ms_per_request"] = round(server_cpu[target.name] / answered * 1000, 2)
        row["load_generator_cpu_ms_per_request"] = round(client_cpu[target.name] / answered * 1000, 2)
        if target.own_stack:
            row["accepted_and_enqueued"] = jobs_pending(target.stack) - pending[target.name]
    redis_row = rows[REDIS]
    enqueued = redis_row["accepted_and_enqueued"]
    if enqueued <= 0:
        raise RuntimeError("the Redis door accepted nothing: the numbers would mean nothing")
    redis_row["redis"] = procs.command_delta(redis_calls, redis_calls_after, enqueued)
    redis_row["redis_bytes_per_webhook"] = round(grown / enqueued)
    return rows


def _merge(runs: list[LoadResult]) -> dict[str, Any]:
    """Rounds of one target as one row: total answered over total time, percentiles over all requests."""
    merged = LoadResult(sent=sum(r.sent for r in runs), errors=sum(r.errors for r in runs), statuses={},
                        elapsed_s=sum(r.elapsed_s for r in runs),
                        latencies_ms=[ms for run in runs for ms in run.latencies_ms],
                        concurrency=runs[0].concurrency if runs else 0)
    for run in runs:
        for status, count in run.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    row = merged.summary()
    row["rounds_requests_per_s"] = [round(r.requests_per_s, 1) for r in runs]
    return row


def _memory_after_burst(targets: list[Target], sizes: Sizes, memory: dict[str, Any]) -> None:
    """Web RSS right after the burst; then thaw the workers, sampling their RSS as they work the backlog."""
    for target in targets:
        memory[f"web: {target.short}"]["after_burst"] = procs.tree_rss(target.server_pid)
    stacks = [t for t in targets if t.own_stack]
    done = {t.name: replies_posted(t.stack.sim) for t in stacks}
    pending = {t.name: jobs_pending(t.stack) for t in stacks}
    sampler = procs.RssSampler({f"worker: {t.short}": t.stack.workers[0].pid for t in stacks}).start()
    for target in stacks:
        procs.resume(target.stack.workers[0])
    time.sleep(sizes.drain_seconds)
    peaks = sampler.stop()
    for target in stacks:
        row = memory[f"worker: {target.short}"]
        row["peak_during_burst"] = peaks[f"worker: {target.short}"]
        row["after_burst"] = procs.tree_rss(target.stack.workers[0].pid)
        row["jobs_done_while_draining"] = replies_posted(target.stack.sim) - done[target.name]
        row["jobs_ended_while_draining"] = pending[target.name] - jobs_pending(target.stack)
        row["drain_seconds"] = sizes.drain_seconds


# ================================================================================ 3. jobs
def bench_jobs(sizes: Sizes, redis: procs.RedisServer, db: int = 2) -> dict[str, Any]:
    """Section 3: ``sizes.jobs`` jobs with a slow LLM through 1 worker process, then 2 (Redis queue)."""
    out: dict[str, Any] = {"jobs": sizes.jobs, "threads_per_process": sizes.job_threads,
                           "llm_latency_s": sizes.llm_latency, "load_average_before": load_average(),
                           "runs": {}}
    env = {**NO_RATE_LIMITS, "REDIS_URL": redis.url(db), "QUEUE_WORKERS": str(sizes.job_threads),
           "MAX_DAILY_COST_USD": BIG_BUDGET_USD}
    stack = LocalStack(llm="fake", web_workers=sizes.web_workers, workers=1, env=env,
                       fake_llm_latency=sizes.llm_latency)
    try:
        stack.start()
        issues = seed_site(stack, 20)
        for processes in (1, 2):
            if processes == 2:
                stack.start_worker()
            _warm_workers(stack, issues, sizes, processes)
            out["runs"][processes] = _timed_jobs(stack, issues, sizes, redis, processes)
    finally:
        for worker in stack.workers:
            procs.resume(worker)
        stack.stop()
    out["load_average_after"] = load_average()
    return out


def _warm_workers(stack: LocalStack, issues: list[str], sizes: Sizes, processes: int) -> None:
    """Send requests until every worker process has finished at least one job (bounded: 3 rounds)."""
    for attempt in range(3):
        posted = replies_posted(stack.sim)
        count = sizes.job_threads * processes
        ask(stack, issues, count, f"warm-up-{processes}-{attempt}")
        if wait_replies(stack.sim, posted + count, sizes.job_timeout) is None:
            raise RuntimeError(f"warm-up jobs got no reply\n{stack.logs()[-3000:]}")
        logs = [stack.log_dir / f"worker-{n}.log" for n in range(len(stack.workers))]
        if all(path.exists() and "ended:" in path.read_text(errors="replace") for path in logs):
            return


def _timed_jobs(stack: LocalStack, issues: list[str], sizes: Sizes, redis: procs.RedisServer,
                processes: int) -> dict[str, Any]:
    """Freeze the workers, let the door enqueue the jobs, thaw them and time until every reply is posted."""
    for worker in stack.workers:
        procs.pause(worker)
    try:
        pending = jobs_pending(stack)
        ask(stack, issues, sizes.jobs, f"run-{processes}")
        stack.sim.wait_idle(30)
        enqueued = jobs_pending(stack) - pending
        posted = replies_posted(stack.sim)
        llm_before = stack.llm.request_count
        calls_before = redis.command_calls()
        cpu_before = sum(procs.cpu_seconds(w.pid) for w in stack.workers)
        mine_before = time.process_time()
    finally:
        started = time.monotonic()
        for worker in stack.workers:
            procs.resume(worker)
    finished = wait_replies(stack.sim, posted + sizes.jobs, sizes.job_timeout)
    wall = (finished or time.monotonic()) - started
    done = max(replies_posted(stack.sim) - posted, 1)
    worker_cpu = sum(procs.cpu_seconds(w.pid) for w in stack.workers) - cpu_before
    return {
        "processes": processes, "enqueued": enqueued, "replied": done, "completed": finished is not None,
        "wall_s": round(wall, 2), "jobs_per_s": round(done / wall, 2),
        "jobs_per_s_per_process": round(done / wall / processes, 2),
        "ideal_wall_s": round(sizes.jobs / (sizes.job_threads * processes) * sizes.llm_latency, 2),
        "worker_cpu_ms_per_job": round(worker_cpu / done * 1000, 1),
        "simulators_cpu_ms_per_job": round((time.process_time() - mine_before) / done * 1000, 1),
        "llm_calls_per_job": round((stack.llm.request_count - llm_before) / done, 2),
        "redis": procs.command_delta(calls_before, redis.command_calls(), done),
    }


# ================================================================================ everything
def run_all(quick: bool = False) -> dict[str, Any]:
    """Every scale section, in one run; returns their numbers (``bench/run.py`` renders them)."""
    sizes = QUICK if quick else Sizes()
    started = time.perf_counter()
    results: dict[str, Any] = {"sizes": asdict(sizes), "cpus": os.cpu_count(), "section_seconds": {}}

    def timed(name: str, section: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return section()
        finally:
            results["section_seconds"][name] = round(time.perf_counter() - began, 1)

    results["webhooks"] = timed("webhooks", lambda: bench_webhooks(sizes))
    with procs.RedisServer() as redis:
        results["pipeline"] = timed("pipeline", lambda: {
            "diskcache": bench_pipeline(sizes.pipeline_jobs, sizes.pipeline_seconds),
            "Redis": bench_pipeline(sizes.pipeline_jobs, sizes.pipeline_seconds, redis),
        })
        results["storage"] = timed("storage", lambda: bench_storage(
            redis, ops=sizes.storage_ops, seconds=sizes.storage_seconds,
            raw_requests=sizes.redis_benchmark_requests))
        results["jobs"] = timed("jobs", lambda: bench_jobs(sizes, redis))
    results["capacity"] = derive(results)
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the scale sections alone and print their numbers as JSON."""
    parser = argparse.ArgumentParser(description="scale benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args(argv)
    print(json.dumps(run_all(args.quick), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
