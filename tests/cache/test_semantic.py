"""The semantic cache: guarded hits on the labelled pairs, scoping, refusals, expiry, sharing between processes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cache_bench import PrecomputedEmbedder, evaluate_pairs, load_pairs
from connect_app.cache.embedders import HashingEmbedder, LocalEmbedder
from connect_app.cache.semantic import SemanticCache, decode_vector, encode_vector
from connect_app.errors import BadRequestError, ConfigError, StorageError
from connect_app.models import CacheHint, Classification, CommentInfo, Completion, Intent, IssueContext
from connect_app.pipeline.generators.base import GenerationRequest, call_model
from connect_app.storage.disk import DiskStore

MODEL = "gpt-4o-mini"
ROOT = Path(__file__).resolve().parents[2]
HINT = CacheHint(request="summarize this issue", issue_key="SUP-42", content_hash="c1",
                 prompt_version="summary-v1", tone=None, language="en", recipient=None)
PARAPHRASE = dataclasses.replace(HINT, request="Summarize this issue, please!")


@pytest.fixture
def store(tmp_path):
    store = DiskStore(tmp_path / "cache", evicting=True, size_limit_mb=64)
    yield store
    store.close()


@pytest.fixture
def cache(store) -> SemanticCache:
    return SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=600)


def answer(text: str = "A summary.", cost: int = 700, **kw) -> Completion:
    return Completion(text=text, model="gpt-4o-mini-2024-07-18", provider="openai", cost_micros=cost, **kw)


# ------------------------------------------------------------------------------ labelled pairs
def report(name: str, guarded: dict, alone: dict) -> None:
    print(f"\n[{name}] {guarded['pairs']} pairs ({guarded['should_hit']} should hit, {guarded['traps']} traps) "
          f"at the configured threshold: guarded hit rate {guarded['hit_rate']:.1%}, wrong hits "
          f"{guarded['wrong_hits']}; threshold alone hit rate {alone['hit_rate']:.1%}, wrong hits "
          f"{alone['wrong_hits']} {alone['wrong_by_category']}")


def test_labelled_pairs_with_the_hashing_embedder_never_hit_wrongly(settings, store):
    pairs = load_pairs()
    assert len(pairs) >= 120 and {p.should_hit for p in pairs} == {True, False}
    embedder = HashingEmbedder()
    guarded = evaluate_pairs(embedder, pairs, threshold=settings.semantic_threshold, store=store)
    alone = evaluate_pairs(embedder, pairs, threshold=settings.semantic_threshold, guarded=False)
    report("hashing", guarded, alone)
    assert guarded["wrong_hits"] == 0
    assert alone["wrong_hits"] > 0  # the threshold alone is not enough: the guard is what makes it safe
    assert guarded["hits"] > 0


@pytest.mark.skipif(not LocalEmbedder.installed(), reason="the embeddings extra is not installed")
def test_labelled_pairs_with_the_local_model_never_hit_wrongly(settings):
    pairs = load_pairs()
    embedder = PrecomputedEmbedder(LocalEmbedder(), [p.a.request for p in pairs] + [p.b.request for p in pairs])
    guarded = evaluate_pairs(embedder, pairs, threshold=settings.semantic_threshold)
    alone = evaluate_pairs(embedder, pairs, threshold=settings.semantic_threshold, guarded=False)
    report("local all-MiniLM-L6-v2", guarded, alone)
    assert guarded["wrong_hits"] == 0
    assert alone["wrong_hits"] > 0
    assert guarded["hit_rate"] >= 0.25
    # With a permissive threshold the guard still refuses every trap it can see; what gets through is
    # a different question in everyday words, which only the similarity threshold can tell apart.
    low = evaluate_pairs(embedder, pairs, threshold=0.6)
    print(f"[local at 0.6] guarded hit rate {low['hit_rate']:.1%}, wrong hits {low['wrong_by_category']}")
    assert set(low["wrong_by_category"]) <= {"other_request"}


# ------------------------------------------------------------------------------------ basics
def test_a_paraphrase_hits_with_the_original_cost_and_its_similarity(cache):
    assert cache.put("site-a", "summary_request", MODEL, HINT, answer())
    hit = cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE)
    assert hit is not None and hit.layer == "semantic" and hit.text == "A summary."
    assert hit.cost_micros == 700 and hit.model == "gpt-4o-mini-2024-07-18" and 0.8 <= hit.similarity <= 1.0


def test_the_pure_python_index_gives_the_same_answers(store):
    cache = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=600, index_backend="python")
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE).text == "A summary."
    assert cache.lookup("site-a", "summary_request", MODEL, dataclasses.replace(PARAPHRASE, issue_key="X-1")) is None


def test_another_site_never_hits(cache):
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert cache.lookup("site-b", "summary_request", MODEL, HINT) is None
    assert cache.lookup("site-a", "summary_request", MODEL, HINT) is not None


def test_another_intent_model_or_prompt_version_never_hits(cache):
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert cache.lookup("site-a", "comment_request", MODEL, HINT) is None
    assert cache.lookup("site-a", "summary_request", "gpt-4o", HINT) is None
    assert cache.lookup("site-a", "summary_request", MODEL, dataclasses.replace(HINT, prompt_version="v2")) is None


def test_an_edited_issue_never_hits(cache):
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    outcome = cache.explain("site-a", "summary_request", MODEL, dataclasses.replace(HINT, content_hash="c2"))
    assert outcome.answer is None and outcome.rejected and outcome.rejected[0][1] == "issue_edited"


def test_a_negated_request_never_hits(store):
    cache = SemanticCache(store, HashingEmbedder(), threshold=0.3, ttl_seconds=600)  # similar enough
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    for text in ("summarize this issue but not the comments", "don't summarize this issue"):
        outcome = cache.explain("site-a", "summary_request", MODEL, dataclasses.replace(HINT, request=text))
        assert outcome.answer is None and [reason for _, reason in outcome.rejected] == ["polarity"]


def test_the_newest_matching_entry_wins_over_stale_look_alikes(cache):
    for version in range(5):  # the same request on five earlier versions of the issue
        cache.put("site-a", "summary_request", MODEL, dataclasses.replace(HINT, content_hash=f"old{version}"),
                  answer(f"stale {version}"))
    cache.put("site-a", "summary_request", MODEL, HINT, answer("current"))
    assert cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE).text == "current"


@pytest.mark.parametrize("intent", ["task_completion", "help", "unclear", "delete_everything"])
def test_actions_and_other_intents_are_refused(cache, intent):
    with pytest.raises(BadRequestError) as info:
        cache.put("site-a", intent, MODEL, HINT, answer())
    assert info.value.code == "cache_intent_refused"
    with pytest.raises(BadRequestError):
        cache.lookup("site-a", intent, MODEL, HINT)
    assert not SemanticCache.accepts(intent)
    assert SemanticCache.accepts(Intent.EMAIL_REQUEST) and SemanticCache.accepts("summary_request")


def test_empty_cached_or_repeated_answers_are_not_stored(cache):
    assert not cache.put("site-a", "summary_request", MODEL, HINT, answer(text=" "))
    assert not cache.put("site-a", "summary_request", MODEL, HINT, answer(cached=True))
    assert not cache.put("site-a", "summary_request", MODEL, dataclasses.replace(HINT, request=" "), answer())
    assert cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert not cache.put("site-a", "summary_request", MODEL, HINT, answer())  # already there
    assert cache.size("site-a", "summary_request") == 1


def test_very_long_requests_are_not_cached_semantically(cache):
    long_hint = dataclasses.replace(HINT, request="summarize this log: " + "ERROR timeout at step 7 " * 60)
    assert not cache.put("site-a", "summary_request", MODEL, long_hint, answer())
    assert cache.lookup("site-a", "summary_request", MODEL, long_hint) is None


# ----------------------------------------------------------------------------------- expiry
def test_expired_entries_are_gone_from_the_store_and_the_index(store):
    cache = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=1)
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE) is not None
    time.sleep(1.2)
    assert cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE) is None
    assert not [key for key, _ in store.scan("sem:")]


def test_the_index_drops_rows_when_they_expire(store):
    now = [1_000.0]
    cache = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=30, clock=lambda: now[0])
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE) is not None
    now[0] += 31
    outcome = cache.explain("site-a", "summary_request", MODEL, PARAPHRASE)
    assert outcome.answer is None and outcome.rejected[0][1] == "expired"
    now[0] += 120  # past the sweep interval
    cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE)
    assert cache.size("site-a", "summary_request") == 0


# ---------------------------------------------------------------------------------- sharing
def test_another_process_sees_new_entries_incrementally(tmp_path):
    one, two = (DiskStore(tmp_path / "shared", evicting=True) for _ in range(2))
    try:
        writer = SemanticCache(one, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
        reader = SemanticCache(two, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
        assert reader.lookup("site-a", "summary_request", MODEL, PARAPHRASE) is None
        writer.put("site-a", "summary_request", MODEL, HINT, answer("first"))
        assert reader.lookup("site-a", "summary_request", MODEL, PARAPHRASE).text == "first"
        other = dataclasses.replace(HINT, issue_key="SUP-7")
        writer.put("site-a", "summary_request", MODEL, other, answer("second"))
        assert reader.lookup("site-a", "summary_request", MODEL, other).text == "second"
        assert reader.size("site-a", "summary_request") == 2
    finally:
        one.close()
        two.close()


def test_an_entry_written_by_a_real_second_process_is_found(tmp_path, store):
    directory = tmp_path / "cache"
    code = f"""
import dataclasses
from connect_app.cache.embedders import HashingEmbedder
from connect_app.cache.semantic import SemanticCache
from connect_app.models import CacheHint, Completion
from connect_app.storage.disk import DiskStore
store = DiskStore({str(directory)!r}, evicting=True, size_limit_mb=64)
hint = CacheHint(**{dataclasses.asdict(HINT)!r})
cache = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
assert cache.put("site-a", "summary_request", "{MODEL}", hint, Completion("from the worker", "m", "openai", cost_micros=5))
store.close()
"""
    reader = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
    assert reader.lookup("site-a", "summary_request", MODEL, PARAPHRASE) is None
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)
    assert reader.lookup("site-a", "summary_request", MODEL, PARAPHRASE).text == "from the worker"


def test_a_cold_process_loads_a_large_backlog_with_one_scan(store, monkeypatch):
    from connect_app.cache import semantic

    monkeypatch.setattr(semantic, "FULL_SCAN_GAP", 5)
    writer = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
    for number in range(12):
        writer.put("site-a", "summary_request", MODEL, dataclasses.replace(HINT, issue_key=f"SUP-{number}"),
                   answer(f"answer {number}"))
    cold = SemanticCache(store, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
    assert cold.lookup("site-a", "summary_request", MODEL, dataclasses.replace(PARAPHRASE, issue_key="SUP-11")).text \
        == "answer 11"
    assert cold.size("site-a", "summary_request") == 12


def test_an_evicted_entry_is_never_served_from_memory(cache, store):
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    assert cache.lookup("site-a", "summary_request", MODEL, PARAPHRASE) is not None
    for key, _ in list(store.scan("sem:")):
        store.delete(key)
    outcome = cache.explain("site-a", "summary_request", MODEL, PARAPHRASE)
    assert outcome.answer is None and [reason for _, reason in outcome.rejected] == ["gone"]
    assert cache.size("site-a", "summary_request") == 0


def test_a_lost_sequence_counter_is_survived(tmp_path):
    one, two = (DiskStore(tmp_path / "shared", evicting=True) for _ in range(2))
    try:
        writer = SemanticCache(one, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
        reader = SemanticCache(two, HashingEmbedder(), threshold=0.8, ttl_seconds=600)
        for number in range(3):
            writer.put("site-a", "summary_request", MODEL, dataclasses.replace(HINT, issue_key=f"SUP-{number}"),
                       answer(f"answer {number}"))
        assert reader.lookup("site-a", "summary_request", MODEL, dataclasses.replace(HINT, issue_key="SUP-2"))
        for key, _ in list(one.scan("semseq:")):  # the evicting store dropped the counter
            one.delete(key)
        writer.put("site-a", "summary_request", MODEL, dataclasses.replace(HINT, issue_key="SUP-9"), answer("new"))
        assert reader.lookup("site-a", "summary_request", MODEL, dataclasses.replace(HINT, issue_key="SUP-9")).text \
            == "new"
    finally:
        one.close()
        two.close()


def test_clear_site_forgets_that_site_only(cache):
    cache.put("site-a", "summary_request", MODEL, HINT, answer())
    cache.put("site-a", "email_request", MODEL, HINT, answer())
    cache.put("site-b", "summary_request", MODEL, HINT, answer())
    assert cache.clear_site("site-a") == 2
    assert cache.lookup("site-a", "summary_request", MODEL, HINT) is None
    assert cache.lookup("site-b", "summary_request", MODEL, HINT) is not None


# ------------------------------------------------------------------------------ robustness
class FailingEmbedder:
    name, dim = "failing", 8

    def embed(self, texts):
        raise RuntimeError("model crashed")


class BrokenStore:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StorageError("redis down")

        return fail


def test_an_embedding_failure_is_a_miss(store):
    cache = SemanticCache(store, FailingEmbedder(), threshold=0.8, ttl_seconds=60)
    assert cache.lookup("site-a", "summary_request", MODEL, HINT) is None
    assert cache.put("site-a", "summary_request", MODEL, HINT, answer()) is False


def test_a_broken_store_is_a_miss():
    cache = SemanticCache(BrokenStore(), HashingEmbedder(), threshold=0.8, ttl_seconds=60)
    assert cache.put("site-a", "summary_request", MODEL, HINT, answer()) is False
    assert cache.lookup("site-a", "summary_request", MODEL, HINT) is None


def test_settings_and_arguments_are_checked(store):
    with pytest.raises(ConfigError, match="SEMANTIC_THRESHOLD"):
        SemanticCache(store, HashingEmbedder(), threshold=0, ttl_seconds=60)
    with pytest.raises(ConfigError, match="CACHE_TTL_SECONDS"):
        SemanticCache(store, HashingEmbedder(), threshold=0.9, ttl_seconds=0)
    cache = SemanticCache(store, HashingEmbedder(), threshold=0.9, ttl_seconds=60)
    with pytest.raises(BadRequestError):
        cache.lookup("", "summary_request", MODEL, HINT)
    with pytest.raises(BadRequestError):
        cache.put("site-a", "summary_request", "", HINT, answer())


def test_vectors_survive_the_store_compactly():
    vector = HashingEmbedder().embed(["summarize this"])[0]
    blob = encode_vector(vector)
    assert len(blob) < 2100 and list(decode_vector(blob, 384)) == pytest.approx(vector, abs=1e-6)
    with pytest.raises(ValueError):
        decode_vector(blob, 383)


# --------------------------------------------------------------------- the hint generators send
@dataclasses.dataclass
class RecordingGateway:
    available: bool = True
    calls: list = dataclasses.field(default_factory=list)

    def complete(self, **kwargs):
        self.calls.append(kwargs)
        return Completion(text="ok", model=MODEL, provider="fake")


def generation(request: str, **changes) -> GenerationRequest:
    context = IssueContext(key="SUP-42", summary="Checkout fails", comments=[CommentInfo("1", "a", "Sam", "hi")])
    classification = Classification(Intent.EMAIL_REQUEST, 0.9, "rules")
    req = GenerationRequest.build(classification, request=request, context=context, tenant_id="site-a")
    return dataclasses.replace(req, **changes)


def test_generators_send_a_hint_built_from_the_request_only_when_cacheable():
    req = generation("Email  the Customer about the delay")
    hint = req.cache_hint()
    assert hint == CacheHint(request="Email the Customer about the delay", issue_key="SUP-42",
                             content_hash=req.context.content_hash(), prompt_version="email-v1",
                             tone="formal", language="en", recipient="customer")
    gateway = RecordingGateway()
    call_model(req, gateway, [{"role": "user", "content": "x"}], cacheable=True)
    call_model(req, gateway, [{"role": "user", "content": "x"}], cacheable=False)
    assert gateway.calls[0]["cache_hint"] == hint and gateway.calls[0]["cache_key"] == req.cache_key()
    assert gateway.calls[1]["cache_hint"] is None and gateway.calls[1]["cache_key"] is None


def test_site_instructions_and_refinements_change_the_hints_content_hash():
    plain = generation("email the customer").cache_hint().content_hash
    assert generation("email the customer", extra_instructions="Sign as Support").cache_hint().content_hash != plain
    assert generation("email the customer", refine=True).cache_hint().content_hash != plain
