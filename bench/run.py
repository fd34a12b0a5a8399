"""``make bench``: every benchmark in one run, with the machine it ran on, as a Markdown report.

Results go to stdout and to ``bench-results/report.md`` (and ``report.json``); the README quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cache_bench, capacity, savings, scale_bench, validate_bench


def run(quick: bool, *, scale_only: bool = False) -> dict[str, Any]:
    """Run every section; ``quick`` shrinks sizes for a smoke run, ``scale_only`` runs the scale sections."""
    started = time.perf_counter()
    results: dict[str, Any] = {"started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                               "load_average_at_start": _load_average()}
    if not scale_only:
        results["cache"] = cache_bench.run_all(quick=quick)
        results["end_to_end_savings"] = savings.bench_end_to_end_savings(100 if quick else 300)
        results["validate"] = validate_bench.bench_validate()
    results["scale"] = scale_bench.run_all(quick=quick)
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = _load_average()
    return results


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def markdown(results: dict[str, Any]) -> str:
    """The report."""
    out = ["# Benchmark report", ""]
    if "started_at" in results:
        out += [f"Run started {results['started_at']}; load average (1, 5, 15 min) "
                f"{results['load_average_at_start']} at the start, "
                f"{results.get('load_average_at_end')} at the end.", ""]
    if "cache" in results:
        out += _cache_sections(results)
    if "scale" in results:
        out += scale_markdown(results["scale"])
    out += ["", f"Total runtime {results['runtime_s']} s."]
    return "\n".join(out)


def _cache_sections(results: dict[str, Any]) -> list[str]:
    """The cache, savings and validation sections."""
    out = ["```", cache_bench.format_report(results["cache"]), "```", ""]
    out += [
        "## Dollars saved end to end (real facade, manager, ledger; fake LLM; gpt-4o-mini prices)",
        "",
        "| setup | requests | model calls | exact hits | semantic hits | spent $ | saved vs no cache |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in results["end_to_end_savings"].items():
        out.append(
            f"| {name} | {row['requests']} | {row['model_calls']} | {row['exact_hits']} | "
            f"{row['semantic_hits']} | {row['spent_usd']:.4f} | {row['saved_vs_no_cache_percent']:.1f}% |"
        )
    out += [
        "",
        "## Reply validation (Markdown → ADF → schema) on hostile inputs",
        "",
        "| input | ms |",
        "|---|---|",
    ]
    for name, ms in results["validate"].items():
        out.append(f"| {name} | {ms:.1f} |")
    return out


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float, baseline: float) -> str:
    """``value / baseline`` as ``1.23x``, or a dash without a baseline."""
    return f"{value / baseline:.2f}x" if baseline else "–"


def _redis_cell(row: dict[str, Any] | None) -> str:
    """Redis commands / round trips per unit, or a dash."""
    return f"{row['commands']:g} / {row['round_trips']:g}" if row else "–"


def scale_markdown(scale: dict[str, Any]) -> list[str]:
    """The scale sections: webhook door, pipeline overhead, job concurrency, storage, memory, capacity."""
    out = _webhook_table(scale) + _pipeline_table(scale) + _jobs_table(scale) + _storage_table(scale)
    out += _memory_table(scale)
    out += ["", capacity.markdown(scale["capacity"]), "",
            f"Scale sections runtime {scale['runtime_s']} s "
            f"({', '.join(f'{k} {v} s' for k, v in scale['section_seconds'].items())})."]
    return out


def _webhook_table(scale: dict[str, Any]) -> list[str]:
    web, sizes = scale["webhooks"], scale["sizes"]
    out = [
        "",
        f"## Webhook acknowledgement under load (gunicorn, {web['web_workers']} workers x "
        f"{web['web_threads']} threads, `connect_app.gunicorn_conf`)",
        "",
        f"{web['concurrency']} concurrent keep-alive connections from a Python load generator (threads + "
        f"`requests.Session`) **on the same {scale['cpus']}-core machine** as the servers, so client and "
        f"server share the CPU; {web['rounds']} interleaved rounds of up to {sizes['round_requests']} "
        f"requests or {sizes['round_seconds']:g} s per target. Each request is a `comment_created` "
        "delivery as the simulator sends it, with its own comment id (so none is a dedupe repeat), an "
        "HS256 JWT and the real `qsh`, signed before the timed loop. The job workers were frozen "
        "(SIGSTOP) during the burst, so this is the door alone. Server CPU is the gunicorn master's and "
        f"workers' user + system time. Load average {web['load_average_before']} before, "
        f"{web['load_average_after']} after.",
        "",
        "| endpoint | requests/s | vs ceiling | p50 ms | p99 ms | server CPU ms/request | "
        "answered 204 / accepted + enqueued |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in web["targets"].items():
        answered = sum(n for status, n in row["statuses"].items() if str(status) == "204")
        accepted = row.get("accepted_and_enqueued", "–")
        out.append(f"| {name} | {row['requests_per_s']:.0f} | {row['throughput_vs_ceiling']:.2f} | "
                   f"{_ms(row['p50_ms'])} | {_ms(row['p99_ms'])} | "
                   f"{row['server_cpu_ms_per_request']:.2f} | {answered} / {accepted} |")
    redis_row = web["targets"][capacity.REDIS]
    top = ", ".join(f"{k} {v:g}" for k, v in redis_row["redis"]["top"].items())
    out += ["", f"Per accepted webhook on Redis: {redis_row['redis']['commands']:g} Redis commands ({top}) "
                f"and {redis_row['redis_bytes_per_webhook']} bytes of Redis memory while its job waits. "
                f"The load generator used {redis_row['load_generator_cpu_ms_per_request']:.2f} ms of CPU "
                "per request."]
    return out


def _pipeline_table(scale: dict[str, Any]) -> list[str]:
    out = [
        "",
        "## Pipeline overhead per job (LLM and Jira answering instantly)",
        "",
        "`Pipeline.process(event)` in-process against the Jira simulator and the fake LLM (latency 0), "
        "alternating job by job with the ceiling: the same four calls made directly with `requests` and "
        "the openai SDK (GET the issue, GET its comments with properties, one chat completion with the "
        "body the pipeline sent, POST the reply it posted). The simulator and the fake LLM run in the "
        "same process, so both columns include their time; the difference is the pipeline's.",
        "",
        "| store | jobs | ours ms/job | ours p50 / p99 | ceiling ms/job | ceiling p50 / p99 | ratio | "
        "overhead ms/job | LLM calls/job | Redis commands / round trips per job |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in scale["pipeline"].items():
        out.append(f"| {name} | {row['jobs']} | {row['ours_ms_per_job']:.1f} | "
                   f"{row['ours_p50_ms']:.1f} / {row['ours_p99_ms']:.1f} | {row['ceiling_ms_per_job']:.1f} | "
                   f"{row['ceiling_p50_ms']:.1f} / {row['ceiling_p99_ms']:.1f} | {row['ratio']:.2f} | "
                   f"{row['overhead_ms_per_job']:.1f} | {row['llm_calls_per_job']:g} | "
                   f"{_redis_cell(row.get('redis'))} |")
    redis_row = scale["pipeline"]["Redis"].get("redis")
    if redis_row:
        top = ", ".join(f"{k} {v:g}" for k, v in redis_row["top"].items())
        out += ["", f"Redis commands per job by name: {top}. A counter update is one EVALSHA round trip "
                    "running INCRBY (and PTTL/PEXPIRE) inside; round trips leave those inner commands out."]
    return out


def _jobs_table(scale: dict[str, Any]) -> list[str]:
    jobs = scale["jobs"]
    latency = f"{jobs['llm_latency_s']:g} s"
    out = [
        "",
        f"## Job concurrency: {jobs['jobs']} jobs, LLM latency {latency}",
        "",
        f"`jira-ai worker` processes with `QUEUE_WORKERS={jobs['threads_per_process']}` threads each "
        f"(huey on Redis); the fake LLM answers each call after {latency}. The jobs were enqueued through "
        "the door while the workers were frozen; the clock runs from thawing them to the last reply posted "
        "in the simulator. Ideal = jobs / (processes x threads) x latency. The simulator and the fake LLM "
        f"run in the benchmark's process and share the {scale['cpus']} cores with the workers. Load average "
        f"{jobs['load_average_before']} before, {jobs['load_average_after']} after.",
        "",
        "| worker processes | replies | wall s | ideal s | jobs/s | jobs/s per process | worker CPU ms/job | "
        "simulator + fake LLM CPU ms/job | LLM calls/job | Redis commands / round trips per job |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for processes, run in jobs["runs"].items():
        note = "" if run["completed"] else " (timed out)"
        out.append(f"| {processes} | {run['replied']} | {run['wall_s']:.1f}{note} | "
                   f"{run['ideal_wall_s']:.1f} | "
                   f"{run['jobs_per_s']:.1f} | {run['jobs_per_s_per_process']:.1f} | "
                   f"{run['worker_cpu_ms_per_job']:.1f} | {run['simulators_cpu_ms_per_job']:.1f} | "
                   f"{run['llm_calls_per_job']:g} | {_redis_cell(run['redis'])} |")
    return out


def _storage_table(scale: dict[str, Any]) -> list[str]:
    storage = scale["storage"]
    out = [
        "",
        "## Storage: cost per operation (one thread)",
        "",
        "Ratio = Redis ÷ diskcache (the embedded default is the baseline; above 1 Redis is slower).",
        "",
        "| operation | diskcache p50 µs | diskcache p99 µs | Redis p50 µs | Redis p99 µs | "
        "Redis ÷ diskcache p50 | Redis ÷ diskcache p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"reserve_settle": "budget `reserve` + `settle` (atomic add-if-within, then adjust)",
              "dedupe_claim": "dedupe `claim` (add if absent)"}
    for op, label in labels.items():
        disk, redis = storage["diskcache"][op], storage["Redis"][op]
        out.append(f"| {label} | {disk['p50_us']:.0f} | {disk['p99_us']:.0f} | {redis['p50_us']:.0f} | "
                   f"{redis['p99_us']:.0f} | {_ratio(redis['p50_us'], disk['p50_us'])} | "
                   f"{_ratio(redis['p99_us'], disk['p99_us'])} |")
    raw = storage.get("redis_benchmark_ops_per_s") or {}
    if raw:
        rates = ", ".join(f"{name.upper()} {rate:,.0f}/s" for name, rate in raw.items())
        out += ["", f"The same redis-server under `redis-benchmark` (8 clients, no pipelining, same cores): "
                    f"{rates}. A retained dedupe key takes {storage.get('redis_dedupe_key_bytes')} bytes."]
    return out


def _memory_table(scale: dict[str, Any]) -> list[str]:
    memory = scale["webhooks"]["memory"]
    out = [
        "",
        "## Memory: resident set size (VmRSS), MiB",
        "",
        "Web = gunicorn master + its workers; at rest = started and one request answered; peak = the "
        "largest total a sampling thread saw (VmRSS of the process tree from `/proc/<pid>/status` every "
        "50 ms) during the burst above, for job workers while they worked the burst's backlog for "
        f"{scale['sizes']['drain_seconds']:g} s after it (they were frozen during it); after = right "
        "after that. Ratio = web total ÷ the bare Flask 204 app's total (at rest ÷ at rest, peak ÷ "
        "peak); job workers have no bare counterpart.",
        "",
        "| process | at rest: total (master; workers) | peak during the burst: total (master; workers) | "
        "after the burst: total | vs bare Flask at rest / peak | jobs ended meanwhile (replies posted) |",
        "|---|---|---|---|---|---|",
    ]

    def cell(row: dict[str, Any] | None) -> str:
        if not row:
            return "–"
        workers = ", ".join(f"{mib:.0f}" for mib in row["children_mib"])
        return f"{row['total_mib']:.0f} ({row['process_mib']:.0f}" + (f"; {workers})" if workers else ")")

    bare = next((row for name, row in memory.items() if "bare Flask" in name), None)
    for name, row in memory.items():
        peak, after = row.get("peak_during_burst"), row.get("after_burst")
        ratio = "–"
        if name.startswith("web: ") and bare:
            at_rest = _ratio(row["at_rest"]["total_mib"], bare["at_rest"]["total_mib"])
            bare_peak = (bare.get("peak_during_burst") or {}).get("total_mib", 0)
            ratio = f"{at_rest} / {_ratio(peak['total_mib'], bare_peak) if peak else '–'}"
        after_cell = f"{after['total_mib']:.0f}" if after else "–"
        jobs = "–"
        if "jobs_done_while_draining" in row:
            jobs = f"{row.get('jobs_ended_while_draining', '–')} ({row['jobs_done_while_draining']})"
        out.append(f"| {name} | {cell(row['at_rest'])} | {cell(peak)} | {after_cell} | {ratio} | {jobs} |")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run, print and save the report."""
    parser = argparse.ArgumentParser(description="Jira AI Assistant benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--scale-only", action="store_true", help="only the scale sections (processes, load)")
    args = parser.parse_args(argv)
    results = run(args.quick, scale_only=args.scale_only)
    report = markdown(results)
    target = Path("bench-results")
    target.mkdir(exist_ok=True)
    (target / "report.md").write_text(report + "\n", encoding="utf-8")
    (target / "report.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(report)
    print(f"\n(saved to {target / 'report.md'})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
