"""The end-to-end semantic benchmark: bulk-loaded entries are what ``SemanticCache.put`` writes."""

from __future__ import annotations

import pytest

from bench import cache_bench
from connect_app.cache.embedders import HashingEmbedder
from connect_app.cache.semantic import SemanticCache, encode_vector

np = pytest.importorskip("numpy")


def test_bulk_entries_match_what_put_stores_and_a_cold_cache_loads_them():
    embedder = HashingEmbedder()
    requests = cache_bench.synthetic_requests(3)
    vectors, real = cache_bench.embed_for_bench(embedder, [text for _, text in requests], None)
    assert real == 3 and vectors.dtype == np.float32
    hint = cache_bench.hint_for("summary_request", requests[0][1], issue_key=requests[0][0])
    entry = cache_bench._entry("site", "summary_request", 1, hint, vectors[0], embedder.name, 1000.0, 60)
    assert entry["vec"] == encode_vector([float(x) for x in vectors[0]])
    with cache_bench.temp_store() as store:
        cache = SemanticCache(store, embedder, threshold=0.9, ttl_seconds=60)
        cache.put("other", "summary_request", cache_bench.MODEL, hint,
                  cache_bench.Completion(text="x", model=cache_bench.MODEL, provider="bench", cost_micros=1))
        written = next(value for key, value in store.scan("sem:"))
    assert set(entry) == set(written)
    assert entry["vec"] == written["vec"] and entry["hint"] == written["hint"]


def test_noisy_copies_fill_past_the_embedding_limit():
    texts = [text for _, text in cache_bench.synthetic_requests(50)]
    vectors, real = cache_bench.embed_for_bench(HashingEmbedder(), texts, 10)
    assert real == 10 and vectors.shape == (50, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = float(vectors[10] @ vectors[0])
    assert 0.95 < cosine < 1.0


def test_semantic_rows_at_each_size_say_their_embedder():
    rows = cache_bench.bench_semantic_sizes((300, 2_500), lookups=10, local_limit=50)
    assert rows["hashing/300"]["embedder"] == "hashing-v1"
    big = rows["hashing/2500"]
    assert big["entries"] == 2_500 and big["embedded_entries"] == 2_500
    assert big["indexed"] == 2_500 + 100  # the bulk entries plus the timed puts, loaded by the full scan
    assert big["lookup_hit_rate"] == 1.0
    text = cache_bench.format_report({"machine": {}, "exact": {"entries": 1, "hit_p50_ms": 0, "hit_p99_ms": 0,
                                                              "miss_p50_ms": 0},
                                      "index": {"dim": 384}, "semantic": rows, "pairs": {}, "savings": {}})
    assert "  hashing               2,500     2,500 |" in text
    if "local/2500" in rows:
        assert rows["local/2500"]["embedded_entries"] == 50
        assert "local MiniLM" in text and "noisy copies" in text
