"""The jira-ai command, run as users run it: a real subprocess with an environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from connect_app.devtools.stack import free_port, wait_http


def run(args, env_extra=None, tmp_path=None, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "REDIS_"))}
    env.update({"DATA_DIR": str(tmp_path / "data")} if tmp_path else {})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "connect_app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path or None, **kw)


def test_descriptor_is_rendered_for_the_base_url(tmp_path):
    res = run(["descriptor"], {"APP_BASE_URL": "https://ai.example.org"}, tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["baseUrl"] == "https://ai.example.org"


def test_check_lists_every_problem(tmp_path):
    res = run(["check"], {"ENVIRONMENT": "prod", "APP_BASE_URL": "http://x.example.org", "MAX_DAILY_COST_USD": "-1"},
              tmp_path)
    assert res.returncode == 1
    assert "SECRET_KEY is required" in res.stdout and "must use https" in res.stdout
    assert "MAX_DAILY_COST_USD" in res.stdout


def test_check_passes_and_hides_secrets(tmp_path):
    res = run(["check"], {"OPENAI_API_KEY": "sk-secret-value-123456", "SECRET_KEY": "0123456789abcdefXYZ"}, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "sk-secret-value" not in res.stdout and "0123456789abcdefXYZ" not in res.stdout
    assert '"llm_provider": "openai"' in res.stdout and "storage: ok" in res.stdout


def test_invalid_configuration_stops_other_commands_with_a_clear_message(tmp_path):
    res = run(["descriptor"], {"CACHE_ENABLED": "perhaps"}, tmp_path)
    assert res.returncode == 2 and "CACHE_ENABLED must be true or false" in res.stderr


def test_classify_prints_one_json_line_per_text(tmp_path):
    res = run(["classify", "summarize this", "draft an email to the vendor", "mark it done"], None, tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [x["intent"] for x in lines] == ["summary_request", "email_request", "task_completion"]
    assert all(set(x) == {"text", "intent", "confidence", "source"} for x in lines)
    assert all(x["source"] == "rules" for x in lines)


def test_classify_reads_stdin(tmp_path):
    res = run(["classify"], None, tmp_path, input="what can you do\n\nwrite a status update\n")
    assert [json.loads(x)["intent"] for x in res.stdout.splitlines()] == ["help", "comment_request"]


@pytest.mark.e2e
def test_serve_runs_web_and_worker_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "REDIS_"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "connect_app.cli", "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    consumer_started = threading.Event()

    def read() -> None:
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace"))
            if "Huey consumer started" in lines[-1]:
                consumer_started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        # The web side is up; wait for the job worker too, as a deploy would: by its heartbeat
        # (reported on /readyz) and by the consumer's own start line.
        deadline = time.monotonic() + 30
        workers = 0
        while time.monotonic() < deadline and not workers:
            workers = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").read())["workers"]
            time.sleep(0.2)
        assert workers == 1, "".join(lines)
        assert consumer_started.wait(30), "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=10)
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert "Shutting down: Master" in text


def test_ask_prints_the_facade_result_as_json(tmp_path):
    issue = tmp_path / "issue.json"
    issue.write_text(json.dumps({"key": "SUP-4", "summary": "Login page is slow", "status": "In Progress"}))
    res = run(["ask", "write a status update", "--issue", str(issue), "--user", "Dana"], None, tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["success"] is True and out["intent"] == "comment_request" and out["offline"] is True
    assert "SUP-4" in out["content"] and out["cost_usd"] == 0.0 and out["error"] is None


def test_ask_refuses_an_unreadable_issue_file(tmp_path):
    res = run(["ask", "summarize this", "--issue", str(tmp_path / "missing.json")], None, tmp_path)
    assert res.returncode == 2 and "cannot read --issue" in res.stderr
