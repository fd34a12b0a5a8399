"""The Redis cache store's size bound: its accounting stays exact under overwrites, deletes, expiry and threads."""

from __future__ import annotations

import json
import threading
import time

import pytest

from connect_app.storage.factory import open_stores
from connect_app.storage.redis_store import RedisStore
from tests.storage.backends import NAMESPACE, flush_redis

LIMIT_BYTES = 4_000
CACHE_NS = NAMESPACE + "-cache"


@pytest.fixture
def url(redis_url):
    flush_redis(redis_url)
    yield redis_url
    flush_redis(redis_url)


def bounded(url: str, limit_bytes: int = LIMIT_BYTES) -> RedisStore:
    return RedisStore(url, namespace=CACHE_NS, evicting=True, size_limit_mb=limit_bytes / (1024 * 1024))


def live_bytes(store: RedisStore) -> int:
    """What the accounting should say: key plus JSON bytes of every live entry."""
    prefix = f"jira-ai:{CACHE_NS}:"
    return sum(len((prefix + k).encode()) + len(json.dumps(v).encode()) for k, v in store.scan(""))


def raw_keys(url: str) -> set[str]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return {k.decode() for k in client.scan_iter(match=f"jira-ai:{NAMESPACE}*")}
    finally:
        client.close()


def test_overwrites_adds_and_deletes_keep_the_accounting_exact(url):
    store = bounded(url)
    try:
        store.set("a", "x" * 100)
        store.set("a", "y" * 10)  # an overwrite replaces, never adds to, the recorded size
        assert store.add("b", {"k": 1}) and not store.add("b", "ignored")
        assert store.size_bytes() == live_bytes(store) > 0
        assert store.delete("a") and not store.delete("a")
        assert store.size_bytes() == live_bytes(store)
        assert store.delete("b") and store.size_bytes() == 0
    finally:
        store.close()


def test_expired_entries_do_not_leak_accounting(url):
    store = bounded(url)
    try:
        for i in range(6):
            store.set(f"short:{i}", "s" * 300, ttl=0.05)
        time.sleep(0.15)
        assert store.size_bytes() > 0  # recorded until swept
        store.set("keep:1", "k" * 100)
        store.set("keep:2", "k" * 100)  # each write sweeps expired entries off the head of the order
        assert store.size_bytes() == live_bytes(store)
        assert sorted(k for k, _ in store.scan("")) == ["keep:1", "keep:2"]
    finally:
        store.close()


def test_an_expired_entry_popped_under_pressure_subtracts_what_was_recorded(url):
    store = bounded(url)
    try:
        store.set("old", "o" * 200)
        store.set("gone", "g" * 2_000, ttl=0.05)  # expires in the middle of the order
        time.sleep(0.15)
        for i in range(10):
            store.set(f"new:{i}", "n" * 500)
        assert store.size_bytes() <= LIMIT_BYTES
        assert store.size_bytes() == live_bytes(store)
        assert store.get("new:9") == "n" * 500 and store.get("old") is None
    finally:
        store.close()


def test_an_entry_larger_than_the_limit_is_not_kept(url):
    store = bounded(url)
    try:
        store.set("small", "s")
        store.set("huge", "h" * (LIMIT_BYTES + 1))
        assert store.get("huge") is None and store.size_bytes() == live_bytes(store) <= LIMIT_BYTES
    finally:
        store.close()


def test_many_clients_writing_at_once_keep_the_bound_and_the_accounting(url):
    stores = [bounded(url) for _ in range(6)]
    barrier = threading.Barrier(len(stores))

    def write(n: int, store: RedisStore) -> None:
        barrier.wait()
        for i in range(60):
            store.set(f"w{n}:{i % 20}", "v" * (50 + 13 * i))
            if i % 7 == 0:
                store.delete(f"w{n}:{(i + 3) % 20}")

    threads = [threading.Thread(target=write, args=(n, s)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert stores[0].size_bytes() == live_bytes(stores[0]) <= LIMIT_BYTES
    finally:
        for s in stores:
            s.close()


def test_accounting_keys_stay_out_of_scans_and_durable_stores_have_none(url):
    cache = bounded(url)
    durable = RedisStore(url, namespace=NAMESPACE)
    try:
        cache.set("c", 1)
        durable.set("d", 1)
        assert [k for k, _ in cache.scan("")] == ["c"]
        assert [k for k, _ in durable.scan("")] == ["d"]
        assert durable.size_bytes() == 0
        assert raw_keys(url) == {
            f"jira-ai:{CACHE_NS}:c", f"jira-ai:{NAMESPACE}:d",
            *(f"jira-ai:{CACHE_NS}|{name}" for name in ("order", "sizes", "total", "seq")),
        }
    finally:
        cache.close()
        durable.close()


def test_with_redis_the_cache_store_gets_the_configured_size_limit(settings, url):
    stores = open_stores(settings.replace(redis_url=url, cache_size_limit_mb=3))
    try:
        assert stores.cache.evicting and stores.cache.size_limit_bytes == 3 * 1024 * 1024
        assert not stores.durable.evicting
    finally:
        stores.close()
