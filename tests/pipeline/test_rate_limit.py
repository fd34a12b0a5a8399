"""The rate limiter on a real DiskStore (and a real Redis): windows, per person vs per site, refunds,
one notice per window, and two spawned processes sharing one store."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from connect_app.errors import ConfigError
from connect_app.pipeline.rate_limit import (
    HOUR,
    MINUTE,
    Limit,
    RateLimiter,
    Verdict,
    limits_from_settings,
    refusal_message,
    verdict_message,
    wait_words,
)
from connect_app.settings import Settings
from connect_app.storage.disk import DiskStore

T0 = 1_800_000_000.0  # a whole hour (and so a whole minute) on the epoch grid
SITE, OTHER_SITE = "ck-acme-0001", "ck-globex-0002"
DANA, SAM = "5b10ac8d82e05b22cc7d4ef5", "5b10ac8d82e05b22cc7d4e99"


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Errors:
    """Counts ``record_error`` calls by code, as the metrics would."""

    def __init__(self) -> None:
        self.codes: Counter[str] = Counter()

    def record_error(self, code: str) -> None:
        self.codes[code] += 1


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "store")
    yield s
    s.close()


def limiter(store, *, user_minute=3, user_hour=5, site_minute=4, clock=None, metrics=None) -> RateLimiter:
    limits = [Limit("user_minute", "user", user_minute, MINUTE), Limit("user_hour", "user", user_hour, HOUR),
              Limit("site_minute", "site", site_minute, MINUTE)]
    return RateLimiter(store, limits, clock=clock or Clock(), metrics=metrics)


def allowed(rl: RateLimiter, n: int, site: str = SITE, user: str | None = DANA) -> list[bool]:
    return [rl.check(site, user).allowed for _ in range(n)]


# ---------------------------------------------------------------------- windows
def test_a_person_gets_the_minute_limit_then_waits_for_the_next_window(store):
    clock = Clock(T0 + 20)
    rl = limiter(store, clock=clock, user_hour=100, site_minute=100)
    assert allowed(rl, 3) == [True, True, True]
    refused = rl.check(SITE, DANA)
    assert not refused.allowed and refused.refused_by.name == "user_minute"
    assert refused.retry_after == 40 and refused.retry_at == T0 + 60
    clock.now = T0 + 59.5
    assert rl.check(SITE, DANA).retry_after == 1  # never "0 seconds"
    clock.now = T0 + 60
    assert allowed(rl, 3) == [True, True, True]
    assert not rl.check(SITE, DANA).allowed


def test_the_hour_limit_holds_across_minutes_and_says_so(store):
    clock = Clock()
    rl = limiter(store, clock=clock, user_minute=3, user_hour=5, site_minute=100)
    assert allowed(rl, 3) == [True] * 3
    clock.now += MINUTE
    assert allowed(rl, 3) == [True, True, False]
    clock.now += 10 * MINUTE
    refused = rl.check(SITE, DANA)
    assert refused.refused_by.name == "user_hour" and refused.retry_after == HOUR - 11 * MINUTE
    clock.now = T0 + HOUR
    assert rl.check(SITE, DANA).allowed


def test_a_refused_request_uses_nothing(store):
    clock = Clock()
    rl = limiter(store, clock=clock, user_minute=2, user_hour=3, site_minute=100)
    assert allowed(rl, 10) == [True, True] + [False] * 8  # refusals inside the minute ...
    clock.now += MINUTE
    assert allowed(rl, 2) == [True, False]  # ... did not use the hour: one left of three, not zero


# ---------------------------------------------------------------------- per person vs per site
def test_one_persons_flood_leaves_others_and_other_sites_alone(store):
    rl = limiter(store, user_minute=2, site_minute=3)
    assert allowed(rl, 5, user=DANA) == [True, True, False, False, False]
    assert allowed(rl, 1, user=SAM) == [True]  # Dana's refusals did not eat the site's allowance
    assert allowed(rl, 2, site=OTHER_SITE, user=DANA) == [True, True]  # same account, another site


def test_the_site_limit_binds_all_people_together(store):
    rl = limiter(store, user_minute=3, site_minute=4)
    people = [f"user-{n}" for n in range(6)]
    verdicts = [rl.check(SITE, p) for p in people]
    assert [v.allowed for v in verdicts] == [True] * 4 + [False] * 2
    assert {v.refused_by.name for v in verdicts if not v.allowed} == {"site_minute"}
    # the site's refusal gave the person's counts back: user-4 can still ask once the site window turns
    rl._clock.now += MINUTE
    assert allowed(rl, 3, user="user-4") == [True, True, True]


def test_without_an_account_only_the_site_limit_applies(store):
    rl = limiter(store, user_minute=1, site_minute=3)
    assert allowed(rl, 4, user=None) == [True, True, True, False]
    assert allowed(rl, 1, user="") == [False]


def test_ids_holding_the_separator_do_not_share_a_counter(store):
    rl = limiter(store, user_minute=1, site_minute=100)
    assert rl.check("a:b", "c").allowed
    assert rl.check("a", "b:c").allowed  # not the same key as ("a:b", "c")


def test_give_back_returns_the_counts_of_a_request_that_was_not_queued(store):
    rl = limiter(store, user_minute=1, site_minute=1)
    first = rl.check(SITE, DANA)
    assert not rl.check(SITE, SAM).allowed
    rl.give_back(first)
    assert rl.check(SITE, SAM).allowed and not rl.check(SITE, DANA).allowed
    rl.give_back(None)  # nothing to give back is fine


# ---------------------------------------------------------------------- one notice per window, metrics
def test_only_the_first_refusal_of_a_window_claims_the_notice(store):
    clock = Clock()
    rl = limiter(store, clock=clock, user_minute=1, site_minute=100)
    rl.check(SITE, DANA)
    refusals = [rl.check(SITE, DANA) for _ in range(5)]
    assert [rl.claim_notice(SITE, DANA, v) for v in refusals] == [True, False, False, False, False]
    assert not rl.claim_notice(SITE, DANA, Verdict(True))
    rl.check(SITE, SAM)
    assert rl.claim_notice(SITE, SAM, rl.check(SITE, SAM))  # another person is told too
    clock.now += MINUTE
    rl.check(SITE, DANA)
    assert rl.claim_notice(SITE, DANA, rl.check(SITE, DANA))  # a new window, a new notice


def test_a_released_notice_can_be_claimed_again(store):
    rl = limiter(store, user_minute=1, site_minute=100)
    rl.check(SITE, DANA)
    refused = rl.check(SITE, DANA)
    assert rl.claim_notice(SITE, DANA, refused)
    rl.release_notice(SITE, DANA, refused)
    assert rl.claim_notice(SITE, DANA, refused)


def test_every_refusal_is_counted_in_the_metrics(store):
    errors = Errors()
    rl = limiter(store, user_minute=2, site_minute=100, metrics=errors)
    allowed(rl, 7)
    assert errors.codes == {"rate_limited": 5}


# ---------------------------------------------------------------------- across processes and hosts
def _hammer(store_dir: str, redis_url: str | None, now: float, n: int, out) -> None:
    """A separate process with its own store handle: ``n`` requests from one person; counts the allowed."""
    if redis_url:
        from connect_app.storage.redis_store import RedisStore

        store = RedisStore(redis_url, namespace="durable")
    else:
        store = DiskStore(store_dir)
    try:
        rl = limiter(store, user_minute=25, user_hour=1000, site_minute=1000, clock=Clock(now))
        refused = [rl.check(SITE, DANA) for _ in range(n)]
        out.put((sum(v.allowed for v in refused), sum(rl.claim_notice(SITE, DANA, v) for v in refused)))
    finally:
        store.close()


def _in_two_processes(store_dir: str, redis_url: str | None) -> list[tuple[int, int]]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(store_dir, redis_url, T0 + 5, 20, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def test_two_processes_sharing_one_disk_store_share_the_limit(tmp_path):
    results = _in_two_processes(str(tmp_path / "shared"), None)
    assert sum(a for a, _ in results) == 25  # 40 asked, 25 allowed between both processes
    assert sum(n for _, n in results) == 1  # and exactly one of the 15 refusals earns a reply


@pytest.mark.redis
def test_two_processes_sharing_one_redis_share_the_limit(tmp_path, redis_url):
    from connect_app.storage.redis_store import RedisStore

    url = redis_url.rsplit("/", 1)[0] + "/9"  # a database of its own
    store = RedisStore(url, namespace="durable")
    store._client.flushdb()
    store.close()
    results = _in_two_processes("", url)
    assert sum(a for a, _ in results) == 25 and sum(n for _, n in results) == 1


# ---------------------------------------------------------------------- settings and words
def test_the_settings_configure_the_limits_and_refuse_nonsense():
    s = Settings.from_env({"RATE_LIMIT_USER_PER_MINUTE": "2", "RATE_LIMIT_USER_PER_HOUR": "9",
                           "RATE_LIMIT_SITE_PER_MINUTE": "30"}, env_file=None)
    assert {(lim.name, lim.limit, lim.window_seconds) for lim in limits_from_settings(s)} == {
        ("user_minute", 2, 60), ("user_hour", 9, 3600), ("site_minute", 30, 60)}
    default = Settings.from_env({}, env_file=None)
    assert (default.rate_limit_user_per_minute, default.rate_limit_user_per_hour,
            default.rate_limit_site_per_minute) == (6, 60, 120)
    with pytest.raises(ConfigError, match="RATE_LIMIT_SITE_PER_MINUTE must be at least 1"):
        Settings.from_env({"RATE_LIMIT_SITE_PER_MINUTE": "0"}, env_file=None)
    with pytest.raises(ConfigError, match="RATE_LIMIT_USER_PER_HOUR must be at least RATE_LIMIT_USER_PER_MINUTE"):
        Settings.from_env({"RATE_LIMIT_USER_PER_MINUTE": "10", "RATE_LIMIT_USER_PER_HOUR": "5"}, env_file=None)
    with pytest.raises(ConfigError, match="RATE_LIMIT_USER_PER_MINUTE must be a int"):
        Settings.from_env({"RATE_LIMIT_USER_PER_MINUTE": "lots"}, env_file=None)
    with pytest.raises(ConfigError):
        Limit("x", "team", 1, 60)
    with pytest.raises(ConfigError):
        Limit("x", "user", 0, 60)


def test_the_words_say_when_to_ask_again():
    assert [wait_words(s) for s in (1, 40, 89, 90, 120, 1500)] == [
        "1 second", "40 seconds", "89 seconds", "2 minutes", "2 minutes", "25 minutes"]
    assert refusal_message("user", "minute", 40) == (
        "You've asked me for a lot in the last minute, so I'm pausing for you. I'll take new requests again "
        "in about 40 seconds; please ask again then. Nothing was changed.")
    assert refusal_message("site", "hour", 600).startswith("People on this site have asked me for a lot in the "
                                                           "last hour, so I'm pausing for this site.")
    assert verdict_message(Verdict(True)) == ""
