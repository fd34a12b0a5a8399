"""``make bench``: every benchmark in one run, with the machine it ran on, as a Markdown report.

Results go to stdout and to ``bench-results/report.md`` (and ``report.json``); the README quotes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import cache_bench, savings, validate_bench


def run(quick: bool) -> dict[str, Any]:
    """Run every section; ``quick`` shrinks sizes for a smoke run."""
    started = time.perf_counter()
    results: dict[str, Any] = {"cache": cache_bench.run_all(quick=quick)}
    results["end_to_end_savings"] = savings.bench_end_to_end_savings(100 if quick else 300)
    results["validate"] = validate_bench.bench_validate()
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    return results


def markdown(results: dict[str, Any]) -> str:
    """The report."""
    out = ["# Benchmark report", "", "```", cache_bench.format_report(results["cache"]), "```", ""]
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
    out += ["", f"Total runtime {results['runtime_s']} s."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run, print and save the report."""
    parser = argparse.ArgumentParser(description="Jira AI Assistant benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args(argv)
    results = run(args.quick)
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
