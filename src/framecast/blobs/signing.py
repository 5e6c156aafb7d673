"""File URLs the API itself answers: ``{base_url}/files/{key}?expires={unix}&sig={hex}``, where
``sig`` is HMAC-SHA256(secret, "{key}\\n{expires}").

Used by the local directory store, and by any object store that cannot presign (or whose
operator turned presigning off): the API's ``GET /files/{key}`` then reads the object from
the store. Every API replica that answers such URLs needs the same secret
(``FRAMECAST_FILES_SECRET``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qs, quote, unquote, urlsplit


class UrlSigner:
    """Signs and checks ``/files`` URLs under ``base_url`` with ``secret``."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def sign(self, key: str, expires: int) -> str:
        """The hex signature of ``key`` valid until ``expires`` (unix seconds)."""
        msg = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: int, sig: str, *, now: float | None = None) -> bool:
        """Whether ``sig`` is valid for ``key`` and not expired."""
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self.sign(key, expires), sig)

    def url(self, key: str, *, ttl_s: int) -> str:
        """A URL the API answers without an API key until ``ttl_s`` from now."""
        expires = int(time.time()) + int(ttl_s)
        return f"{self.base_url}/files/{quote(key)}?expires={expires}&sig={self.sign(key, expires)}"

    def key_of(self, url: str) -> str | None:
        """The key of a URL this signer made, when its signature holds and it has not
        expired; None for any other URL."""
        prefix = f"{self.base_url}/files/"
        if not url.startswith(prefix):
            return None
        parts = urlsplit(url)
        key = unquote(parts.path.removeprefix(urlsplit(prefix).path))
        query = parse_qs(parts.query)
        try:
            expires = int(query.get("expires", ["0"])[0])
        except ValueError:
            return None
        return key if self.verify(key, expires, query.get("sig", [""])[0]) else None
