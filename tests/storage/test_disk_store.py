"""The key-value contract, run against the diskcache backend (Redis joins the same suite later)."""

import multiprocessing
import threading
import time

import pytest

from connect_app.models import Tenant
from connect_app.storage.crypto import SecretBox
from connect_app.storage.dedupe import DedupeRepo
from connect_app.storage.disk import DiskStore
from connect_app.storage.tenants import TenantRepo


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "kv")
    yield s
    s.close()


def test_get_set_delete_and_expiry(store):
    assert store.get("a") is None and store.get("a", 5) == 5
    store.set("a", {"x": [1, 2]})
    assert store.get("a") == {"x": [1, 2]}
    store.set("b", 1, ttl=0.05)
    time.sleep(0.1)
    assert store.get("b") is None
    assert store.delete("a") is True and store.delete("a") is False


def test_add_is_first_writer_wins(store):
    assert store.add("k", 1) is True
    assert store.add("k", 2) is False
    assert store.get("k") == 1


def test_incr_and_incr_if_within(store):
    assert store.incr("c") == 1
    assert store.incr("c", 5) == 6
    assert store.incr_if_within("budget", 60, 100) == (True, 60)
    assert store.incr_if_within("budget", 50, 100) == (False, 60)
    assert store.incr_if_within("budget", 40, 100) == (True, 100)
    assert store.incr_if_within("budget", -30, 100) == (True, 70)


def test_scan_by_prefix(store):
    for i in range(5):
        store.set(f"p:{i}", i)
    store.set("q:1", 1)
    assert sorted(v for _, v in store.scan("p:")) == [0, 1, 2, 3, 4]


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


def _claim_many(path, results):
    s = DiskStore(path)
    won = sum(1 for i in range(100) if s.add(f"claim:{i}", 1))
    results.put(won)
    s.close()


def test_add_is_atomic_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_claim_many, args=(tmp_path / "shared", results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sum(results.get(timeout=5) for _ in procs) == 100


def test_tenant_secret_is_sealed_at_rest(store):
    repo = TenantRepo(store, SecretBox("a-long-test-secret-key"))
    repo.save(Tenant(tenant_id="ck-1", door="connect", base_url="https://a.atlassian.net", shared_secret="s3cr3t!"))
    raw = repo.raw("ck-1")
    assert "s3cr3t!" not in repr(raw)
    assert repo.get("ck-1").shared_secret == "s3cr3t!"
    other = TenantRepo(store, SecretBox("another-long-secret-key"))
    from connect_app.errors import StorageError

    with pytest.raises(StorageError, match="SECRET_KEY"):
        other.get("ck-1")


def test_tenant_keeps_install_time_on_reinstall(store):
    repo = TenantRepo(store, SecretBox("a-long-test-secret-key"))
    first = repo.save(Tenant(tenant_id="ck", door="connect", base_url="https://a.atlassian.net"))
    again = repo.save(Tenant(tenant_id="ck", door="connect", base_url="https://a.atlassian.net"))
    assert again.installed_at == first.installed_at
    assert [t.tenant_id for t in repo.all()] == ["ck"]


def test_dedupe_claims_once(store):
    d = DedupeRepo(store)
    assert d.claim("x") and not d.claim("x") and d.seen("x")
    d.release("x")
    assert d.claim("x")


def test_durable_store_never_evicts(tmp_path):
    s = DiskStore(tmp_path / "d")
    assert s._cache.eviction_policy == "none"
    c = DiskStore(tmp_path / "c", evicting=True, size_limit_mb=1)
    assert c._cache.eviction_policy != "none"
