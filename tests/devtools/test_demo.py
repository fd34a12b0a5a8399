"""``jira-ai demo`` as a user runs it: a subprocess, offline without a key, the configured model with one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connect_app.devtools.demo import llm_mode_from_env
from connect_app.devtools.fake_llm import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 7


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "REDIS_"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def run_demo(tmp_path: Path, *args: str, **extra: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "connect_app.cli", "demo", *args], cwd=ROOT,
                          env=demo_env(tmp_path, **extra), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


def check_common(out: str) -> None:
    assert "0 request(s) without a reply" in out
    assert out.count("    intent ") == REQUESTS
    assert "transition: In Progress → Done" in out  # the completion request, shown from -> to
    assert "no transition (To Do)" in out  # the refused one changed nothing


def test_llm_mode_follows_the_openai_key():
    assert llm_mode_from_env({}) == "offline"
    assert llm_mode_from_env({"OPENAI_API_KEY": " "}) == "offline"
    assert llm_mode_from_env({"OPENAI_API_KEY": "sk-x"}) == "env"


@pytest.mark.parametrize("door", ["connect", "forge"])
def test_demo_runs_offline_without_a_key(tmp_path, door):
    out = run_demo(tmp_path, *(["--forge"] if door == "forge" else []))
    check_common(out)
    assert "LLM: offline provider (no OPENAI_API_KEY set)" in out
    assert "written by model" not in out and "offline draft" in out
    assert ("Installed through Forge" if door == "forge" else "Installed through a signed install") in out


def test_demo_uses_the_configured_model(tmp_path):
    with FakeLLMServer() as llm:
        out = run_demo(tmp_path, OPENAI_API_KEY="sk-demo-test-key-000000", OPENAI_API_BASE_URL=llm.base_url)
        assert llm.request_count > 0
    check_common(out)
    assert f"LLM: configured model, provider openai, model gpt-4o-mini at {llm.base_url}" in out
    assert "written by model gpt-4o-mini" in out
