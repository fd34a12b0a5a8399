"""diskcache-specific behaviour; the shared contract is in test_store_contract.py."""

import pytest

from connect_app.models import Tenant
from connect_app.storage.crypto import SecretBox
from connect_app.storage.disk import DiskStore
from connect_app.storage.tenants import TenantRepo


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "kv")
    yield s
    s.close()


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


def test_durable_store_never_evicts(tmp_path):
    s = DiskStore(tmp_path / "d")
    assert s._cache.eviction_policy == "none"
    c = DiskStore(tmp_path / "c", evicting=True, size_limit_mb=1)
    assert c._cache.eviction_policy != "none"
