"""API keys: stored as SHA-256 hashes, compared in constant time, shown once.

A key is ``fc-`` followed by 43 URL-safe characters (32 random bytes). The table keeps its
SHA-256 hex digest, an 8-character display prefix (``fc-AbCdE``) so an operator can tell
keys apart, and a per-key ``signing_secret`` (``whsec_`` + base64 of 32 random bytes) that
signs the webhooks of the key's tasks. The plaintext is returned by ``create`` and never
stored or logged.

A key made for Wiro's signature mode (``create(..., wiro_signature=True)``) also has a Wiro
API secret and refuses requests that are not signed with it. Both secrets are kept
recoverable (a signature is checked by recomputing it), so the database is as sensitive as
the secrets themselves. ``use_nonce`` records a signature nonce once per key: a second use is
a replay.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from framecast.core.errors import InvalidInput, NotFound
from framecast.db import queries as q
from framecast.db.database import autocommit, write_lock

KEY_PREFIX = "fc-"
DISPLAY_PREFIX_CHARS = 8
WIRO_SECRET_BYTES = 24


def hash_key(plaintext: str) -> str:
    """The SHA-256 hex digest stored for a key."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class WiroAuth:
    """How a key authenticates on the Wiro API: its API secret (None: key only) and
    whether a signature is required."""

    secret: str | None
    signature_required: bool


@dataclass(frozen=True)
class ApiKey:
    """A stored key as an operator sees it (no hash, no secret)."""

    id: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None
    has_signing_secret: bool = False     # webhooks of its tasks are signed with its own secret
    wiro_signature: bool = False         # Wiro requests must carry x-nonce / x-signature
    rate_limit: str | None = None        # its own limit (``10/second``); None: the default

    @property
    def active(self) -> bool:
        """Whether the key still authenticates."""
        return self.revoked_at is None


class KeyStore:
    """Create, check, list and revoke API keys."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._auto = autocommit(engine)   # every read and the insert are one statement

    def create(self, name: str, *, wiro_signature: bool = False,
               rate_limit: str | None = None) -> tuple[str, str]:
        """Store a new key; returns ``(key_id, plaintext_key)`` (the only time it is shown).
        With ``wiro_signature`` the key gets a Wiro API secret (``wiro_auth``) and Wiro
        requests with it must be signed; ``rate_limit`` (``10/second``, checked by the
        caller) is its own request rate."""
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key-" + secrets.token_hex(8)
        wiro_secret = secrets.token_urlsafe(WIRO_SECRET_BYTES) if wiro_signature else None
        with write_lock(self.engine), self._auto.connect() as conn:
            conn.execute(q.INSERT_KEY, {
                "id": key_id, "name": name, "prefix": plaintext[:DISPLAY_PREFIX_CHARS],
                "key_hash": hash_key(plaintext), "created_at": self.clock(), "revoked_at": None,
                "signing_secret": new_signing_secret(), "wiro_secret": wiro_secret,
                "wiro_signature_required": wiro_signature, "rate_limit": rate_limit})
        return key_id, plaintext

    def authenticate(self, plaintext: str) -> str | None:
        """The id of the active key ``plaintext``, or None (unknown or revoked)."""
        digest = hash_key(plaintext)
        with self._auto.connect() as conn:
            row = conn.execute(q.ACTIVE_KEY_BY_HASH, {"p_hash": digest}).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return row.id

    def signing_secret(self, key_id: str, *, include_revoked: bool = False) -> str | None:
        """The ``whsec_`` signing secret of an active key (None when unknown or revoked;
        ``include_revoked``: of a revoked key too, for webhooks of tasks it created)."""
        stmt = q.KEY_SIGNING_SECRET if include_revoked else q.ACTIVE_KEY_SIGNING_SECRET
        with self._auto.connect() as conn:
            return conn.execute(stmt, {"p_id": key_id}).scalar_one_or_none()

    def rate_limit(self, key_id: str) -> str | None:
        """An active key's own rate limit (None: it has none, or it is unknown or revoked)."""
        with self._auto.connect() as conn:
            return conn.execute(q.KEY_RATE_LIMIT, {"p_id": key_id}).scalar_one_or_none()

    def set_rate_limit(self, ref: str, rate_limit: str | None) -> str:
        """Give the key whose id, prefix or name is ``ref`` its own rate limit (None: the
        server's default again); returns its id."""
        key_id = self.find(ref).id
        with write_lock(self.engine), self._auto.connect() as conn:
            conn.execute(q.SET_KEY_RATE_LIMIT, {"p_id": key_id, "p_rate": rate_limit})
        return key_id

    def wiro_auth(self, key_id: str) -> WiroAuth | None:
        """How an active key authenticates on the Wiro API (None when unknown or revoked)."""
        with self._auto.connect() as conn:
            row = conn.execute(q.KEY_WIRO_AUTH, {"p_id": key_id}).first()
        return WiroAuth(row.wiro_secret, bool(row.wiro_signature_required)) if row else None

    def set_wiro_signature(self, key_id: str, required: bool) -> str | None:
        """Turn Wiro's signature mode on (a new API secret, returned) or off for a key."""
        secret = secrets.token_urlsafe(WIRO_SECRET_BYTES) if required else None
        with write_lock(self.engine), self._auto.connect() as conn:
            done = conn.execute(q.SET_KEY_WIRO_AUTH, {"p_id": key_id, "p_secret": secret,
                                                      "p_required": required})
        if done.rowcount == 0:
            raise NotFound(f"no key with id {key_id!r}", param="key")
        return secret

    def use_nonce(self, key_id: str, nonce: str) -> bool:
        """Record a signature nonce for a key; False when it was used before (a replay)."""
        with write_lock(self.engine), self._auto.connect() as conn:
            try:
                conn.execute(q.INSERT_NONCE, {"key_id": key_id, "nonce": nonce,
                                              "created_at": self.clock()})
            except IntegrityError:
                return False
        return True

    def find(self, ref: str) -> ApiKey:
        """The key whose id, display prefix or name is ``ref`` (tried in that order; active
        keys first). ``NotFound`` when none matches, ``InvalidInput`` when several do."""
        keys = self.list()
        for attr in ("id", "prefix", "name"):
            for active in (True, False):
                found = [k for k in keys if getattr(k, attr) == ref and k.active == active]
                if len(found) > 1:
                    raise InvalidInput(f"{ref!r} matches {len(found)} keys; give a key id",
                                       param="key")
                if found:
                    return found[0]
        raise NotFound(f"no key with id, prefix or name {ref!r}", param="key")

    def list(self) -> builtins.list[ApiKey]:
        """Every key, oldest first, revoked ones included."""
        with self._auto.connect() as conn:
            rows = conn.execute(q.LIST_KEYS).all()
        return [ApiKey(r.id, r.name, r.prefix, r.created_at, r.revoked_at,
                       has_signing_secret=r.signing_secret is not None,
                       wiro_signature=bool(r.wiro_signature_required),
                       rate_limit=r.rate_limit) for r in rows]

    def revoke(self, ref: str) -> str:
        """Revoke the active key whose id, display prefix or name is ``ref`` (tried in that
        order); returns its id. ``NotFound`` when none matches, ``InvalidInput`` when a
        prefix or name matches several active keys."""
        for column in ("id", "prefix", "name"):
            with write_lock(self.engine), self.engine.begin() as conn:
                ids = conn.execute(q.ACTIVE_KEYS_BY[column], {"p_ref": ref}).scalars().all()
                if len(ids) > 1:
                    raise InvalidInput(f"{ref!r} matches {len(ids)} active keys; give a key id",
                                       param="key")
                if ids:
                    conn.execute(q.REVOKE_KEY, {"p_id": ids[0], "p_now": self.clock()})
                    return ids[0]
        raise NotFound(f"no active key with id, prefix or name {ref!r}", param="key")

    def count_active(self) -> int:
        """How many keys still authenticate."""
        with self._auto.connect() as conn:
            return int(conn.execute(q.COUNT_ACTIVE_KEYS).scalar_one())
