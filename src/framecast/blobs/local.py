"""A local directory as the blob store; files served by the API under signed, expiring URLs.

A URL is ``{base_url}/files/{key}?expires={unix}&sig={hex}`` where ``sig`` is
HMAC-SHA256(secret, "{key}\\n{expires}"). The secret lives in the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from framecast.blobs.base import BlobStore, check_key
from framecast.core.errors import StorageError


class LocalStore(BlobStore):
    """Objects are files under ``root``; ``base_url`` is where the API serves ``/files``."""

    def __init__(self, root: Path, *, secret: bytes, base_url: str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (it may not exist)."""
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        """Write atomically (temp file + rename) so a reader never sees half a file."""
        dest = self.path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc}", key=key) from exc
        return len(data)

    def put_file(self, key: str, src: Path, content_type: str) -> int:
        """Move ``src`` into place (copy when it is on another filesystem)."""
        dest = self.path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            shutil.move(str(src), tmp)
            os.replace(tmp, dest)
            return dest.stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot store {key}: {exc}", key=key) from exc

    def get_bytes(self, key: str) -> bytes:
        """Read the object (``StorageError`` when absent)."""
        try:
            return self.path(key).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}", key=key) from exc

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self.path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        """Remove the directory (or file) at ``prefix``."""
        target = self.root / check_key(prefix.rstrip("/"))
        if not target.exists():
            return 0
        if target.is_file():
            target.unlink()
            return 1
        count = sum(1 for p in target.rglob("*") if p.is_file())
        shutil.rmtree(target, ignore_errors=True)
        return count

    def sign(self, key: str, expires: int) -> str:
        """The hex signature of ``key`` valid until ``expires`` (unix seconds)."""
        msg = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: int, sig: str, *, now: float | None = None) -> bool:
        """Whether ``sig`` is valid for ``key`` and not expired."""
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self.sign(key, expires), sig)

    def signed_url(self, key: str, *, ttl_s: int) -> str:
        """A URL the API answers without an API key until ``ttl_s`` from now."""
        expires = int(time.time()) + int(ttl_s)
        return f"{self.base_url}/files/{quote(key)}?expires={expires}&sig={self.sign(key, expires)}"

    def key_for_url(self, url: str) -> str | None:
        """The key of one of our own signed URLs, when the signature holds and the file
        exists; None for any other URL (a forged one is then fetched, and refused, like any)."""
        prefix = f"{self.base_url}/files/"
        if not url.startswith(prefix):
            return None
        parts = urlsplit(url)
        key = unquote(parts.path.removeprefix(urlsplit(prefix).path))
        query = parse_qs(parts.query)
        try:
            expires = int(query.get("expires", ["0"])[0])
            valid = self.verify(key, expires, query.get("sig", [""])[0]) and self.exists(key)
        except ValueError:
            return None
        return key if valid else None

    def healthy(self) -> bool:
        """Whether a probe file can be written and removed."""
        probe = self.root / ".readyz"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
            return True
        except OSError:
            return False
