"""LocalStore: atomic writes, key safety, signed expiring URLs, prefix deletion."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from framecast.blobs import LocalStore, input_key, output_key, task_prefix
from framecast.core.errors import StorageError


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "files", secret=b"s" * 32, base_url="http://127.0.0.1:9/")


def test_keys_are_per_task_and_attempt() -> None:
    assert output_key("cgt-1", 2, "video.mp4") == "tasks/cgt-1/2/video.mp4"
    assert input_key("cgt-1", 0, "first_frame") == "tasks/cgt-1/inputs/0-first_frame.png"
    assert output_key("cgt-1", 1, "a").startswith(task_prefix("cgt-1"))


def test_put_get_move_and_delete_prefix(store: LocalStore, tmp_path: Path) -> None:
    assert store.put_bytes("tasks/a/inputs/0-first_frame.png", b"png", "image/png") == 3
    src = tmp_path / "video.mp4"
    src.write_bytes(b"mp4!")
    assert store.put_file("tasks/a/1/video.mp4", src, "video/mp4") == 4
    assert not src.exists()
    assert store.get_bytes("tasks/a/1/video.mp4") == b"mp4!"
    store.put_bytes("tasks/b/1/video.mp4", b"other", "video/mp4")
    assert store.delete_prefix(task_prefix("a")) == 2
    assert not store.exists("tasks/a/1/video.mp4")
    assert store.exists("tasks/b/1/video.mp4")
    with pytest.raises(StorageError):
        store.get_bytes("tasks/a/1/video.mp4")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "tasks/../../x", "a//b", ""])
def test_keys_cannot_escape(store: LocalStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.path(key)


def test_signed_urls_verify_and_expire(store: LocalStore) -> None:
    key = "tasks/a/1/video.mp4"
    store.put_bytes(key, b"x", "video/mp4")
    url = store.signed_url(key, ttl_s=60)
    parts = urlsplit(url)
    assert url.startswith("http://127.0.0.1:9/files/tasks/a/1/video.mp4?")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    expires, sig = int(query["expires"]), query["sig"]
    assert store.verify(key, expires, sig)
    assert not store.verify("tasks/a/1/other.mp4", expires, sig)
    assert not store.verify(key, expires + 1, sig)
    assert not store.verify(key, expires, sig, now=time.time() + 120)
    assert store.key_for_url(url) == key
    assert store.key_for_url(url.replace(sig, "0" * 64)) is None
    assert store.key_for_url("http://elsewhere/files/" + key) is None
    other = LocalStore(store.root, secret=b"t" * 32, base_url="http://127.0.0.1:9")
    assert not other.verify(key, expires, sig)
