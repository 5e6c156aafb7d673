"""``FRAMECAST_STORAGE_URL`` → a blob store: ``file://`` the local directory store, anything
else an object store (``s3://bucket/prefix``, ``gs://``, ``az://``, ``memory://``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from framecast.blobs.base import BlobStore
from framecast.blobs.local import LocalStore
from framecast.blobs.objects import open_object_store
from framecast.blobs.signing import UrlSigner


def open_store(url: str, *, secret: bytes, base_url: str, presign: bool = True) -> BlobStore:
    """The store ``url`` names. ``secret`` signs the API's ``/files`` URLs (local files, and
    object stores that do not presign); ``presign``: hand out the object store's own
    presigned URLs."""
    if url.startswith("file://"):
        return LocalStore(Path(unquote(url.removeprefix("file://"))), secret=secret,
                          base_url=base_url)
    return open_object_store(url, signer=UrlSigner(secret, base_url), presign=presign)
