"""What the scale benchmark's numbers mean for one site and for a vendor: a capacity estimate.

:func:`derive` takes the measured numbers of ``bench.scale_bench.run_all`` and the assumptions
below (each stated in the report) and returns the derived figures; :func:`markdown` writes them as
prose with the arithmetic shown, so a reader can redo it with their own assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

REDIS = "our webhook, Redis"


@dataclass(frozen=True)
class Assumptions:
    """What the benchmark cannot measure; every derived number depends on these."""

    site_requests_per_day: int = 1_000
    sites: int = 10_000
    site_working_hours: float = 8.0  # a site's requests fall in its working day
    site_peak_factor: float = 10.0  # busiest minute of one site against its working-hour average
    vendor_peak_factor: float = 3.0  # busiest hour of 10,000 sites (many time zones) against the 24 h average
    webhooks_per_request: float = 10.0  # Jira sends every comment and issue update, not only @ai ones
    llm_seconds: float = 4.0  # a real model's reply; the benchmark's fake answers in 0 or 1 s
    dedupe_days: float = 7.0  # connect_app.storage.dedupe.DEFAULT_TTL
    cpu_target: float = 0.6  # plan cores at 60 % busy


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return round(sum(items) / len(items), 1) if items else 0.0


def _busiest(row: dict[str, Any]) -> dict[str, Any]:
    """The peak sampled during the burst when there is one, else the reading right after it."""
    return row.get("peak_during_burst") or row["after_burst"]


def _measured(results: dict[str, Any]) -> dict[str, float]:
    """The measured inputs, picked out of the scale results (Redis deployment throughout)."""
    door = results["webhooks"]["targets"][REDIS]
    runs = list(results["jobs"]["runs"].values())
    memory = results["webhooks"]["memory"]
    raw = results["storage"].get("redis_benchmark_ops_per_s") or {}
    return {
        "door_rps": door["requests_per_s"],
        "door_cpu_ms": door["server_cpu_ms_per_request"],
        "door_redis_commands": door["redis"]["commands"],
        "door_redis_round_trips": door["redis"]["round_trips"],
        "worker_cpu_ms": _mean(run["worker_cpu_ms_per_job"] for run in runs),
        "job_redis_commands": _mean(run["redis"]["commands"] for run in runs),
        "job_redis_round_trips": _mean(run["redis"]["round_trips"] for run in runs),
        "pipeline_overhead_ms": results["pipeline"]["Redis"]["overhead_ms_per_job"],
        "threads": results["jobs"]["threads_per_process"],
        "web_rss_mib": _busiest(memory["web: Redis"])["total_mib"],
        "web_worker_rss_mib": max(_busiest(memory["web: Redis"])["children_mib"] or [0]),
        "worker_rss_mib": _busiest(memory["worker: Redis"])["total_mib"],
        "dedupe_key_bytes": results["storage"].get("redis_dedupe_key_bytes") or 0,
        "redis_benchmark_ops_per_s": min(raw.values()) if raw else 0.0,
    }


def _load(requests_per_s: float, m: dict[str, float], a: Assumptions) -> dict[str, float]:
    """Resources for a steady ``requests_per_s`` of @ai requests."""
    webhooks = requests_per_s * a.webhooks_per_request
    in_flight = requests_per_s * (a.llm_seconds + m["pipeline_overhead_ms"] / 1000)
    web_cores = webhooks * m["door_cpu_ms"] / 1000
    worker_cores = requests_per_s * m["worker_cpu_ms"] / 1000
    gunicorn_workers = max(1, math.ceil(web_cores / a.cpu_target))
    # one worker process is one interpreter: plan it at cpu_target of one core, and give it enough
    # threads to hold its share of the jobs that are waiting on the model
    worker_processes = max(1, math.ceil(worker_cores / a.cpu_target))
    processes_at_measured_threads = max(1, math.ceil(in_flight / m["threads"]))
    round_trips = webhooks * m["door_redis_round_trips"] + requests_per_s * m["job_redis_round_trips"]
    return {
        "requests_per_s": requests_per_s,
        "webhooks_per_s": webhooks,
        "jobs_in_flight": in_flight,
        "web_cores": web_cores,
        "door_share_of_measured_box": webhooks / m["door_rps"] if m["door_rps"] else math.inf,
        "gunicorn_workers": gunicorn_workers,
        "worker_cores": worker_cores,
        "worker_processes": worker_processes,
        "threads_per_worker_process": max(1, math.ceil(in_flight / worker_processes)),
        "worker_processes_at_measured_threads": processes_at_measured_threads,
        "redis_commands_per_s": webhooks * m["door_redis_commands"]
        + requests_per_s * m["job_redis_commands"],
        "redis_round_trips_per_s": round_trips,
        "redis_vs_benchmark": round_trips / m["redis_benchmark_ops_per_s"]
        if m["redis_benchmark_ops_per_s"] else math.inf,
        "memory_gib": (gunicorn_workers * m["web_worker_rss_mib"]
                       + worker_processes * m["worker_rss_mib"]) / 1024,
        "memory_gib_at_measured_threads": (gunicorn_workers * m["web_worker_rss_mib"]
                                           + processes_at_measured_threads * m["worker_rss_mib"]) / 1024,
    }


def derive(results: dict[str, Any], assumptions: Assumptions | None = None) -> dict[str, Any]:
    """Site and vendor figures from the measured numbers and ``assumptions``."""
    a = assumptions or Assumptions()
    m = _measured(results)
    site_average = a.site_requests_per_day / (a.site_working_hours * 3600)
    vendor_per_day = a.site_requests_per_day * a.sites
    vendor_average = vendor_per_day / 86_400
    return {
        "assumptions": asdict(a),
        "measured": m,
        "site": {"average_per_s": site_average, **_load(site_average * a.site_peak_factor, m, a),
                 "cpu_seconds_per_day": a.site_requests_per_day
                 * (m["worker_cpu_ms"] + a.webhooks_per_request * m["door_cpu_ms"]) / 1000},
        "vendor": {"requests_per_day": vendor_per_day, "average_per_s": vendor_average,
                   **_load(vendor_average * a.vendor_peak_factor, m, a),
                   "dedupe_gib": vendor_per_day * a.dedupe_days * m["dedupe_key_bytes"] / 2**30},
    }


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def markdown(capacity: dict[str, Any]) -> str:
    """The capacity estimate as Markdown, with each step's arithmetic."""
    a, m = capacity["assumptions"], capacity["measured"]
    site, vendor = capacity["site"], capacity["vendor"]
    inputs = (
        "Measured inputs (Redis deployment, numbers above): the door costs "
        f"**{m['door_cpu_ms']:.2f} ms of gunicorn CPU per accepted webhook** and "
        f"{m['door_redis_round_trips']:g} Redis round trips; a job costs **{m['worker_cpu_ms']:.1f} ms of "
        f"worker CPU** (mean of the two job runs) and {m['job_redis_round_trips']:g} Redis round trips "
        f"({m['job_redis_commands']:g} commands counting those inside Lua; queue polling and heartbeats "
        "included) and adds "
        f"{m['pipeline_overhead_ms']:.0f} ms to the model's and Jira's own time; a web process (master + 2 "
        f"workers) peaks at {m['web_rss_mib']:.0f} MiB under the burst, a job worker at "
        f"{m['worker_rss_mib']:.0f} MiB working its backlog; a retained "
        f"dedupe key takes {m['dedupe_key_bytes']:.0f} bytes of Redis."
    )
    assumptions = (
        f"Assumptions (not measured): {a['webhooks_per_request']:g} webhooks reach the door per `@ai` "
        "request (Jira sends every comment and issue update, and the door verifies each; all are costed "
        "as accepted ones, an upper bound: the others stop before the claim and the enqueue); a real "
        f"model answers in {a['llm_seconds']:g} s; one site's busiest minute is {a['site_peak_factor']:g}x "
        f"its {a['site_working_hours']:g}-hour working-day average; the vendor's busiest hour is "
        f"{a['vendor_peak_factor']:g}x its 24-hour average; cores are planned at {a['cpu_target']:.0%} busy."
    )
    site_text = (
        f"**One site, {a['site_requests_per_day']:,} `@ai` requests a day.** "
        f"{a['site_requests_per_day']:,} / {a['site_working_hours']:g} h = {site['average_per_s']:.3f} "
        f"requests/s, {site['requests_per_s']:.2f}/s at peak ({site['webhooks_per_s']:.1f} webhooks/s, "
        f"{site['door_share_of_measured_box']:.1%} of the {m['door_rps']:.0f}/s the door took on this "
        f"shared 2-core box). That is {site['web_cores'] * 1000:.0f} ms of CPU per second for the web and "
        f"{site['worker_cores'] * 1000:.0f} ms for jobs, with {site['jobs_in_flight']:.1f} jobs in flight "
        f"(the default `QUEUE_WORKERS=4` holds them); the whole day costs {site['cpu_seconds_per_day']:.0f} "
        f"CPU-seconds. One web process and one worker ({m['web_rss_mib'] + m['worker_rss_mib']:.0f} MiB "
        "together) on the embedded diskcache + SQLite setup serve it with room to spare; Redis is not "
        f"needed (on Redis it would see {site['redis_round_trips_per_s']:.0f} round trips/s at peak)."
    )
    vendor_lines = [
        f"**A vendor with {a['sites']:,} such sites.** {vendor['requests_per_day']:,.0f} requests a day = "
        f"{vendor['average_per_s']:.0f}/s on average, **{vendor['requests_per_s']:.0f}/s at peak** "
        f"({_n(vendor['webhooks_per_s'])} webhooks/s):",
        "",
        f"* web: {_n(vendor['webhooks_per_s'])} x {m['door_cpu_ms']:.2f} ms = {vendor['web_cores']:.1f} "
        f"cores, so **{vendor['gunicorn_workers']} gunicorn worker processes** at {a['cpu_target']:.0%} "
        f"(e.g. {math.ceil(vendor['gunicorn_workers'] / 2)} 2-core hosts with `WEB_WORKERS=2`) behind a "
        "load balancer;",
        f"* jobs: {vendor['requests_per_s']:.0f}/s x ({a['llm_seconds']:g} s + "
        f"{m['pipeline_overhead_ms']:.0f} ms) = **{_n(vendor['jobs_in_flight'])} jobs in flight**, and "
        f"{vendor['requests_per_s']:.0f} x {m['worker_cpu_ms']:.1f} ms = {vendor['worker_cores']:.1f} "
        f"cores of job CPU: **{vendor['worker_processes']} worker processes** at {a['cpu_target']:.0%} "
        f"of a core each, with `QUEUE_WORKERS={vendor['threads_per_worker_process']}` threads to hold "
        f"their share of the waiting jobs (with the {m['threads']:g} threads measured here it would take "
        f"{vendor['worker_processes_at_measured_threads']} processes and "
        f"{vendor['memory_gib_at_measured_threads']:.1f} GiB);",
        f"* memory: {vendor['gunicorn_workers']} x {m['web_worker_rss_mib']:.0f} MiB + "
        f"{vendor['worker_processes']} x {m['worker_rss_mib']:.0f} MiB = **{vendor['memory_gib']:.1f} GiB** "
        "(plus a 25 MiB gunicorn master per host);",
        f"* Redis: {_n(vendor['webhooks_per_s'])} x {m['door_redis_round_trips']:g} + "
        f"{vendor['requests_per_s']:.0f} x {m['job_redis_round_trips']:g} = "
        f"**{_n(vendor['redis_round_trips_per_s'])} round trips/s** at peak "
        f"({_n(vendor['redis_commands_per_s'])} commands/s counting those inside Lua), "
        f"{vendor['redis_vs_benchmark']:.1f}x what this redis-server answered to `redis-benchmark` on the "
        f"shared box ({m['redis_benchmark_ops_per_s']:,.0f}/s): a dedicated Redis, and fewer round trips "
        "per job (most are counter updates, the metrics aggregates and the ledger, each its own EVALSHA: "
        "pipelining or batching them is the first saving). Retained dedupe keys: "
        f"{vendor['requests_per_day']:,.0f} x {a['dedupe_days']:g} days x {m['dedupe_key_bytes']:.0f} B = "
        f"**{vendor['dedupe_gib']:.1f} GiB** (only `@ai` requests claim a key); a shorter dedupe TTL "
        "shrinks it in proportion;",
        f"* the model: {_n(vendor['jobs_in_flight'])} concurrent calls at peak: a rate limit to agree with "
        "the provider, not a process count.",
    ]
    return "\n".join(["## What this means for a site and for a vendor", "", inputs, "", assumptions, "",
                      site_text, "", *vendor_lines])
