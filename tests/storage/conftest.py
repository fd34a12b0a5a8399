"""The backend fixtures of the storage contract suites: every test runs on diskcache and on a real Redis."""

from __future__ import annotations

import pytest

from tests.storage.backends import flush_redis, open_store


@pytest.fixture(params=["disk", "redis"])
def backend(request, tmp_path):
    """``(kind, where)`` for :func:`open_store`: a fresh directory, or a Redis with the contract keys flushed."""
    if request.param == "disk":
        return "disk", str(tmp_path / "kv")
    url = request.getfixturevalue("redis_url")
    flush_redis(url)
    return "redis", url


@pytest.fixture
def store(backend):
    """A durable store of the backend under test."""
    s = open_store(*backend)
    yield s
    s.close()
