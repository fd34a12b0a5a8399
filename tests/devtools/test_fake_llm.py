"""The OpenAI-compatible fake server: responses, usage, embeddings, faults and control routes."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
import time

import jsonschema
import pytest
import requests

from connect_app.devtools.fake_llm import (
    FakeLLMServer,
    RequestView,
    detect_intent,
    embed_text,
    fill_schema,
    request_line,
)

AUTH = {"Authorization": "Bearer sk-anything"}


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh(server):
    server.reset()
    yield
    server.reset()


def chat(server, messages, *, headers=AUTH, **body):
    payload = {"model": "gpt-4o-mini", "messages": messages, **body}
    return requests.post(f"{server.base_url}/chat/completions", json=payload, headers=headers, timeout=5)


def user(text):
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------------- auth and shape
def test_missing_key_is_401_in_openai_error_shape(server):
    response = chat(server, user("hi"), headers={})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_required_key_must_match():
    with FakeLLMServer(api_key="sk-right") as strict:
        wrong = chat(strict, user("hi"), headers={"Authorization": "Bearer sk-wrong"})
        right = chat(strict, user("hi"), headers={"api-key": "sk-right"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong" not in wrong.text
    assert right.status_code == 200


def test_chat_response_has_openai_shape_and_usage(server):
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "x" * 400}]
    response = chat(server, messages)
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    data = response.json()
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int)
    assert data["model"] == "gpt-4o-mini"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_tokens"] == math.ceil(len("You are helpful.\n" + "x" * 400) / 4)
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0


def test_reply_names_issue_key_and_echoes_request_deterministically(server):
    prompt = (
        "Issue context (quoted data):\n> Key: PROJ-42\n> Summary: Login fails on Safari\n> Status: In Progress\n"
        "Request: @ai what is blocking this?\nWrite a helpful reply."
    )
    first = chat(server, user(prompt)).json()["choices"][0]["message"]["content"]
    second = chat(server, user(prompt)).json()["choices"][0]["message"]["content"]

    assert first == second
    opening = first.splitlines()[0]
    assert not opening.startswith("#")
    assert "PROJ-42" in opening
    assert '"what is blocking this?"' in opening
    assert "- **Summary:** Login fails on Safari" in first
    assert "- **Status:** In Progress" in first


def test_issue_key_in_user_messages_wins_over_system_examples(server):
    messages = [{"role": "system", "content": "Example: EX-1 is an issue key."},
                {"role": "user", "content": "Please explain DEV-77"}]
    content = chat(server, messages).json()["choices"][0]["message"]["content"]
    assert "DEV-77" in content
    assert "EX-1" not in content


def test_email_requests_get_a_subject_line(server):
    content = chat(server, user("Issue ABC-7\nSummary: Invoice export\nRequest: email the customer")).json()[
        "choices"][0]["message"]["content"]
    subject, blank, *body = content.splitlines()
    assert subject == "Subject: Update on ABC-7: Invoice export"
    assert blank == ""
    assert body


def test_email_system_prompt_with_neutral_request_gets_email(server):
    messages = [{"role": "system", "content": "You write customer emails."},
                {"role": "user", "content": "Issue ABC-8\nRequest: let them know it shipped"}]
    content = chat(server, messages).json()["choices"][0]["message"]["content"]
    assert content.startswith("Subject: Update on ABC-8")


def test_max_tokens_truncates_with_length_finish(server):
    data = chat(server, user("Request: explain PROJ-1"), max_completion_tokens=5).json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert len(data["choices"][0]["message"]["content"]) <= 20


def test_prompt_cache_reports_cached_share_on_repeat(server):
    system = {"role": "system", "content": "Rules for replies. " * 300}  # ~5700 chars, ~1425 tokens
    first = chat(server, [system, *user("Request: recap A-1")]).json()["usage"]
    second = chat(server, [system, *user("Request: recap B-2")]).json()["usage"]
    short = {"role": "system", "content": "Short rules."}
    chat(server, [short, *user("a")])
    short_again = chat(server, [short, *user("a")]).json()["usage"]

    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached == 1408  # 1425 prefix tokens in 128-token blocks
    assert cached <= second["prompt_tokens"]
    assert short_again["prompt_tokens_details"]["cached_tokens"] == 0


# ---------------------------------------------------------------------- structured output
INTENT_ENUM = ["task_completion", "email_request", "comment_request", "summary_request", "help", "unclear"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Request: draft a note to the vendor", "email_request"),
        ("Request: send them a mail", "email_request"),
        ("Request: summarize the thread", "summary_request"),
        ("Request: tl;dr please", "summary_request"),
        ("Request: mark it as done", "task_completion"),
        ("Request: close this, it is resolved", "task_completion"),
        ("Request: what can you do?", "help"),
        ("Request: post a status update", "comment_request"),
        ("Request: explain the root cause", "comment_request"),
        ("Request: bananas", "unclear"),
    ],
)
def test_structured_intent_by_keyword(server, text, intent):
    schema = {"type": "object", "properties": {"intent": {"type": "string", "enum": INTENT_ENUM}},
              "required": ["intent"], "additionalProperties": False}
    response_format = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema, "strict": True}}
    content = chat(server, user(text), response_format=response_format).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"intent": intent}


def test_structured_output_conforms_to_a_richer_schema(server):
    schema = {
        "type": "object",
        "$defs": {"step": {"type": "object", "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}},
                           "required": ["title", "done"], "additionalProperties": False}},
        "properties": {
            "subject": {"type": "string", "maxLength": 30},
            "body": {"type": "string"},
            "tone": {"type": "string", "enum": ["formal", "friendly", "concise"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "count": {"type": "integer", "minimum": 3},
            "labels": {"type": "array", "items": {"type": "string"}},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "minItems": 1},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "maybe": {"type": ["null", "boolean"]},
        },
        "required": ["subject", "body", "tone", "confidence", "count", "labels", "steps", "note", "maybe"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
    content = chat(server, user("Issue QA-3\nRequest: write a friendly email"),
                   response_format=response_format).json()["choices"][0]["message"]["content"]
    data = json.loads(content)

    jsonschema.validate(data, schema)
    assert data["tone"] == "friendly"
    assert data["confidence"] == 0.9
    assert data["count"] == 3
    assert data["labels"] == []
    assert data["steps"] == [{"title": "Update on QA-3", "done": True}]
    assert data["body"].startswith("Subject: Update on QA-3")


def test_malformed_fault_breaks_json(server):
    server.faults.push("malformed")
    schema = {"type": "object", "properties": {"intent": {"type": "string", "enum": INTENT_ENUM}},
              "required": ["intent"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema, "strict": True}}
    content = chat(server, user("summarize"), response_format=response_format).json()["choices"][0]["message"][
        "content"]
    with pytest.raises(ValueError):
        json.loads(content)


def test_empty_fault(server):
    server.faults.push("empty")
    data = chat(server, user("hi")).json()
    assert data["choices"][0]["message"]["content"] == ""
    assert data["usage"]["completion_tokens"] == 0


def test_bad_bodies_are_400(server):
    assert chat(server, []).status_code == 400
    assert chat(server, user("x"), stream=True).status_code == 400
    bad_format = {"type": "json_schema", "json_schema": {"name": "x"}}
    assert chat(server, user("x"), response_format=bad_format).status_code == 400
    raw = requests.post(f"{server.base_url}/chat/completions", data="nope", headers=AUTH, timeout=5)
    assert raw.status_code == 400
    assert raw.json()["error"]["type"] == "invalid_request_error"


# ---------------------------------------------------------------------- embeddings, models, azure
def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_float_and_base64(server):
    texts = ["reset the password for the admin user", "admin user password reset", "quarterly revenue report"]
    response = requests.post(f"{server.base_url}/embeddings", json={"model": "text-embedding-3-small",
                                                                    "input": texts}, headers=AUTH, timeout=5)
    data = response.json()
    vectors = [item["embedding"] for item in data["data"]]
    assert [item["index"] for item in data["data"]] == [0, 1, 2]
    assert all(len(v) == 256 for v in vectors)
    assert _cos(vectors[0], vectors[1]) > 0.5 > _cos(vectors[0], vectors[2])
    assert data["usage"]["prompt_tokens"] > 0

    encoded = requests.post(f"{server.base_url}/embeddings",
                            json={"model": "m", "input": texts[0], "encoding_format": "base64", "dimensions": 64},
                            headers=AUTH, timeout=5).json()["data"][0]["embedding"]
    decoded = struct.unpack("<64f", base64.b64decode(encoded))
    assert decoded == pytest.approx(embed_text(texts[0], 64), abs=1e-6)


def test_embeddings_reject_token_arrays(server):
    response = requests.post(f"{server.base_url}/embeddings", json={"model": "m", "input": [[1, 2, 3]]},
                             headers=AUTH, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input"


def test_models_list(server):
    data = requests.get(f"{server.base_url}/models", headers=AUTH, timeout=5).json()
    assert data["object"] == "list"
    assert "gpt-4o-mini" in {m["id"] for m in data["data"]}


def test_azure_routes_need_api_version(server):
    url = f"{server.endpoint}/openai/deployments/prod-4o/chat/completions"
    missing = requests.post(url, json={"messages": user("hi")}, headers={"api-key": "k"}, timeout=5)
    ok = requests.post(url + "?api-version=2024-10-21", json={"messages": user("hi")}, headers={"api-key": "k"},
                       timeout=5)
    emb = requests.post(f"{server.endpoint}/openai/deployments/emb/embeddings?api-version=2024-10-21",
                        json={"input": "hi"}, headers={"api-key": "k"}, timeout=5)
    assert missing.status_code == 400
    assert ok.status_code == 200
    assert ok.json()["model"] == "prod-4o"
    assert emb.json()["model"] == "emb"
    assert server.requests[-1]["auth"] == "api-key"


def test_unknown_route_is_openai_shaped_404(server):
    response = requests.get(f"{server.base_url}/nope", headers=AUTH, timeout=5)
    assert response.status_code == 404
    assert "error" in response.json()


# ---------------------------------------------------------------------- faults and control routes
def test_status_faults_over_http_then_recovery(server):
    setup = requests.post(f"{server.endpoint}/_fake/faults", json={"kind": "status", "status": 503, "count": 2},
                          timeout=5)
    assert setup.status_code == 200
    assert setup.json()["faults"][0]["remaining"] == 2

    statuses = [chat(server, user("hi")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert server.request_count == 3


def test_rate_limit_fault_sends_retry_after(server):
    server.faults.push("status", status=429, retry_after=3)
    server.faults.push("status", status=429)
    first, second = chat(server, user("hi")), chat(server, user("hi"))
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "3"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    assert second.headers["Retry-After"] == "1"


def test_fault_limited_to_an_endpoint(server):
    server.faults.push("status", status=500, endpoint="embeddings")
    assert chat(server, user("hi")).status_code == 200
    emb = requests.post(f"{server.base_url}/embeddings", json={"model": "m", "input": "x"}, headers=AUTH, timeout=5)
    assert emb.status_code == 500


def test_sleep_fault_and_latency(server):
    server.faults.push("sleep", seconds=0.3)
    started = time.perf_counter()
    assert chat(server, user("hi")).status_code == 200
    assert time.perf_counter() - started >= 0.3

    requests.post(f"{server.endpoint}/_fake/faults", json={"latency": 0.2}, timeout=5)
    started = time.perf_counter()
    chat(server, user("hi"))
    assert time.perf_counter() - started >= 0.2
    assert server.latency == 0.2


def test_invalid_faults_are_rejected(server):
    for spec in ({"kind": "explode"}, {"kind": "status", "status": 200}, {"kind": "status", "count": 0},
                 {"kind": "status", "bogus": 1}, {"latency": -1}):
        response = requests.post(f"{server.endpoint}/_fake/faults", json=spec, timeout=5)
        assert response.status_code == 400, spec
    with pytest.raises(ValueError):
        server.faults.push("sleep", seconds=-1)
    assert len(server.faults) == 0


def test_requests_are_recorded_and_reset_clears_everything(server):
    server.faults.push("status", status=500, count=3)
    chat(server, user("Request: summarize PROJ-1"), temperature=0.1)
    recorded = requests.get(f"{server.endpoint}/_fake/requests", timeout=5).json()
    assert recorded["count"] == 1
    entry = recorded["requests"][0]
    assert entry["path"] == "/v1/chat/completions"
    assert entry["auth"] == "bearer"
    assert entry["body"]["messages"] == user("Request: summarize PROJ-1")
    assert entry["body"]["temperature"] == 0.1
    assert entry["status"] == 500

    assert requests.post(f"{server.endpoint}/_fake/reset", timeout=5).json() == {"ok": True}
    assert server.request_count == 0
    assert server.requests == []
    assert requests.get(f"{server.endpoint}/_fake/faults", timeout=5).json() == {"faults": [], "latency": 0.0}
    assert chat(server, user("hi")).status_code == 200


# ---------------------------------------------------------------------- helpers and process
def test_request_line_prefers_labelled_request():
    prompt = "Context:\n> Summary: x\nTask: write a reply\nRequest:\n\"@ai please recap the week\"\nThanks"
    assert request_line(prompt) == "please recap the week"
    assert request_line("first line\n\nlast plain line\n```") == "last plain line"
    assert detect_intent("anything else") == "unclear"


def test_fill_schema_is_a_pure_function():
    view = RequestView.of(user("Request: help"))
    assert fill_schema({"type": "object", "properties": {"intent": {"enum": ["help", "unclear"]}, "ok": {
        "type": "boolean"}}, "required": ["intent", "ok"]}, view) == {"intent": "help", "ok": True}


def test_embed_text_is_unit_and_deterministic():
    vector = embed_text("hello world")
    assert vector == embed_text("Hello, world!")
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-5)
    assert embed_text("") == [1.0] + [0.0] * 255


def test_runs_as_a_separate_process():
    proc = subprocess.Popen([sys.executable, "-m", "connect_app.devtools.fake_llm", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base_url = line.strip().rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:")
        models = requests.get(f"{base_url}/models", headers=AUTH, timeout=5)
        assert models.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
