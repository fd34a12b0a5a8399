"""The Redis backend of the key-value contract: shared state for many processes on many hosts.

Values are stored as JSON (an integer's JSON is its decimal text, so Redis' INCRBY works on the
counters ``incr`` writes). The atomic operations are single commands (``SET NX``) or Lua scripts
(increment with expiry on creation; increment only within a limit), so their guarantees hold across
hosts. Keys live under a namespace (``jira-ai:durable:`` / ``jira-ai:cache:``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..errors import StorageError

_INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and value == tonumber(ARGV[1]) and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""

_INCR_IF_WITHIN = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local delta = tonumber(ARGV[1])
if current + delta > tonumber(ARGV[2]) then
  return {0, current}
end
local value = redis.call('INCRBY', KEYS[1], delta)
if tonumber(ARGV[3]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {1, value}
"""

_GLOB = re.compile(r"([*?\[\]\\])")


def _ms(ttl: float | None) -> int:
    return max(1, int(ttl * 1000)) if ttl else 0


class RedisStore:
    """:class:`~connect_app.storage.base.KeyValueStore` on Redis (``REDIS_URL``)."""

    def __init__(self, url: str, *, namespace: str, client: Any = None) -> None:
        """Connect lazily to ``url``; every key is prefixed with ``jira-ai:<namespace>:``."""
        import redis

        self._redis_errors = (redis.RedisError, OSError)
        self._client = client or redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
        )
        self._prefix = f"jira-ai:{namespace}:"
        self._incr = self._client.register_script(_INCR)
        self._incr_if_within = self._client.register_script(_INCR_IF_WITHIN)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _guard(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as exc:
            raise StorageError(f"redis failed: {type(exc).__name__}") from exc

    def get(self, key: str, default: Any = None) -> Any:
        """See the contract."""
        raw = self._guard(self._client.get, self._k(key))
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """See the contract."""
        self._guard(self._client.set, self._k(key), json.dumps(value), px=_ms(ttl) or None)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """See the contract."""
        return bool(
            self._guard(self._client.set, self._k(key), json.dumps(value), nx=True, px=_ms(ttl) or None)
        )

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        """See the contract."""
        return int(self._guard(self._incr, keys=[self._k(key)], args=[int(delta), _ms(ttl)]))

    def incr_if_within(self, key: str, delta: int, limit: int, ttl: float | None = None) -> tuple[bool, int]:
        """See the contract."""
        applied, value = self._guard(
            self._incr_if_within, keys=[self._k(key)], args=[int(delta), int(limit), _ms(ttl)]
        )
        return bool(applied), int(value)

    def delete(self, key: str) -> bool:
        """See the contract."""
        return bool(self._guard(self._client.delete, self._k(key)))

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """See the contract (SCAN with a match pattern, values fetched in batches)."""
        pattern = _GLOB.sub(r"\\\1", self._k(prefix)) + "*"
        keys = [
            k.decode() if isinstance(k, bytes) else k
            for k in self._guard(lambda: list(self._client.scan_iter(match=pattern, count=500)))
        ]
        strip = len(self._prefix)
        for start in range(0, len(keys), 200):
            batch = keys[start : start + 200]
            for key, raw in zip(batch, self._guard(self._client.mget, batch), strict=True):
                if raw is not None:
                    yield key[strip:], json.loads(raw)

    def ping(self) -> bool:
        """See the contract."""
        return bool(self._guard(self._client.ping))

    def close(self) -> None:
        """See the contract."""
        self._client.close()
