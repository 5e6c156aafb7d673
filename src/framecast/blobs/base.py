"""The blob store interface and the key layout.

Keys are ``tasks/{task_id}/inputs/{n}-{role}.png`` for checked input images and
``tasks/{task_id}/{attempt}/{name}`` for outputs, so a losing attempt never overwrites a
winning one and deleting a task deletes one prefix.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from framecast.core.errors import StorageError, StorageUnavailable, out_of_space

log = logging.getLogger("framecast.blobs")

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]*$")


def task_prefix(task_id: str) -> str:
    """The prefix under which every file of a task lives."""
    return f"tasks/{task_id}/"


def input_key(task_id: str, index: int, role: str, image_format: str = "png") -> str:
    """Key of the n-th input image of a task, kept as the client sent it (``jpeg`` …)."""
    return f"tasks/{task_id}/inputs/{index}-{role}.{image_format}"


def output_key(task_id: str, attempt: int, name: str) -> str:
    """Key of an output file written by one attempt of a task."""
    return f"tasks/{task_id}/{attempt}/{name}"


def check_key(key: str) -> str:
    """Refuse keys that could escape the store or name one object two ways (``..``, ``.``,
    empty segments, absolute paths, odd characters)."""
    parts = key.split("/")
    if not _KEY_RE.match(key) or ".." in parts or "." in parts or "//" in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


def storage_failure(what: str, key: str, exc: BaseException) -> StorageError:
    """The error for a store operation that failed: ``StorageUnavailable`` (503, try again
    later) when a disk is full or the store does not answer as it should, with no path in the
    message; the cause is logged here, with the key."""
    log.warning("storage: could not %s %s: %s: %s", what, key, type(exc).__name__,
                str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "")
    if out_of_space(exc):
        return StorageUnavailable("the server's storage is full; try again later", key=key)
    return StorageUnavailable(f"the file store could not {what} a file; try again later",
                              key=key)


class BlobStore(ABC):
    """Where task files live: a local directory (``local.py``) or an object store
    (``objects.py``). Every method may block (network I/O): call them off the event loop."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str) -> int:
        """Store ``data`` under ``key``; returns its size."""

    @abstractmethod
    def put_file(self, key: str, src: Path, content_type: str) -> int:
        """Store the file ``src`` under ``key`` (moved when possible); returns its size."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key`` (``StorageError`` if absent)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""

    @abstractmethod
    def signed_url(self, key: str, *, ttl_s: int) -> str:
        """A URL that serves ``key`` without an API key until ``ttl_s`` from now."""

    def key_for_url(self, url: str) -> str | None:
        """The key behind ``url`` when it is a valid, unexpired URL of this store (so an
        output can be the next task's input without a network fetch); else None."""
        return None

    def verify(self, key: str, expires: int, sig: str) -> bool:
        """Whether an API ``/files`` URL (``blobs/signing.py``) for ``key`` is valid; False
        for a store whose URLs the store itself answers."""
        return False

    def open_read(self, key: str, start: int = 0,
                  end: int | None = None) -> tuple[int, Iterator[bytes]]:
        """The object's size and its bytes from ``start`` to ``end`` (exclusive; None: to the
        end) as chunks, for the API's ``/files`` proxy (ranges and streaming). The default
        reads the whole object; stores that can do better override it."""
        data = self.get_bytes(key)
        return len(data), iter([data[start:end]])

    def local_path(self, key: str) -> Path | None:
        """The local file that holds ``key``, for stores that keep files (the API then serves
        it with range requests); None for object stores."""
        return None

    def healthy(self) -> bool:
        """Whether the store can be written right now (for /readyz)."""
        return True
