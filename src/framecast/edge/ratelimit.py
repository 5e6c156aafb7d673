"""Per-key rate limits: every authenticated request counts against its key's limit, in a
moving window (the ``limits`` library), and a request over it answers 429 with
``Retry-After`` in its API's own envelope. Another key is never affected.

A key's limit is its own (``framecast keys create --rate 10/second``, ``framecast keys rate``)
or, when it has none, the server's default (``FRAMECAST_RATE_LIMIT``; none: unlimited). Limits
may be combined: ``10/second;300/minute``. The counts live in ``FRAMECAST_RATE_LIMIT_STORAGE``:
``memory://`` (the default) counts in this process, right for the embedded server with one API
process; ``redis://host:port/db`` counts across every API process and replica of a fleet.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from framecast.core.errors import RateLimited
from framecast.edge.auth import STATIC_OWNER_ID, Owner

RATE_CACHE_TTL_S = 5.0        # a key's own limit is re-read from the store this often
RATE_CACHE_MAX_ENTRIES = 10_000


def parse_rate(text: str) -> list[RateLimitItem]:
    """``10/second`` or ``10/second;300/minute`` as rate items (``ValueError`` otherwise)."""
    items = parse_many(text)
    if not items:
        raise ValueError(f"no rate in {text!r}")
    return items


def normalized_rate(text: str | None) -> str | None:
    """A rate as an operator writes it (setting, ``keys --rate``), stripped; None when none is
    given (nothing, empty, ``none``); ``ValueError`` when it does not parse."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    parse_rate(text)
    return text.strip()


def async_storage(uri: str) -> Storage:
    """The storage of ``FRAMECAST_RATE_LIMIT_STORAGE`` for the event loop: ``memory://`` or
    ``redis://…`` (through redis-py's asyncio client)."""
    scheme, _, rest = uri.partition("://")
    if scheme == "memory":
        storage = storage_from_string("async+memory://")
    elif scheme in ("redis", "rediss"):
        storage = storage_from_string(f"async+{scheme}://{rest}", implementation="redispy")
    else:
        raise ValueError(f"rate limit storage {uri!r}: use memory:// or redis://host:port/db")
    assert isinstance(storage, Storage)
    return storage


class RateLimiter:
    """Checks one request against its key's limit (``check``), on the event loop."""

    def __init__(self, key_rate: Callable[[str], str | None], default: str | None, *,
                 storage: str = "memory://", clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._key_rate = key_rate
        self._default = parse_rate(default) if default else None
        self._storage = async_storage(storage)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._clock = clock
        self._rates: dict[str, tuple[list[RateLimitItem] | None, float]] = {}

    async def check(self, owner: Owner) -> None:
        """``RateLimited`` (with the seconds until the window lets one more in) when this
        request is over the owner's limit; counted otherwise."""
        items = await self._items(owner.id)
        for item in items or ():
            if not await self._limiter.hit(item, owner.id):
                stats = await self._limiter.get_window_stats(item, owner.id)
                retry = max(1.0, stats.reset_time - time.time())
                raise RateLimited(f"this key is over its rate limit of {item}",
                                  retry_after_s=retry)

    async def _items(self, owner_id: str) -> list[RateLimitItem] | None:
        """The owner's limit: its key's own (read at most every ``RATE_CACHE_TTL_S``) or the
        default."""
        if owner_id == STATIC_OWNER_ID:
            return self._default
        cached = self._rates.get(owner_id)
        now = self._clock()
        if cached is not None and cached[1] > now:
            return cached[0]
        own = await anyio.to_thread.run_sync(self._key_rate, owner_id)
        items = parse_rate(own) if own else self._default
        if len(self._rates) >= RATE_CACHE_MAX_ENTRIES:
            self._rates.clear()
        self._rates[owner_id] = (items, now + RATE_CACHE_TTL_S)
        return items
