"""build_services: provider embeddings are priced and metered; classification gets the local model only."""

from __future__ import annotations

import pytest

from connect_app.cache.embedders import HashingEmbedder, LocalEmbedder, ProviderEmbedder
from connect_app.errors import ConfigError
from connect_app.models import Intent
from connect_app.services import Services, build_services

PROVIDER = {"llm_provider": "openai", "openai_api_key": "sk-test-0123456789abcdef"}
VOCAB = ["summar", "status", "recap", "email", "vendor", "customer", "close", "done", "comment", "reply",
         "help", "thanks"]


def bag_of_words(texts: list[str]) -> list[list[float]]:
    """A stand-in for the local model (loading torch takes seconds): counts of a few word stems."""
    return [[float(text.lower().count(stem)) + 0.01 for stem in VOCAB] for text in texts]


@pytest.fixture
def local_model(monkeypatch, tmp_path):
    """The local model as if installed (the optional extra may be absent), never loaded."""
    monkeypatch.setattr(LocalEmbedder, "model_dir", lambda self: tmp_path)
    monkeypatch.setattr(LocalEmbedder, "installed", staticmethod(lambda: True))
    monkeypatch.setattr(LocalEmbedder, "load", lambda self: None)
    monkeypatch.setattr(LocalEmbedder, "embed", lambda self, texts: bag_of_words(texts))


@pytest.fixture
def build():
    built: list[Services] = []

    def make(settings, **changes) -> Services:
        services = build_services(settings.replace(**changes))
        built.append(services)
        return services

    yield make
    for services in built:
        services.close()


# ---------------------------------------------------------------------- provider embeddings
def test_an_unpriced_embedding_model_is_refused_at_start_when_the_provider_embeds(settings, build):
    with pytest.raises(ConfigError) as err:
        build(settings, **PROVIDER, use_embedding_cache=True, embedding_backend="provider",
              embedding_model="contoso-embeddings")
    assert err.value.message.startswith("EMBEDDING_MODEL: ") and "contoso-embeddings" in err.value.message
    # Not embedding through the provider, the model is never called, so it needs no price.
    build(settings, **PROVIDER, use_embedding_cache=True, embedding_backend="hashing",
          embedding_model="contoso-embeddings")


def test_provider_embeddings_are_metered_against_the_sites_budget(settings, build):
    services = build(settings, **PROVIDER, use_embedding_cache=True, embedding_backend="provider")
    embedder = services.manager.semantic_cache.embedder
    assert isinstance(embedder, ProviderEmbedder) and embedder.model == "text-embedding-3-small"
    assert embedder.meter is not None
    assert embedder.meter.budget is services.budget and embedder.meter.ledger is services.ledger
    assert embedder.meter.prices is services.prices


# ---------------------------------------------------------------------- classification
def test_classification_uses_the_local_model_when_it_is_configured(settings, build, local_model):
    services = build(settings, embedding_backend="local")
    assert isinstance(services.classifier_embedder, LocalEmbedder)
    assert services.classifier.embeddings is not None
    result = services.classifier.classify("that vendor thing")  # the rules are unsure
    assert result.source == "embeddings" and result.intent is Intent.EMAIL_REQUEST


def test_classification_shares_the_semantic_caches_local_model(settings, build, local_model):
    services = build(settings, use_embedding_cache=True, embedding_backend="auto")
    assert isinstance(services.manager.semantic_cache.embedder, LocalEmbedder)
    assert services.classifier_embedder is services.manager.semantic_cache.embedder  # loaded once


@pytest.mark.parametrize("changes", [
    {},  # nothing configured
    {"use_embedding_cache": True, "embedding_backend": "hashing"},  # words, not meaning
    {**PROVIDER, "use_embedding_cache": True, "embedding_backend": "provider"},  # billed per request
])
def test_classification_has_no_embeddings_without_the_local_model(settings, build, changes):
    services = build(settings, **changes)
    assert services.classifier_embedder is None and services.classifier.embeddings is None
    semantic = services.manager.semantic_cache
    if changes.get("embedding_backend") == "hashing":
        assert isinstance(semantic.embedder, HashingEmbedder)


def test_a_configured_but_missing_local_model_is_a_start_up_error(settings, build, monkeypatch):
    monkeypatch.setattr("connect_app.cache.embedders.LOCAL_MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(ConfigError, match="local embedding model is not installed"):
        build(settings, embedding_backend="local")
