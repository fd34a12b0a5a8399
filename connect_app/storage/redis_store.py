"""The Redis backend of the key-value contract: shared state for many processes on many hosts.

Values are stored as JSON (an integer's JSON is its decimal text, so Redis' INCRBY works on the
counters ``incr`` writes). The atomic operations are single commands (``SET NX``) or Lua scripts
(increment with expiry on creation; increment only within a limit), so their guarantees hold across
hosts. Keys live under a namespace (``jira-ai:durable:`` / ``jira-ai:cache:``).

An *evicting* store (the ``cache`` namespace) is also bounded in size, like the diskcache one. Every
``set``/``add`` records the entry's size (key plus JSON bytes) in a hash, its insertion order in a
sorted set and the namespace's total in a counter, then evicts the oldest entries until the total is
within the limit, all in one Lua script, so the bound holds however many processes write. An entry
that expired by TTL keeps its recorded bytes until it is popped from the head of the order (a missing
key is popped like any other, subtracting what was recorded), and each write also sweeps a few
expired entries off the head, so expiry never leaks accounting for ever. The accounting keys sit
beside the namespace (``jira-ai:cache|order``, ``|sizes``, ``|total``, ``|seq``), outside its scans.
Counters written with ``incr`` are not counted (a few bytes each). Durable stores never evict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..errors import StorageError

_INCR = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and created then
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

# KEYS: entry, order (zset), sizes (hash), total, seq. ARGV: value, ttl ms (0: none), limit bytes, "1" for NX.
_BOUNDED_SET = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
local size = string.len(KEYS[1]) + string.len(ARGV[1])
local old = tonumber(redis.call('HGET', KEYS[3], KEYS[1]) or '0')
redis.call('HSET', KEYS[3], KEYS[1], size)
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), KEYS[1])
local total = redis.call('INCRBY', KEYS[4], size - old)
local function pop()
  local head = redis.call('ZPOPMIN', KEYS[2])
  if #head == 0 then
    redis.call('SET', KEYS[4], 0)
    total = 0
    return false
  end
  local recorded = tonumber(redis.call('HGET', KEYS[3], head[1]) or '0')
  redis.call('HDEL', KEYS[3], head[1])
  redis.call('DEL', head[1])
  total = redis.call('INCRBY', KEYS[4], -recorded)
  return true
end
while total > tonumber(ARGV[3]) do
  if not pop() then break end
end
for _ = 1, 3 do
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not head or redis.call('EXISTS', head) == 1 then break end
  pop()
end
return 1
"""

# KEYS: entry, order, sizes, total.
_BOUNDED_DELETE = """
local existed = redis.call('DEL', KEYS[1])
local recorded = redis.call('HGET', KEYS[3], KEYS[1])
if recorded then
  redis.call('HDEL', KEYS[3], KEYS[1])
  redis.call('ZREM', KEYS[2], KEYS[1])
  redis.call('DECRBY', KEYS[4], recorded)
end
return existed
"""

_GLOB = re.compile(r"([*?\[\]\\])")


def _ms(ttl: float | None) -> int:
    return max(1, int(ttl * 1000)) if ttl else 0


class RedisStore:
    """:class:`~connect_app.storage.base.KeyValueStore` on Redis (``REDIS_URL``)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        client: Any = None,
        evicting: bool = False,
        size_limit_mb: float = 256,
    ) -> None:
        """Connect lazily to ``url``; every key is prefixed with ``jira-ai:<namespace>:``.

        ``evicting`` stores drop their oldest entries once the namespace's entries (key plus JSON
        bytes) pass ``size_limit_mb``; durable stores never evict.
        """
        import redis

        self._redis_errors = (redis.RedisError, OSError)
        self._client = client or redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
        )
        self._prefix = f"jira-ai:{namespace}:"
        self._incr = self._client.register_script(_INCR)
        self._incr_if_within = self._client.register_script(_INCR_IF_WITHIN)
        self.evicting = evicting
        self.size_limit_bytes = max(0, int(size_limit_mb * 1024 * 1024))
        base = self._prefix[:-1]
        self._accounting = [f"{base}|order", f"{base}|sizes", f"{base}|total", f"{base}|seq"]
        self._bounded_set = self._client.register_script(_BOUNDED_SET)
        self._bounded_delete = self._client.register_script(_BOUNDED_DELETE)

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
        """See the contract (an evicting store may then drop its oldest entries)."""
        if self.evicting:
            self._bounded(key, value, ttl, nx=False)
            return
        self._guard(self._client.set, self._k(key), json.dumps(value), px=_ms(ttl) or None)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        """See the contract."""
        if self.evicting:
            return self._bounded(key, value, ttl, nx=True)
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
        if self.evicting:
            keys = [self._k(key), *self._accounting[:3]]
            return bool(self._guard(self._bounded_delete, keys=keys))
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

    def size_bytes(self) -> int:
        """The bytes an evicting store has recorded for its entries (0 for a durable store).

        Entries that expired but were not yet swept off the head of the order still count.
        """
        if not self.evicting:
            return 0
        return int(self._guard(self._client.get, self._accounting[2]) or 0)

    def _bounded(self, key: str, value: Any, ttl: float | None, *, nx: bool) -> bool:
        keys = [self._k(key), *self._accounting]
        args = [json.dumps(value), _ms(ttl), self.size_limit_bytes, "1" if nx else "0"]
        return bool(self._guard(self._bounded_set, keys=keys, args=args))

    def ping(self) -> bool:
        """See the contract."""
        return bool(self._guard(self._client.ping))

    def close(self) -> None:
        """See the contract."""
        self._client.close()
