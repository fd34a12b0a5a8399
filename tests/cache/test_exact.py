"""The exact cache: scoped by site and model, keyed by the generator's key, TTL, never breaks a reply."""

from __future__ import annotations

import dataclasses
import time

import pytest

from connect_app.cache.exact import CachedAnswer, ExactCache
from connect_app.errors import BadRequestError, ConfigError, StorageError
from connect_app.models import Classification, CommentInfo, Completion, Intent, IssueContext, Usage
from connect_app.pipeline.generators.base import GenerationRequest
from connect_app.storage.disk import DiskStore

MODEL = "gpt-4o-mini"


@pytest.fixture
def store(tmp_path):
    store = DiskStore(tmp_path / "cache", evicting=True, size_limit_mb=16)
    yield store
    store.close()


@pytest.fixture
def cache(store) -> ExactCache:
    return ExactCache(store, ttl_seconds=600, clock=lambda: 1_700_000_000.0)


def completion(text: str = "The issue is about checkout on Safari.", cost: int = 465, **kw) -> Completion:
    return Completion(text=text, model="gpt-4o-mini-2024-07-18", provider="openai",
                      usage=Usage(1500, 400), cost_micros=cost, **kw)


def issue(**changes) -> IssueContext:
    base = IssueContext(key="SUP-42", summary="Checkout fails on Safari", description="The iframe never loads.",
                        status="In Progress", comments=[CommentInfo("1", "acc-1", "Sam", "Any workaround?")])
    return dataclasses.replace(base, **changes)


def request_for(context: IssueContext, text: str = "summarize this") -> GenerationRequest:
    classification = Classification(Intent.SUMMARY_REQUEST, 0.9, "rules")
    return GenerationRequest.build(classification, request=text, context=context, tenant_id="site-a")


def test_a_stored_answer_comes_back_with_its_cost_and_age(cache):
    assert cache.put("site-a", MODEL, "summary_request:abc", completion())
    answer = cache.get("site-a", MODEL, "summary_request:abc")
    assert answer == CachedAnswer(text="The issue is about checkout on Safari.", model="gpt-4o-mini-2024-07-18",
                                  cost_micros=465, created_at=1_700_000_000.0, layer="exact")


def test_a_hit_as_a_completion_costs_nothing_and_is_marked_cached(cache):
    cache.put("site-a", MODEL, "k", completion())
    served = cache.get("site-a", MODEL, "k").to_completion()
    assert served.cached and served.cost_micros == 0 and served.usage.total_tokens == 0
    assert served.provider == "cache:exact" and served.text.startswith("The issue")


def test_another_site_never_hits(cache):
    cache.put("site-a", MODEL, "k", completion())
    assert cache.get("site-b", MODEL, "k") is None
    assert cache.get("site-a", MODEL, "k") is not None


def test_another_model_or_key_misses(cache):
    cache.put("site-a", MODEL, "k", completion())
    assert cache.get("site-a", "gpt-4o", "k") is None
    assert cache.get("site-a", MODEL, "k2") is None


def test_an_edited_issue_gets_a_new_key_and_never_the_stale_answer(cache):
    before = request_for(issue())
    cache.put("site-a", MODEL, before.cache_key(), completion("Old summary"))
    for edited in (issue(description="The iframe loads now; the CSP header was patched."),
                   issue(status="Done"),
                   issue(comments=[*issue().comments, CommentInfo("2", "acc-2", "Dana", "Fixed in 3.2.1")])):
        after = request_for(edited)
        assert after.cache_key() != before.cache_key()
        assert cache.get("site-a", MODEL, after.cache_key()) is None
    assert cache.get("site-a", MODEL, request_for(issue()).cache_key()).text == "Old summary"


def test_the_same_request_reworded_only_in_case_and_punctuation_hits(cache):
    first = request_for(issue(), "Summarize this!")
    cache.put("site-a", MODEL, first.cache_key(), completion())
    assert cache.get("site-a", MODEL, request_for(issue(), "summarize   this").cache_key()) is not None


def test_entries_expire(store):
    cache = ExactCache(store, ttl_seconds=1)
    cache.put("site-a", MODEL, "k", completion())
    assert cache.get("site-a", MODEL, "k") is not None
    time.sleep(1.2)
    assert cache.get("site-a", MODEL, "k") is None


def test_empty_and_already_cached_answers_are_not_stored(cache):
    assert not cache.put("site-a", MODEL, "k1", completion(text="  "))
    assert not cache.put("site-a", MODEL, "k2", completion(cached=True))
    assert cache.get("site-a", MODEL, "k1") is None and cache.get("site-a", MODEL, "k2") is None


def test_every_process_sees_the_same_entries(tmp_path):
    writer_store = DiskStore(tmp_path / "shared", evicting=True)
    reader_store = DiskStore(tmp_path / "shared", evicting=True)  # a second handle, as another process has
    try:
        ExactCache(writer_store, ttl_seconds=60).put("site-a", MODEL, "k", completion())
        assert ExactCache(reader_store, ttl_seconds=60).get("site-a", MODEL, "k") is not None
    finally:
        writer_store.close()
        reader_store.close()


def test_a_foreign_or_corrupt_entry_is_never_served_and_is_removed(cache, store):
    key = ExactCache.key("site-a", MODEL, "k")
    store.set(key, {"v": 1, "tenant": "site-b", "model": MODEL, "key": "k", "text": "other site's answer",
                    "answer_model": MODEL, "cost_micros": 1, "created_at": 0})
    assert cache.get("site-a", MODEL, "k") is None
    assert store.get(key) is None
    store.set(key, "not a dict")
    assert cache.get("site-a", MODEL, "k") is None


def test_clear_site_forgets_only_that_site(cache):
    for key in ("a", "b", "c"):
        cache.put("site-a", MODEL, key, completion())
    cache.put("site-b", MODEL, "a", completion())
    assert cache.clear_site("site-a") == 3
    assert cache.get("site-a", MODEL, "a") is None
    assert cache.get("site-b", MODEL, "a") is not None


def test_site_ids_with_separators_cannot_collide(cache):
    cache.put("ari:cloud:ecosystem::installation/1", MODEL, "k", completion())
    assert cache.get("ari:cloud:ecosystem::installation/12", MODEL, "k") is None
    assert cache.get("ari:cloud:ecosystem::installation/1", MODEL, "k") is not None


class BrokenStore:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StorageError("disk full")

        return fail


def test_a_broken_store_reads_as_a_miss_and_never_raises():
    cache = ExactCache(BrokenStore(), ttl_seconds=60)
    assert cache.get("site-a", MODEL, "k") is None
    assert cache.put("site-a", MODEL, "k", completion()) is False


def test_bad_arguments_get_typed_errors(cache, store):
    with pytest.raises(BadRequestError):
        cache.get("", MODEL, "k")
    with pytest.raises(BadRequestError):
        cache.put("site-a", MODEL, "", completion())
    with pytest.raises(BadRequestError):
        cache.get("site-a", "", "k")
    with pytest.raises(ConfigError, match="CACHE_TTL_SECONDS"):
        ExactCache(store, ttl_seconds=0)
