"""API-key authentication shared by every dialect.

Keys are stored as SHA-256 and compared in constant time (``db/keys.py``). A static key
from ``FRAMECAST_API_KEY`` is accepted too (owner ``static``). A key found in the store is
remembered (by its digest) for ``KEY_CACHE_TTL_S``, so a client polling a task costs no key
lookup per request; a revoked key is therefore refused within that long by every server.
Bearer tokens serve the Ark, AI/ML, OpenAI and AceData dialects; Wiro's ``x-api-key`` is read
by its own dialect.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from fastapi import Request
from starlette.requests import HTTPConnection

from framecast.core.errors import Unauthorized

STATIC_OWNER_ID = "static"
KEY_CACHE_TTL_S = 5.0       # how long a verified key is trusted without asking the store
KEY_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Owner:
    """Who is calling: the id of the API key every task is scoped to."""

    id: str


class Authenticator:
    """Turns a presented API key into an ``Owner`` (or raises ``Unauthorized``)."""

    def __init__(self, keys: object, static_key: str | None = None, *,
                 cache_ttl_s: float = KEY_CACHE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._static_hash = hashlib.sha256(static_key.encode()).digest() if static_key else None
        self._ttl_s = cache_ttl_s
        self._clock = clock
        self._verified: dict[bytes, tuple[Owner, float]] = {}

    def cached_owner(self, presented: str | None) -> Owner | None:
        """The owner of ``presented`` when it needs no store lookup (the static key, or a key
        verified less than ``cache_ttl_s`` ago); None otherwise."""
        if not presented:
            return None
        return self._known(hashlib.sha256(presented.encode()).digest())

    def owner_for_key(self, presented: str | None) -> Owner:
        """Verify a plaintext key (from the cache, else the store)."""
        if not presented:
            raise Unauthorized("The API key in the request is missing or invalid.")
        digest = hashlib.sha256(presented.encode()).digest()
        owner = self._known(digest)
        if owner is not None:
            return owner
        key_id = self._keys.authenticate(presented)  # type: ignore[attr-defined]
        if key_id is None:
            raise Unauthorized("The API key in the request is missing or invalid.")
        owner = Owner(key_id)
        if self._ttl_s > 0:
            if len(self._verified) >= KEY_CACHE_MAX_ENTRIES:
                self._verified.clear()
            self._verified[digest] = (owner, self._clock() + self._ttl_s)
        return owner

    def _known(self, digest: bytes) -> Owner | None:
        """The static key's owner, or a still-fresh verified key's; None otherwise."""
        if self._static_hash is not None and hmac.compare_digest(digest, self._static_hash):
            return Owner(STATIC_OWNER_ID)
        hit = self._verified.get(digest)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        return None


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def owner_of_key(request: Request, presented: str | None) -> Owner:
    """The ``Owner`` of the key ``presented`` with ``request`` (a remembered key costs no
    thread hop; others are looked up in a worker thread), once this request is within the
    key's rate limit (``edge/ratelimit.py``)."""
    auth: Authenticator = request.app.state.authenticator
    owner = auth.cached_owner(presented)
    if owner is None:
        owner = await anyio.to_thread.run_sync(auth.owner_for_key, presented)
    await admit(request, owner)
    return owner


async def admit(connection: HTTPConnection, owner: Owner) -> None:
    """Count this request against the owner's rate limit (``RateLimited`` over it); nothing
    where the app has no limiter."""
    limiter = getattr(connection.app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.check(owner)


async def require_owner(request: Request) -> Owner:
    """FastAPI dependency: the caller's ``Owner`` from a Bearer key."""
    return await owner_of_key(request, bearer_token(request))
