"""The capacity estimate and the scale sections of the report, from a synthetic set of measurements."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from bench import capacity, run
from bench.scale_bench import WEBHOOK_PATH, webhook_batch
from connect_app.platform.connect import jwt as cjwt


def redis_row(commands: float, round_trips: float) -> dict:
    return {"commands": commands, "round_trips": round_trips, "evalsha": 1.0, "top": {"get": 2.0}}


def door_row(rps: float, cpu: float, **extra) -> dict:
    return {"requests": 1000, "statuses": {"204": 1000}, "requests_per_s": rps, "p50_ms": 10.0, "p99_ms": 40.0,
            "server_cpu_ms_per_request": cpu, "load_generator_cpu_ms_per_request": 1.0,
            "throughput_vs_ceiling": 1.0, "p50_vs_ceiling": 1.0, **extra}


def rss(total: float, children: list[float]) -> dict:
    return {"process_mib": total - sum(children), "children_mib": children, "total_mib": total}


def job_run(processes: int, cpu: float) -> dict:
    return {"processes": processes, "enqueued": 200, "replied": 200, "completed": True, "wall_s": 20.0 / processes,
            "jobs_per_s": 10.0 * processes, "jobs_per_s_per_process": 10.0, "ideal_wall_s": 20.0 / processes,
            "worker_cpu_ms_per_job": cpu, "simulators_cpu_ms_per_job": 15.0, "llm_calls_per_job": 1.0,
            "redis": redis_row(120.0, 80.0)}


@pytest.fixture
def scale() -> dict:
    pipeline = {"jobs": 50, "ours_ms_per_job": 60.0, "ours_p50_ms": 55.0, "ours_p99_ms": 90.0,
                "ceiling_ms_per_job": 30.0, "ceiling_p50_ms": 28.0, "ceiling_p99_ms": 50.0, "ratio": 2.0,
                "overhead_ms_per_job": 30.0, "llm_calls_per_job": 1.0}
    results = {
        "sizes": {"round_requests": 1500, "round_seconds": 2.0, "drain_seconds": 3.0},
        "cpus": 2, "runtime_s": 150.0, "section_seconds": {"webhooks": 70.0},
        "webhooks": {
            "concurrency": 8, "web_workers": 2, "web_threads": 4, "rounds": 3,
            "load_average_before": [1.0, 1.0, 1.0], "load_average_after": [1.2, 1.0, 1.0],
            "targets": {
                "bare Flask 204 (ceiling)": door_row(600.0, 1.0),
                "our webhook, diskcache + SQLite queue": door_row(150.0, 4.0, accepted_and_enqueued=1000),
                capacity.REDIS: door_row(200.0, 4.0, accepted_and_enqueued=1000, redis=redis_row(5.0, 5.0),
                                         redis_bytes_per_webhook=1400),
            },
            "memory": {
                "web: bare Flask 204 (ceiling)": {"at_rest": rss(85, [30, 30]), "after_burst": rss(86, [30, 31]),
                                                  "peak_during_burst": rss(90, [32, 33])},
                "web: Redis": {"at_rest": rss(215, [95, 95]), "after_burst": rss(225, [100, 100]),
                               "peak_during_burst": rss(234, [104, 105])},
                "worker: Redis": {"at_rest": rss(95, []), "after_burst": rss(100, []),
                                  "peak_during_burst": rss(102, []),
                                  "jobs_done_while_draining": 20, "jobs_ended_while_draining": 25,
                                  "drain_seconds": 3.0},
            },
        },
        "pipeline": {"diskcache": pipeline, "Redis": {**pipeline, "redis": redis_row(117.0, 67.0)}},
        "jobs": {"jobs": 200, "threads_per_process": 10, "llm_latency_s": 1.0,
                 "load_average_before": [1.0, 1.0, 1.0], "load_average_after": [1.0, 1.0, 1.0],
                 "runs": {1: job_run(1, 30.0), 2: job_run(2, 50.0)}},
        "storage": {"diskcache": {"reserve_settle": {"p50_us": 200.0, "p99_us": 900.0},
                                  "dedupe_claim": {"p50_us": 100.0, "p99_us": 500.0}},
                    "Redis": {"reserve_settle": {"p50_us": 400.0, "p99_us": 1200.0},
                              "dedupe_claim": {"p50_us": 150.0, "p99_us": 600.0}},
                    "redis_benchmark_ops_per_s": {"set": 50_000.0, "incr": 40_000.0},
                    "redis_dedupe_key_bytes": 136},
    }
    results["capacity"] = capacity.derive(results)
    return results


def test_the_vendor_figures_follow_from_the_measurements_and_the_assumptions(scale):
    cap = scale["capacity"]
    a = capacity.Assumptions()
    vendor = cap["vendor"]
    peak = 10_000 * 1_000 / 86_400 * a.vendor_peak_factor
    assert vendor["requests_per_s"] == pytest.approx(peak)
    assert vendor["webhooks_per_s"] == pytest.approx(peak * a.webhooks_per_request)
    assert vendor["web_cores"] == pytest.approx(peak * a.webhooks_per_request * 4.0 / 1000)
    assert cap["measured"]["worker_cpu_ms"] == 40.0  # the mean of the two job runs
    assert vendor["worker_cores"] == pytest.approx(peak * 40.0 / 1000)
    assert vendor["worker_processes"] == math.ceil(vendor["worker_cores"] / a.cpu_target)
    assert vendor["jobs_in_flight"] == pytest.approx(peak * (a.llm_seconds + 0.030))
    assert vendor["threads_per_worker_process"] * vendor["worker_processes"] >= vendor["jobs_in_flight"]
    assert vendor["redis_round_trips_per_s"] == pytest.approx(peak * a.webhooks_per_request * 5.0 + peak * 80.0)
    assert vendor["redis_vs_benchmark"] == pytest.approx(vendor["redis_round_trips_per_s"] / 40_000)
    assert vendor["dedupe_gib"] == pytest.approx(10_000_000 * 7 * 136 / 2**30)


def test_one_site_needs_one_of_each(scale):
    site = scale["capacity"]["site"]
    assert site["requests_per_s"] == pytest.approx(1_000 / (8 * 3600) * 10)
    assert site["gunicorn_workers"] == 1 and site["worker_processes"] == 1
    assert site["jobs_in_flight"] < 4


def test_other_assumptions_change_the_answer(scale):
    busier = capacity.derive(scale, capacity.Assumptions(sites=20_000))
    assert busier["vendor"]["requests_per_s"] == pytest.approx(2 * scale["capacity"]["vendor"]["requests_per_s"])


def test_the_report_has_every_scale_section(scale):
    text = "\n".join(run.scale_markdown(scale))
    for heading in ("## Webhook acknowledgement under load", "## Pipeline overhead per job",
                    "## Job concurrency: 200 jobs", "## Storage: cost per operation", "## Memory: resident set size",
                    "## What this means for a site and for a vendor"):
        assert heading in text
    assert "| our webhook, Redis | 200 | 1.00 | 10.0 | 40.0 | 4.00 | 1000 / 1000 |" in text
    assert "| 2 | 200 | 10.0 | 10.0 |" in text
    assert "**on the same 2-core machine**" in text
    assert "347/s at peak" in text


def test_storage_and_memory_tables_have_ratios_to_their_baselines(scale):
    text = "\n".join(run.scale_markdown(scale))
    # Redis ÷ diskcache, p50 and p99
    assert "| dedupe `claim` (add if absent) | 100 | 500 | 150 | 600 | 1.50x | 1.20x |" in text
    # web totals ÷ bare Flask's at rest and at the peak; job workers have no bare counterpart
    assert "| web: Redis | 215 (25; 95, 95) | 234 (25; 104, 105) | 225 | 2.53x / 2.60x | – |" in text
    assert "| worker: Redis | 95 (95) | 102 (102) | 100 | – | 25 (20) |" in text
    assert "| web: bare Flask 204 (ceiling) | 85 (25; 30, 30) | 90 (25; 32, 33) | 86 | 1.00x / 1.00x | – |" in text


def test_capacity_plans_memory_on_the_peak_during_the_burst(scale):
    measured = scale["capacity"]["measured"]
    assert measured["web_worker_rss_mib"] == 105 and measured["worker_rss_mib"] == 102
    del scale["webhooks"]["memory"]["worker: Redis"]["peak_during_burst"]
    assert capacity.derive(scale)["measured"]["worker_rss_mib"] == 100  # older results: after the burst


def test_webhook_batches_are_distinct_deliveries_signed_like_jira():
    secret = "s" * 40
    installation = {"client_key": "site-1", "shared_secret": secret, "app_base_url": "http://127.0.0.1:9"}
    stack = SimpleNamespace(app_url="http://127.0.0.1:9", sim=SimpleNamespace(installation=lambda: installation))
    template = {"webhookEvent": "comment_created",
                "comment": {"id": "10000", "self": "http://sim/rest/api/2/issue/10000/comment/10000", "body": "@ai x"},
                "issue": {"key": "BENCH-1"}}
    batch = webhook_batch(template, stack, 50_000_000, 3)
    bodies = [json.loads(item.body) for item in batch]
    assert [b["comment"]["id"] for b in bodies] == ["50000000", "50000001", "50000002"]
    assert bodies[2]["comment"]["self"].endswith("/comment/50000002")
    assert template["comment"]["id"] == "10000"  # the template is left alone
    assert len({item.headers["X-Atlassian-Webhook-Identifier"] for item in batch}) == 3
    for item in batch:
        token = item.headers["Authorization"].removeprefix("JWT ")
        claims = cjwt.verify_hs256(token, lookup_secret=lambda iss: secret if iss == "site-1" else None,
                                   method="POST", url=WEBHOOK_PATH, base_url=installation["app_base_url"])
        assert claims["iss"] == "site-1"


def test_the_report_says_when_it_ran_and_the_load_average(scale):
    text = run.markdown({"started_at": "2026-01-02 03:04 UTC", "load_average_at_start": [1.5, 2.0, 2.5],
                         "load_average_at_end": [3.0, 2.5, 2.0], "scale": scale, "runtime_s": 160.0})
    assert text.splitlines()[2] == ("Run started 2026-01-02 03:04 UTC; load average (1, 5, 15 min) "
                                    "[1.5, 2.0, 2.5] at the start, [3.0, 2.5, 2.0] at the end.")
