"""One contract suite, run against every backend of the key-value store: diskcache and a real Redis."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

from connect_app.models import Tenant
from connect_app.storage.crypto import SecretBox
from connect_app.storage.dedupe import DedupeRepo
from connect_app.storage.tenants import TenantRepo
from tests.storage.backends import open_evicting_store, open_store

# The ``backend`` and ``store`` fixtures live in tests/storage/conftest.py.


def test_get_set_delete_and_expiry(store):
    assert store.get("a") is None and store.get("a", 5) == 5
    store.set("a", {"x": [1, 2], "s": "é"})
    assert store.get("a") == {"x": [1, 2], "s": "é"}
    store.set("b", 1, ttl=0.05)
    time.sleep(0.15)
    assert store.get("b") is None
    assert store.delete("a") is True and store.delete("a") is False


def test_add_is_first_writer_wins_and_respects_expiry(store):
    assert store.add("k", 1) is True
    assert store.add("k", 2) is False
    assert store.get("k") == 1
    assert store.add("t", 1, ttl=0.05) is True
    time.sleep(0.15)
    assert store.add("t", 2) is True


def test_incr_and_incr_if_within(store):
    assert store.incr("c") == 1
    assert store.incr("c", 5) == 6
    assert store.get("c") == 6
    assert store.incr_if_within("budget", 60, 100) == (True, 60)
    assert store.incr_if_within("budget", 50, 100) == (False, 60)
    assert store.incr_if_within("budget", 40, 100) == (True, 100)
    assert store.incr_if_within("budget", -30, 100) == (True, 70)


def test_incr_ttl_applies_only_on_creation(store):
    store.incr("e", 1, ttl=0.2)
    store.incr("e", 1, ttl=60)
    time.sleep(0.35)
    assert store.get("e") is None


def test_scan_by_prefix_including_glob_characters(store):
    for i in range(5):
        store.set(f"p:{i}", i)
    store.set("q:1", 1)
    store.set("p*:x", "star")
    assert sorted(v for _, v in store.scan("p:")) == [0, 1, 2, 3, 4]
    assert [v for _, v in store.scan("p*:")] == ["star"]
    assert sorted(k for k, _ in store.scan("q:")) == ["q:1"]


def test_incr_is_atomic_across_threads(store):
    def bump():
        for _ in range(50):
            store.incr("n")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("n") == 400


def _claim_and_spend(kind, where, results):
    s = open_store(kind, where)
    won = sum(1 for i in range(100) if s.add(f"claim:{i}", 1))
    spent = sum(1 for _ in range(200) if s.incr_if_within("limit", 1, 150)[0])
    results.put((won, spent))
    s.close()


def test_atomicity_across_processes(backend):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_claim_and_spend, args=(*backend, results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    got = [results.get(timeout=10) for _ in procs]
    assert sum(w for w, _ in got) == 100
    assert sum(s for _, s in got) == 150


def test_repos_work_on_every_backend(store):
    repo = TenantRepo(store, SecretBox("a-long-test-secret-key"))
    repo.save(Tenant(tenant_id="ck-1", door="connect", base_url="https://a.atlassian.net", shared_secret="s3cr3t!"))
    assert "s3cr3t!" not in repr(repo.raw("ck-1"))
    assert repo.get("ck-1").shared_secret == "s3cr3t!"
    dedupe = DedupeRepo(store)
    key = uuid.uuid4().hex
    assert dedupe.claim(key) and not dedupe.claim(key)


def test_ping(store):
    assert store.ping() is True


def test_a_dedupe_claim_is_provisional_until_confirmed(store, monkeypatch):
    import connect_app.storage.dedupe as dedupe_module

    monkeypatch.setattr(dedupe_module, "CLAIM_TTL", 0.1)
    dedupe = DedupeRepo(store)
    assert dedupe.claim("lost") and not dedupe.claim("lost")
    time.sleep(0.3)
    assert dedupe.claim("lost"), "a claim whose job never reached the journal frees itself"
    assert dedupe.claim("kept")
    dedupe.confirm("kept")
    time.sleep(0.3)
    assert not dedupe.claim("kept")


# ---------------------------------------------------------------------- the cache store's size bound
ENTRY_BYTES = 100_000


def _entry(i: int) -> str:
    return f"{i:02d}" + "x" * ENTRY_BYTES


def test_the_evicting_store_stays_within_its_size_limit_and_keeps_the_newest(backend):
    cache = open_evicting_store(*backend, size_limit_mb=1)
    try:
        for i in range(30):  # about 3 MB into a 1 MB store
            cache.set(f"e:{i:02d}", _entry(i), ttl=600)
        live = dict(cache.scan("e:"))
        assert sum(len(k) + len(v) for k, v in live.items()) <= 1024 * 1024
        assert 5 <= len(live) <= 10
        newest = [f"e:{i:02d}" for i in range(25, 30)]
        assert all(live.get(k) == _entry(int(k[2:])) for k in newest), sorted(live)
        assert all(cache.get(f"e:{i:02d}") is None for i in range(10)), "the oldest entries were evicted"
        cache.set("after", "small")
        assert cache.get("after") == "small" and cache.get("e:29") == _entry(29)
    finally:
        cache.close()


def test_the_durable_store_never_evicts(store):
    for i in range(30):  # the same 3 MB: a durable store keeps every entry
        store.set(f"d:{i:02d}", _entry(i))
    assert sorted(k for k, _ in store.scan("d:")) == [f"d:{i:02d}" for i in range(30)]
    assert store.get("d:00") == _entry(0)


def test_incr_never_puts_a_ttl_on_an_existing_key(store):
    store.set("z", 0)  # exists, holds the delta's starting point, has no expiry
    assert store.incr("z", 3, ttl=0.05) == 3
    time.sleep(0.15)
    assert store.get("z") == 3
