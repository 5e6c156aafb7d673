"""Wiro authentication: ``x-api-key`` alone, or with ``x-nonce`` + ``x-signature``.

    x-signature = hex( HMAC-SHA256(key = <API key>, message = <API secret> + <x-nonce>) )

A key is in one of Wiro's two project modes (research/api-dialects.md §3.1):

* **key only** (``framecast keys create --name N``): ``x-api-key`` is enough; signature
  headers, if sent, are ignored (the key has no API secret to check them with);
* **signature** (``framecast keys create --name N --wiro-signature``, which prints the API
  secret; for the static ``FRAMECAST_API_KEY``: ``FRAMECAST_WIRO_API_SECRET``): both
  headers are required, the signature must verify, and a nonce is accepted once per key
  (a second use is a replay). The nonce is any string up to 128 characters; Wiro's clients
  send unix seconds or milliseconds: two requests within the same second need distinct
  nonces, so prefer milliseconds or a counter. The signature is the hex digest; the docs'
  bash recipe sends openssl's whole output (``SHA2-256(stdin)= <hex>``), so the last word of
  the header is what is compared.

Errors are HTTP 401 with Wiro's messages (code 0).
"""

from __future__ import annotations

import hashlib
import hmac

import anyio
from fastapi import Request

from framecast.core.errors import Unauthorized
from framecast.db.keys import WiroAuth
from framecast.dialects.wiro.config import wiro_settings
from framecast.edge.auth import STATIC_OWNER_ID, Authenticator, Owner, admit

NOT_FOUNDED = "Project authorization is not founded."
SIGNATURE_REQUIRED = ("Project requires signature authentication. x-signature and x-nonce "
                      "headers are required.")
NOT_VALID = "Project authorization is not valid."
NONCE_MAX_CHARS = 128


def signature(api_key: str, api_secret: str, nonce: str) -> str:
    """Wiro's ``x-signature``: hex HMAC-SHA256 keyed by the API key over secret + nonce."""
    return hmac.new(api_key.encode(), (api_secret + nonce).encode(), hashlib.sha256).hexdigest()


def _wiro_auth(request: Request, owner: Owner) -> WiroAuth | None:
    settings = wiro_settings(request)
    if owner.id == STATIC_OWNER_ID:
        secret = settings.static_api_secret
        return WiroAuth(secret or None, bool(secret))
    return settings.keys.wiro_auth(owner.id)


async def wiro_owner(request: Request) -> Owner:
    """FastAPI dependency: the caller's ``Owner`` from Wiro's headers (``Unauthorized`` with
    Wiro's message otherwise), once the request is within the key's rate limit. The checks
    may read keys and record a nonce: they run in a thread."""
    owner = await anyio.to_thread.run_sync(_wiro_owner, request)
    await admit(request, owner)
    return owner


def _wiro_owner(request: Request) -> Owner:
    api_key = request.headers.get("x-api-key", "").strip()
    authenticator: Authenticator = request.app.state.authenticator
    try:
        owner = authenticator.owner_for_key(api_key)
    except Unauthorized:
        raise Unauthorized(NOT_FOUNDED) from None
    auth = _wiro_auth(request, owner)
    if auth is None:                      # revoked between the two reads
        raise Unauthorized(NOT_FOUNDED)
    if auth.secret is None:               # key-only project
        return owner
    nonce = request.headers.get("x-nonce", "").strip()
    # the docs' bash recipe keeps openssl's "SHA2-256(stdin)= " prefix: the hex is the last word
    sent = (request.headers.get("x-signature", "").split() or [""])[-1].lower()
    if not nonce or not sent:
        if auth.signature_required:
            raise Unauthorized(SIGNATURE_REQUIRED)
        return owner
    expected = signature(api_key, auth.secret, nonce)
    if len(nonce) > NONCE_MAX_CHARS or not hmac.compare_digest(sent, expected):
        raise Unauthorized(NOT_VALID)
    if not wiro_settings(request).keys.use_nonce(owner.id, nonce):
        raise Unauthorized(NOT_VALID)     # a replayed nonce
    return owner
