"""An object store (S3-compatible, GCS, Azure, or memory) as the blob store, through
``obstore``.

Writes are atomic: a reader sees the whole object or none (large files go up as a multipart
upload, which the store assembles only when it completes), and a task records its outputs only
after they are written. Clients get presigned GET URLs, valid for the file-URL TTL, straight
from the store; a store that cannot presign (memory) or an operator who turned presigning off
(``FRAMECAST_STORAGE_PRESIGN=false``, when clients cannot reach the store's endpoint) gets
``/files`` URLs that the API answers by reading the object (``blobs/signing.py``).

Credentials, endpoint and region come from the standard variables (``AWS_ENDPOINT_URL``,
``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``), read by obstore.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import obstore
from obstore.store import AzureStore, GCSStore, MemoryStore, S3Store

from framecast.blobs.base import BlobStore, check_key, storage_failure
from framecast.blobs.signing import UrlSigner
from framecast.core.errors import StorageError

log = logging.getLogger("framecast.blobs")

PART_BYTES = 8 * 1024 * 1024   # a file larger than this goes up as a multipart upload
STREAM_CHUNK = 1024 * 1024     # the /files proxy sends an object in chunks of this size
DELETE_BATCH = 1000            # keys per delete request (S3's own limit)
HEALTH_CACHE_S = 5.0           # /readyz asks at most this often
CHECK_TIMEOUT_S = 5.0          # checking a presigned URL against the store

_PRESIGNING = (S3Store, GCSStore, AzureStore)
# a store that does not answer fails the request within about half a minute, not obstore's
# default three minutes
RETRY: Any = {"max_retries": 3, "retry_timeout": timedelta(seconds=30),
              "backoff": {"init_backoff": timedelta(milliseconds=100),
                          "max_backoff": timedelta(seconds=5), "base": 2}}


def open_object_store(url: str, *, signer: UrlSigner, presign: bool = True) -> ObjectStore:
    """The store behind ``url``: ``s3://bucket/prefix``, ``gs://…``, ``az://…`` or
    ``memory://``. An ``http://`` endpoint (``AWS_ENDPOINT_URL``, e.g. a local SeaweedFS or
    MinIO) is allowed; production stores use https."""
    if url.startswith("memory://"):
        return ObjectStore(MemoryStore(), url=url, signer=signer, presign=False)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    options: dict[str, Any] = {"allow_http": True} if endpoint.startswith("http://") else {}
    try:
        store = obstore.store.from_url(url, client_options=options or None,
                                       retry_config=RETRY)
    except Exception as exc:
        raise StorageError(f"cannot open the object store {url}: {exc}") from exc
    return ObjectStore(store, url=url, signer=signer, presign=presign)


class ObjectStore(BlobStore):
    """Task files as objects in ``store`` (an obstore store; its prefix, if any, is kept)."""

    def __init__(self, store: Any, *, url: str, signer: UrlSigner, presign: bool) -> None:
        self._store = store
        self.url = url
        self._signer = signer
        self.presigns = presign and isinstance(store, _PRESIGNING)
        # every presigned URL starts with the bucket's URL: how an output handed out as a
        # URL is recognised when a client sends it back as the next task's input
        self._presigned_prefix = ""
        if self.presigns:   # (also fetches the store's credentials once, at start)
            try:
                probe = obstore.sign(store, "GET", "k", timedelta(seconds=60))
            except Exception as exc:
                raise StorageError(f"cannot sign URLs for the object store {url}: {exc}") \
                    from exc
            self._presigned_prefix = probe.split("?", 1)[0].removesuffix("k")
        self._health: tuple[float, bool] = (0.0, False)
        self._health_lock = threading.Lock()

    def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        """Write ``data`` in one request."""
        check_key(key)
        try:
            obstore.put(self._store, key, data, use_multipart=False,
                        attributes={"Content-Type": content_type})
        except Exception as exc:
            raise storage_failure("write", key, exc) from exc
        return len(data)

    def put_file(self, key: str, src: Path, content_type: str) -> int:
        """Upload ``src`` (multipart above ``PART_BYTES``), then remove the local file."""
        check_key(key)
        try:
            size = src.stat().st_size
            obstore.put(self._store, key, Path(src), chunk_size=PART_BYTES,
                        attributes={"Content-Type": content_type})
        except Exception as exc:
            raise storage_failure("write", key, exc) from exc
        src.unlink(missing_ok=True)
        return size

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes (``StorageError`` when absent or unreadable)."""
        check_key(key)
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError as exc:
            raise StorageError(f"the file {key} does not exist", key=key) from exc
        except Exception as exc:
            raise storage_failure("read", key, exc) from exc

    def open_read(self, key: str, start: int = 0,
                  end: int | None = None) -> tuple[int, Iterator[bytes]]:
        """The object's size and a stream of the asked range, in ``STREAM_CHUNK`` chunks:
        the proxy never holds a whole video in memory."""
        check_key(key)
        try:
            if start == 0 and end is None:
                result = obstore.get(self._store, key)
                return int(result.meta["size"]), (bytes(chunk) for chunk in
                                                   result.stream(min_chunk_size=STREAM_CHUNK))
            size = int(obstore.head(self._store, key)["size"])
            data = obstore.get_range(self._store, key, start=start, end=min(end or size, size))
            return size, iter([bytes(data)])
        except FileNotFoundError as exc:
            raise StorageError(f"the file {key} does not exist", key=key) from exc
        except Exception as exc:
            raise storage_failure("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""
        check_key(key)
        try:
            obstore.head(self._store, key)
            return True
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise storage_failure("look up", key, exc) from exc

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (listed, then deleted in batches)."""
        prefix = check_key(prefix.rstrip("/")) + "/"
        try:
            keys = [meta["path"] for meta in obstore.list(self._store, prefix).collect()]
            for start in range(0, len(keys), DELETE_BATCH):
                obstore.delete(self._store, keys[start:start + DELETE_BATCH])
        except Exception as exc:
            raise storage_failure("delete", prefix, exc) from exc
        return len(keys)

    def signed_url(self, key: str, *, ttl_s: int) -> str:
        """A presigned GET URL from the store, or an API ``/files`` URL where the store
        cannot presign (or presigning is off)."""
        check_key(key)
        if not self.presigns:
            return self._signer.url(key, ttl_s=ttl_s)
        try:
            # local HMAC work once the store holds credentials; obstore fetches (and caches)
            # them first where they come from a provider (instance metadata, IRSA)
            return str(obstore.sign(self._store, "GET", key, timedelta(seconds=ttl_s)))
        except Exception as exc:
            raise storage_failure("sign a URL for", key, exc) from exc

    def verify(self, key: str, expires: int, sig: str) -> bool:
        """Whether an API ``/files`` URL's signature holds (unpresigned stores only)."""
        return not self.presigns and self._signer.verify(key, expires, sig)

    def key_for_url(self, url: str) -> str | None:
        """The key behind one of this store's own URLs, when the URL is still valid: an API
        ``/files`` URL checked with the secret, a presigned URL checked by the store itself
        (one ranged GET: the store refuses a tampered or expired URL); else None."""
        if not self.presigns:
            key = self._signer.key_of(url)
            return key if key is not None and self.exists(key) else None
        if not self._presigned_prefix or not url.startswith(self._presigned_prefix):
            return None
        key = unquote(urlsplit(url).path.removeprefix(urlsplit(self._presigned_prefix).path))
        try:
            check_key(key)
            with httpx.Client(timeout=CHECK_TIMEOUT_S, trust_env=False) as client:
                reply = client.get(url, headers={"Range": "bytes=0-0"})
        except (ValueError, httpx.HTTPError):
            return None
        return key if reply.status_code in (200, 206) else None

    def healthy(self) -> bool:
        """Whether a probe object can be written and deleted (cached ``HEALTH_CACHE_S``)."""
        with self._health_lock:
            checked, ok = self._health
            if time.monotonic() - checked < HEALTH_CACHE_S:
                return ok
            probe = f".readyz/{os.getpid()}"
            try:
                obstore.put(self._store, probe, b"ok", use_multipart=False)
                obstore.delete(self._store, probe)
                ok = True
            except Exception as exc:
                log.warning("object store %s is not writable: %s", self.url, exc)
                ok = False
            self._health = (time.monotonic(), ok)
            return ok
