"""A local directory as the blob store; files served by the API under signed, expiring URLs.

URLs are the API's own ``/files`` URLs (``blobs/signing.py``), signed with the files secret.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from framecast.blobs.base import BlobStore, check_key, storage_failure
from framecast.blobs.signing import UrlSigner
from framecast.core.errors import StorageError


class LocalStore(BlobStore):
    """Objects are files under ``root``; ``base_url`` is where the API serves ``/files``."""

    def __init__(self, root: Path, *, secret: bytes, base_url: str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._signer = UrlSigner(secret, base_url)
        self.base_url = self._signer.base_url

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (it may not exist)."""
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        """Write atomically (temp file + rename) so a reader never sees half a file."""
        dest = self.path(key)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_failure("write", key, exc) from exc
        return len(data)

    def put_file(self, key: str, src: Path, content_type: str) -> int:
        """Move ``src`` into place (copy when it is on another filesystem)."""
        dest = self.path(key)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), tmp)
            os.replace(tmp, dest)
            return dest.stat().st_size
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_failure("write", key, exc) from exc

    def get_bytes(self, key: str) -> bytes:
        """Read the object (``StorageError`` when absent)."""
        path = self.path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"the file {key} does not exist", key=key) from exc
        except OSError as exc:
            raise storage_failure("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self.path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        """Remove the directory (or file) at ``prefix``; another process deleting it at the
        same moment (two retention purges) is no error."""
        target = self.root / check_key(prefix.rstrip("/"))
        try:
            if target.is_file():
                target.unlink()
                return 1
            count = sum(1 for p in target.rglob("*") if p.is_file())
        except FileNotFoundError:
            return 0
        shutil.rmtree(target, ignore_errors=True)
        return count

    def sign(self, key: str, expires: int) -> str:
        """The hex signature of ``key`` valid until ``expires`` (unix seconds)."""
        return self._signer.sign(key, expires)

    def verify(self, key: str, expires: int, sig: str, *, now: float | None = None) -> bool:
        """Whether ``sig`` is valid for ``key`` and not expired."""
        return self._signer.verify(key, expires, sig, now=now)

    def signed_url(self, key: str, *, ttl_s: int) -> str:
        """A URL the API answers without an API key until ``ttl_s`` from now."""
        return self._signer.url(key, ttl_s=ttl_s)

    def key_for_url(self, url: str) -> str | None:
        """The key of one of our own signed URLs, when the signature holds and the file
        exists; None for any other URL (a forged one is then fetched, and refused, like any)."""
        key = self._signer.key_of(url)
        try:
            return key if key is not None and self.exists(key) else None
        except ValueError:
            return None

    def local_path(self, key: str) -> Path | None:
        """The file that holds ``key``."""
        return self.path(key)

    def healthy(self) -> bool:
        """Whether a probe file can be written and removed."""
        probe = self.root / ".readyz"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
            return True
        except OSError:
            return False
