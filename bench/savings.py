"""Dollars saved by the caches, end to end: a replayed day of requests through the real facade.

Every request goes through ``JiraAIAssistant.process_user_message``: the real classifier, prompts,
model manager, budget, ledger and caches, with the OpenAI-compatible fake answering over loopback.
The spend is read back from the ledger, so the numbers are what a site would be billed.
"""

from __future__ import annotations

import tempfile
from typing import Any

from bench.cache_bench import load_mix
from connect_app.assistant import JiraAIAssistant
from connect_app.cache.embedders import LocalEmbedder
from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.settings import Settings


def _issue(meaning: str) -> dict[str, Any]:
    _tenant, key, content, _intent, _group = meaning.split("|")
    number = key.split("-")[1]
    return {
        "key": key,
        "summary": f"Customer-reported problem number {number}",
        "description": f"Details of the problem ({content}). Several customers are affected; "
        "the team is investigating and will post updates here.",
        "status": "In Progress",
        "assignee": "Dana Whitfield",
    }


def replay(requests: int, *, cache: bool, semantic: str | None, llm_url: str) -> dict[str, Any]:
    """Replay the mix with one cache configuration; returns spend, calls and hits from the ledger."""
    mix = load_mix(requests)
    with tempfile.TemporaryDirectory(prefix="jira-ai-bench-") as data:
        env = {
            "DATA_DIR": data,
            "OPENAI_API_KEY": "sk-bench-fake-000000000000",
            "OPENAI_API_BASE_URL": llm_url,
            "CACHE_ENABLED": "true" if cache else "false",
            "MAX_DAILY_COST_USD": "1000",
            "USE_EMBEDDING_CACHE": "true" if semantic else "false",
            "EMBEDDING_BACKEND": semantic or "auto",
            "SECRET_KEY": "bench-secret-key-0123456789",
        }
        assistant = JiraAIAssistant(Settings.from_env(env, env_file=None))
        try:
            assistant.services.warm_up()
            for req in mix:
                text = req.hint.request if req.hint is not None else "mark this as done, the fix is deployed"
                assistant.process_user_message(text, tenant=req.tenant_id, issue=_issue(req.meaning))
            sites = sorted({req.tenant_id for req in mix})
            days = [assistant.services.ledger.day(site) for site in sites]
        finally:
            assistant.close()
    return {
        "requests": len(mix),
        "spent_usd": sum(d.cost_micros for d in days) / 1e6,
        "model_calls": sum(d.calls for d in days),
        "exact_hits": sum(d.cache.get("exact", {}).get("hits", 0) for d in days),
        "semantic_hits": sum(d.cache.get("semantic", {}).get("hits", 0) for d in days),
        "saved_usd": sum(d.saved_micros for d in days) / 1e6,
    }


def bench_end_to_end_savings(requests: int = 300) -> dict[str, dict[str, Any]]:
    """No cache, exact cache, and exact + semantic (local model when installed, else hashing)."""
    semantic = "local" if LocalEmbedder.installed() else "hashing"
    with FakeLLMServer() as llm:
        runs = {
            "no cache": replay(requests, cache=False, semantic=None, llm_url=llm.base_url),
            "exact cache": replay(requests, cache=True, semantic=None, llm_url=llm.base_url),
            f"exact + semantic ({semantic})": replay(
                requests, cache=True, semantic=semantic, llm_url=llm.base_url
            ),
        }
    baseline = runs["no cache"]["spent_usd"] or 1e-12
    for run in runs.values():
        run["saved_vs_no_cache_percent"] = 100.0 * (baseline - run["spent_usd"]) / baseline
    return runs
