"""``edge/ratelimit.RateLimiter`` against a real Redis (the storage of a fleet's API processes)
and in memory: counts shared by limiters on one Redis (as two API processes share them),
a key's own rate over the server's default, ``Retry-After``, and a changed rate picked up.

Redis: ``FRAMECAST_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); the Redis cases
are skipped, saying so, where there is none, unless ``FRAMECAST_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from urllib.parse import urlsplit

import pytest

from framecast.core.errors import RateLimited
from framecast.edge.auth import STATIC_OWNER_ID, Owner
from framecast.edge.ratelimit import RATE_CACHE_TTL_S, RateLimiter, parse_rate

REDIS_URL = os.environ.get("FRAMECAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip() -> str:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return REDIS_URL
    except OSError:
        if os.environ.get("FRAMECAST_REQUIRE_REDIS") == "1":
            pytest.fail(f"no Redis at {REDIS_URL} (FRAMECAST_REQUIRE_REDIS=1)")
        pytest.skip(f"no Redis at {REDIS_URL}: set FRAMECAST_TEST_REDIS_URL to run this")


async def admitted(limiter: RateLimiter, owner: Owner, n: int) -> list[bool]:
    results = []
    for _ in range(n):
        try:
            await limiter.check(owner)
            results.append(True)
        except RateLimited:
            results.append(False)
    return results


def test_two_limiters_on_one_redis_share_a_keys_count() -> None:
    storage = redis_or_skip()
    owner = Owner(f"key-{secrets.token_hex(6)}")
    rates = {owner.id: "3/minute"}

    async def main() -> list[bool]:
        first = RateLimiter(rates.get, None, storage=storage)      # one API process
        second = RateLimiter(rates.get, None, storage=storage)     # another one
        results = []
        for limiter in (first, second, first, second, first):
            results += await admitted(limiter, owner, 1)
        return results

    assert asyncio.run(main()) == [True, True, True, False, False]


def test_in_memory_each_process_counts_alone() -> None:
    owner = Owner(f"key-{secrets.token_hex(6)}")

    async def main() -> tuple[list[bool], list[bool]]:
        first = RateLimiter(lambda _: "2/minute", None)
        second = RateLimiter(lambda _: "2/minute", None)
        return await admitted(first, owner, 3), await admitted(second, owner, 3)

    assert asyncio.run(main()) == ([True, True, False], [True, True, False])


@pytest.mark.parametrize("storage", ["memory://", "redis"])
def test_over_the_rate_is_429_with_retry_after_and_other_keys_go_on(storage: str) -> None:
    storage = redis_or_skip() if storage == "redis" else storage
    busy, calm = Owner(f"key-{secrets.token_hex(6)}"), Owner(f"key-{secrets.token_hex(6)}")

    async def main() -> tuple[RateLimited, list[bool]]:
        limiter = RateLimiter({busy.id: "2/minute"}.get, "100/minute", storage=storage)
        assert await admitted(limiter, busy, 2) == [True, True]
        with pytest.raises(RateLimited) as caught:
            await limiter.check(busy)
        return caught.value, await admitted(limiter, calm, 5)

    refused, calm_results = asyncio.run(main())
    assert refused.status == 429 and 1.0 <= refused.retry_after_s <= 60.0
    assert "2 per 1 minute" in refused.message
    assert calm_results == [True] * 5          # the default rate, and its own count


def test_the_static_key_and_keys_without_a_rate_use_the_default() -> None:
    async def main() -> tuple[list[bool], list[bool], list[bool]]:
        limiter = RateLimiter(lambda _: None, "2/minute")
        unlimited = RateLimiter(lambda _: None, None)
        return (await admitted(limiter, Owner(STATIC_OWNER_ID), 3),
                await admitted(limiter, Owner("key-plain"), 3),
                await admitted(unlimited, Owner("key-plain"), 50))

    static, plain, free = asyncio.run(main())
    assert static == plain == [True, True, False] and all(free)


def test_a_keys_rate_is_read_again_after_the_cache_ttl() -> None:
    now = [0.0]
    rates: dict[str, str | None] = {"key-1": None}
    owner = Owner("key-1")

    async def main() -> tuple[list[bool], list[bool], list[bool]]:
        limiter = RateLimiter(rates.get, None, clock=lambda: now[0])
        before = await admitted(limiter, owner, 3)
        rates["key-1"] = "1/minute"
        cached = await admitted(limiter, owner, 3)              # not re-read yet
        now[0] += RATE_CACHE_TTL_S + 0.1
        after = await admitted(limiter, owner, 2)
        return before, cached, after

    assert asyncio.run(main()) == ([True] * 3, [True] * 3, [True, False])


def test_rates_parse_alone_or_combined() -> None:
    assert [str(item) for item in parse_rate("10/second;300/minute")] == \
        ["10 per 1 second", "300 per 1 minute"]
    with pytest.raises(ValueError):
        parse_rate("ten a second")
