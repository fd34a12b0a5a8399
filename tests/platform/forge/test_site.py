"""Forge site records: created and refreshed from verified invocations; the system token provider."""

from __future__ import annotations

import pytest

from connect_app.errors import ForbiddenError, TokenExpiredError
from connect_app.models import Tenant
from connect_app.platform.forge.fit import ForgeInvocation
from connect_app.platform.forge.site import merge_site, record_site, system_token_provider
from connect_app.storage.crypto import SecretBox
from connect_app.storage.disk import DiskStore
from connect_app.storage.tenants import TenantRepo
from tests.platform.forge.fitkit import API_BASE, CLOUD_ID, INSTALLATION_ID, system_token

NOW = 1_800_000_000.0


def invocation(**over):
    values = {"installation_id": INSTALLATION_ID, "api_base_url": API_BASE, "app_id": "app",
              "module_key": "lifecycle-trigger", "context": {"cloudId": CLOUD_ID}}
    values.update(over)
    return ForgeInvocation(**values)


@pytest.fixture
def repo(tmp_path):
    store = DiskStore(tmp_path / "kv")
    yield TenantRepo(store, SecretBox("a-long-test-secret-key"))
    store.close()


def test_first_call_creates_the_site_with_a_sealed_token(repo):
    token = system_token(NOW + 3600)
    tenant, new = record_site(repo, invocation(), system_token=token, app_key="jira-ai", now=NOW)
    assert new and tenant.door == "forge" and tenant.tenant_id == INSTALLATION_ID
    assert tenant.api_base_url == API_BASE and tenant.base_url == API_BASE and tenant.cloud_id == CLOUD_ID
    assert tenant.system_token == token and tenant.system_token_expires_at == NOW + 3600
    raw = repo.raw(INSTALLATION_ID)
    assert token not in repr(raw) and "sealed" in raw["system_token"]
    assert repo.get(INSTALLATION_ID).system_token == token


def test_newer_tokens_replace_older_ones_but_not_the_other_way_round(repo):
    first, second, stale = system_token(NOW + 600, marker="1"), system_token(NOW + 3600, marker="2"), \
        system_token(NOW + 300, marker="3")
    record_site(repo, invocation(), system_token=first, now=NOW)
    record_site(repo, invocation(), system_token=second, now=NOW)
    assert repo.get(INSTALLATION_ID).system_token == second
    _, new = record_site(repo, invocation(), system_token=stale, now=NOW)  # an old redelivery
    assert not new and repo.get(INSTALLATION_ID).system_token == second
    record_site(repo, invocation(), system_token=None, now=NOW)
    assert repo.get(INSTALLATION_ID).system_token == second


def test_site_url_is_learned_and_kept(repo):
    record_site(repo, invocation(), system_token=None, now=NOW)
    record_site(repo, invocation(context={"cloudId": CLOUD_ID, "siteUrl": "https://acme.atlassian.net/"}),
                system_token=None, now=NOW)
    assert repo.get(INSTALLATION_ID).base_url == "https://acme.atlassian.net"
    record_site(repo, invocation(context={}), system_token=None, now=NOW)
    tenant = repo.get(INSTALLATION_ID)
    assert tenant.base_url == "https://acme.atlassian.net" and tenant.cloud_id == CLOUD_ID


def test_a_token_lasting_barely_longer_does_not_rewrite_the_record(repo):
    first = system_token(NOW + 3600, marker="1")
    record_site(repo, invocation(), system_token=first, now=NOW)
    stored = repo.get(INSTALLATION_ID)
    _, changed = merge_site(stored, invocation(), system_token=system_token(NOW + 3601, marker="2"), now=NOW + 1)
    assert not changed
    # once the stored token has expired, any fresher one is taken
    tenant, changed = merge_site(stored, invocation(), system_token=system_token(NOW + 3630, marker="3"),
                                 now=NOW + 3601)
    assert changed and tenant.system_token_expires_at == NOW + 3630


def test_nothing_is_written_when_nothing_changed(repo):
    record_site(repo, invocation(), system_token=system_token(NOW + 600), now=NOW)
    stored = repo.get(INSTALLATION_ID)
    tenant, changed = merge_site(stored, invocation(), system_token=stored.system_token, now=NOW)
    assert not changed and tenant == stored


def test_a_connect_site_is_never_taken_over():
    connect = Tenant(tenant_id=INSTALLATION_ID, door="connect", base_url="https://a.atlassian.net")
    with pytest.raises(ForbiddenError):
        merge_site(connect, invocation(), system_token=None, now=NOW)


def test_token_provider_reads_the_repo_each_call_and_refuses_expired_tokens(repo):
    clock = [NOW]
    record_site(repo, invocation(), system_token=system_token(NOW + 600, marker="1"), now=NOW)
    tenant = repo.get(INSTALLATION_ID)
    provider = system_token_provider(tenant, repo, clock=lambda: clock[0])
    assert provider() == tenant.system_token
    clock[0] = NOW + 590  # within the 60 s margin
    with pytest.raises(TokenExpiredError, match="expired"):
        provider()
    fresh = system_token(NOW + 4000, marker="2")
    record_site(repo, invocation(), system_token=fresh, now=NOW + 590)
    assert provider() == fresh


def test_token_provider_without_any_token():
    tenant = Tenant(tenant_id="x", door="forge", base_url=API_BASE, api_base_url=API_BASE)
    with pytest.raises(TokenExpiredError, match="not sent"):
        system_token_provider(tenant)()
