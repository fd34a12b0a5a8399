"""Opening a key-value store of either backend for the contract suites (importable by spawned processes)."""

from __future__ import annotations

from connect_app.storage.disk import DiskStore
from connect_app.storage.redis_store import RedisStore

NAMESPACE = "contract"


def open_store(kind: str, where: str):
    """A durable store: a DiskStore directory, or the ``contract`` namespace of a Redis URL.

    Calling it twice with the same arguments gives two handles on one store, as two processes have.
    """
    if kind == "disk":
        return DiskStore(where)
    return RedisStore(where, namespace=NAMESPACE)


def open_evicting_store(kind: str, where: str, size_limit_mb: float):
    """An evicting (cache) store bounded to ``size_limit_mb``, beside the durable one."""
    if kind == "disk":
        return DiskStore(where + "-cache", evicting=True, size_limit_mb=size_limit_mb)
    return RedisStore(where, namespace=NAMESPACE + "-cache", evicting=True, size_limit_mb=size_limit_mb)


def flush_redis(url: str) -> None:
    """Remove every key of the contract namespaces, accounting keys included."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"jira-ai:{NAMESPACE}*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()
