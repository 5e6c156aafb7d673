"""API-key authentication shared by every dialect.

Keys are stored as SHA-256 and compared in constant time (``store/keys.py``). A static key
from ``FRAMECAST_API_KEY`` is accepted too (owner ``static``). Bearer tokens serve the Ark,
AI/ML, OpenAI and AceData dialects; Wiro's ``x-api-key`` is read by its own dialect.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request

from framecast.core.errors import Unauthorized

STATIC_OWNER_ID = "static"


@dataclass(frozen=True)
class Owner:
    """Who is calling: the id of the API key every task is scoped to."""

    id: str


class Authenticator:
    """Turns a presented API key into an ``Owner`` (or raises ``Unauthorized``)."""

    def __init__(self, keys: object, static_key: str | None = None) -> None:
        self._keys = keys
        self._static_hash = hashlib.sha256(static_key.encode()).digest() if static_key else None

    def owner_for_key(self, presented: str | None) -> Owner:
        """Verify a plaintext key."""
        if not presented:
            raise Unauthorized("The API key in the request is missing or invalid.")
        if self._static_hash is not None:
            digest = hashlib.sha256(presented.encode()).digest()
            if hmac.compare_digest(digest, self._static_hash):
                return Owner(STATIC_OWNER_ID)
        key_id = self._keys.authenticate(presented)  # type: ignore[attr-defined]
        if key_id is None:
            raise Unauthorized("The API key in the request is missing or invalid.")
        return Owner(key_id)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def require_owner(request: Request) -> Owner:
    """FastAPI dependency: the caller's ``Owner`` from a Bearer key."""
    auth: Authenticator = request.app.state.authenticator
    return auth.owner_for_key(bearer_token(request))
