"""OpenAIProvider against the fake OpenAI-compatible server over real loopback HTTP."""

from __future__ import annotations

import json
import logging
import math

import pytest

from connect_app.devtools.fake_llm import FakeLLMServer
from connect_app.errors import LLMError
from connect_app.llm.base import LLMProvider, ProviderError
from connect_app.llm.factory import build_provider
from connect_app.llm.openai_provider import OpenAIProvider
from connect_app.settings import Settings

API_KEY = "sk-test-SECRETKEY-0123456789abcdef"

INTENT_SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {
            "type": "string",
            "enum": ["task_completion", "email_request", "comment_request", "summary_request", "help", "unclear"],
        },
        "confidence": {"type": "number"},
        "reason": {"type": "string"},
    },
    "required": ["intent", "confidence", "reason"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh(server):
    server.reset()
    yield
    server.reset()


@pytest.fixture
def make_provider(server):
    built: list[OpenAIProvider] = []

    def make(**overrides) -> OpenAIProvider:
        values = {
            "llm_provider": "openai",
            "openai_api_key": API_KEY,
            "openai_api_base_url": server.base_url,
            "llm_timeout_seconds": 5.0,
            "llm_max_retries": 2,
        }
        values.update(overrides)
        provider = OpenAIProvider(Settings(**values))
        built.append(provider)
        return provider

    yield make
    for provider in built:
        provider.close()


def ask(provider: OpenAIProvider, text: str = "Issue PROJ-42: Login fails\n\nRequest: summarize this", **kw):
    messages = [{"role": "system", "content": "You help with Jira issues."}, {"role": "user", "content": text}]
    return provider.complete(messages, model="gpt-4o-mini", max_tokens=kw.pop("max_tokens", 200), **kw)


def test_plain_completion_returns_text_and_usage(server, make_provider):
    provider = make_provider()
    completion = ask(provider)

    assert isinstance(provider, LLMProvider)
    assert "PROJ-42" in completion.text
    assert completion.provider == "openai"
    assert completion.model == "gpt-4o-mini"
    assert completion.finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.cached_prompt_tokens == 0
    assert completion.latency_ms > 0
    sent = server.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "bearer"
    assert sent["body"]["max_completion_tokens"] == 200
    assert sent["body"]["temperature"] == 0.3
    assert "response_format" not in sent["body"]


def test_user_id_is_forwarded(server, make_provider):
    ask(make_provider(), user="hash-of-account")
    assert server.requests[-1]["body"]["user"] == "hash-of-account"


def test_cached_prompt_tokens_are_parsed(make_provider):
    provider = make_provider()
    long_system = "Follow the house style for Jira replies. " * 150  # ~6000 chars, ~1500 tokens
    messages = [{"role": "system", "content": long_system}, {"role": "user", "content": "Request: recap ABC-1"}]

    first = provider.complete(messages, model="gpt-4o-mini", max_tokens=100)
    second = provider.complete(messages, model="gpt-4o-mini", max_tokens=100)

    assert first.usage.cached_prompt_tokens == 0
    assert second.usage.cached_prompt_tokens >= 1024
    assert second.usage.cached_prompt_tokens % 128 == 0
    assert second.usage.cached_prompt_tokens <= second.usage.prompt_tokens


def test_structured_output_is_valid_json_and_schema_is_sent_strict(server, make_provider):
    completion = ask(make_provider(), "Request: please draft an email to the customer about PROJ-9",
                     json_schema=INTENT_SCHEMA, schema_name="classification", max_tokens=80)

    data = json.loads(completion.text)
    assert data["intent"] == "email_request"
    assert data["confidence"] == 0.9
    response_format = server.requests[-1]["body"]["response_format"]
    assert response_format == {
        "type": "json_schema",
        "json_schema": {"name": "classification", "schema": INTENT_SCHEMA, "strict": True},
    }


def test_rate_limit_is_retried_by_the_sdk_then_succeeds(server, make_provider):
    server.faults.push("status", status=429, retry_after=0.01)
    completion = ask(make_provider(llm_max_retries=2))

    assert "PROJ-42" in completion.text
    assert server.request_count == 2
    assert [r["status"] for r in server.requests] == [429, 200]


def test_rate_limit_without_retries_keeps_retry_after(server, make_provider):
    server.faults.push("status", status=429, retry_after=7)
    with pytest.raises(ProviderError) as caught:
        ask(make_provider(llm_max_retries=0))

    assert caught.value.code == "llm_rate_limited"
    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429
    assert caught.value.transient
    assert server.request_count == 1


def test_persistent_server_error_becomes_unavailable_after_sdk_retries(server, make_provider):
    server.faults.push("status", status=500, count=10, retry_after=0.01)
    with pytest.raises(LLMError) as caught:
        ask(make_provider(llm_max_retries=2))

    assert caught.value.code == "llm_unavailable"
    assert caught.value.http_status == 502
    assert server.request_count == 3  # 1 + max_retries: no retry loop of ours on top


def test_bad_request_is_not_retried(server, make_provider):
    server.faults.push("status", status=400, count=5)
    with pytest.raises(ProviderError) as caught:
        ask(make_provider(llm_max_retries=2))

    assert caught.value.code == "llm_bad_request"
    assert not caught.value.transient
    assert server.request_count == 1


def test_timeout_maps_to_llm_timeout(server, make_provider):
    server.faults.push("sleep", seconds=1.5)
    with pytest.raises(ProviderError) as caught:
        ask(make_provider(llm_timeout_seconds=0.2, llm_max_retries=0))

    assert caught.value.code == "llm_timeout"
    assert server.request_count == 1


def test_connection_refused_maps_to_unavailable():
    with FakeLLMServer() as gone:
        url = gone.base_url
    provider = OpenAIProvider(Settings(llm_provider="openai", openai_api_key=API_KEY, openai_api_base_url=url,
                                       llm_max_retries=0, llm_timeout_seconds=2))
    with pytest.raises(ProviderError) as caught:
        ask(provider)
    assert caught.value.code == "llm_unavailable"


def test_malformed_structured_output(server, make_provider):
    server.faults.push("malformed")
    with pytest.raises(ProviderError) as caught:
        ask(make_provider(), json_schema=INTENT_SCHEMA)
    assert caught.value.code == "llm_malformed_output"


def test_empty_content(server, make_provider):
    server.faults.push("empty")
    with pytest.raises(ProviderError) as caught:
        ask(make_provider())
    assert caught.value.code == "llm_empty"


def test_wrong_key_is_llm_auth_and_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeLLMServer(api_key="sk-the-right-key-000000000000") as strict:
        settings = Settings(llm_provider="openai", openai_api_key=API_KEY, openai_api_base_url=strict.base_url,
                            llm_max_retries=1)
        provider = OpenAIProvider(settings)
        with pytest.raises(ProviderError) as caught:
            ask(provider)
        provider.close()
        assert strict.request_count == 1  # 401 is not retried

    error = caught.value
    assert error.code == "llm_auth"
    assert error.status == 401
    assert "OPENAI_API_KEY" in error.message
    for text in (str(error), repr(error), caplog.text):
        assert API_KEY not in text
        assert "SECRETKEY" not in text


def test_key_never_in_logs_on_success_and_failures(server, make_provider, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make_provider(llm_max_retries=1)
    ask(provider)
    server.faults.push("status", status=503, count=2, retry_after=0.01)
    with pytest.raises(ProviderError) as caught:
        ask(provider)
    assert caught.value.code == "llm_unavailable"
    assert API_KEY not in caplog.text
    assert API_KEY not in str(caught.value)


def test_azure_with_deployment_uses_deployment_route(server):
    settings = Settings(llm_provider="azure", openai_api_key=API_KEY, openai_api_base_url=server.endpoint,
                        azure_deployment="gpt4o-prod", llm_max_retries=0)
    provider = build_provider(settings)
    assert isinstance(provider, OpenAIProvider)

    completion = ask(provider)

    assert completion.provider == "azure"
    assert "PROJ-42" in completion.text
    sent = server.requests[-1]
    assert sent["path"] == "/openai/deployments/gpt4o-prod/chat/completions"
    assert sent["query"] == {"api-version": settings.azure_api_version}
    assert sent["auth"] == "api-key"
    assert sent["body"]["max_tokens"] == 200
    provider.close()


def test_azure_without_deployment_uses_model_as_deployment(server):
    settings = Settings(llm_provider="azure", openai_api_key=API_KEY, openai_api_base_url=server.endpoint,
                        llm_max_retries=0)
    provider = OpenAIProvider(settings)

    ask(provider)
    vectors = provider.embed(["one text"])

    paths = [r["path"] for r in server.requests]
    assert paths == [
        "/openai/deployments/gpt-4o-mini/chat/completions",
        "/openai/deployments/text-embedding-3-small/embeddings",
    ]
    assert len(vectors) == 1
    provider.close()


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_shape_and_similarity(server, make_provider):
    provider = make_provider()
    texts = [
        "please summarize the login bug on safari",
        "summarize the safari login bug please",
        "draft an email about the invoice",
    ]
    vectors = provider.embed(texts)

    assert len(vectors) == 3
    assert all(len(v) == 256 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert server.requests[-1]["body"]["model"] == "text-embedding-3-small"


def test_embed_nothing_makes_no_request(server, make_provider):
    assert make_provider().embed([]) == []
    assert server.request_count == 0


def test_ping_needs_no_network_and_reports_missing_key():
    unreachable = Settings(llm_provider="openai", openai_api_key=API_KEY, openai_api_base_url="http://127.0.0.1:9/v1")
    assert OpenAIProvider(unreachable).ping() is True

    no_key = OpenAIProvider(Settings(llm_provider="openai", openai_api_key=None))
    assert no_key.ping() is False
    with pytest.raises(ProviderError) as caught:
        ask(no_key)
    assert caught.value.code == "llm_config"


def test_factory_returns_none_offline_and_builds_lazily():
    assert build_provider(Settings(llm_provider="offline")) is None
    provider = build_provider(Settings(llm_provider="openai", openai_api_key=API_KEY))
    assert isinstance(provider, OpenAIProvider)
    assert provider.name == "openai"
    assert provider._client is None  # nothing built until first use
