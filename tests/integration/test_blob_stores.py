"""The blob stores a deployment can name in ``FRAMECAST_STORAGE_URL``: local files
(``file://``), memory (``memory://``) and a real S3 server (``s3://``, SeaweedFS), through one
interface: round trips, multipart uploads, prefix deletes, signed and presigned URLs that
expire and refuse tampering, and storage errors that say what failed."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import obstore
import pytest

from framecast.blobs import BlobStore, LocalStore, open_store
from framecast.blobs.objects import PART_BYTES, ObjectStore
from framecast.core.errors import StorageError, StorageUnavailable
from tests.s3server import S3Server

BASE = "http://127.0.0.1:9"
SECRET = b"s" * 32


@pytest.fixture(params=["file", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The same test on each kind of store."""
    if request.param == "file":
        url = f"file://{tmp_path / 'files'}"
    elif request.param == "memory":
        url = "memory://"
    else:
        url = request.getfixturevalue("s3_env").new_url()
    return open_store(url, secret=SECRET, base_url=BASE)


def test_the_url_picks_the_store(tmp_path: Path, s3_env: S3Server) -> None:
    assert isinstance(open_store(f"file://{tmp_path}", secret=SECRET, base_url=BASE),
                      LocalStore)
    memory = open_store("memory://", secret=SECRET, base_url=BASE)
    assert isinstance(memory, ObjectStore) and not memory.presigns
    s3 = open_store(s3_env.new_url(), secret=SECRET, base_url=BASE)
    assert isinstance(s3, ObjectStore) and s3.presigns
    proxied = open_store(s3_env.new_url(), secret=SECRET, base_url=BASE, presign=False)
    assert isinstance(proxied, ObjectStore) and not proxied.presigns
    with pytest.raises(StorageError, match="cannot open the object store"):
        open_store("nosuch://bucket", secret=SECRET, base_url=BASE)


def test_round_trip_and_prefix_delete(store: BlobStore) -> None:
    store.put_bytes("tasks/a/inputs/0-first_frame.jpeg", b"jpeg", "image/jpeg")
    store.put_bytes("tasks/a/1/video.mp4", b"mp4", "video/mp4")
    store.put_bytes("tasks/b/1/video.mp4", b"other", "video/mp4")
    assert store.get_bytes("tasks/a/1/video.mp4") == b"mp4"
    assert store.exists("tasks/a/inputs/0-first_frame.jpeg")
    assert not store.exists("tasks/a/2/video.mp4")
    assert store.delete_prefix("tasks/a/") == 2
    assert not store.exists("tasks/a/1/video.mp4")
    assert store.get_bytes("tasks/b/1/video.mp4") == b"other"
    assert store.delete_prefix("tasks/a/") == 0          # idempotent
    with pytest.raises(StorageError, match=r"tasks/a/1/video\.mp4"):
        store.get_bytes("tasks/a/1/video.mp4")
    with pytest.raises(ValueError):
        store.put_bytes("tasks/../x", b"", "text/plain")
    assert store.healthy()


def test_a_large_file_goes_up_whole_and_leaves_no_local_copy(store: BlobStore,
                                                             tmp_path: Path) -> None:
    """A file over the part size is uploaded in parts (multipart) and reads back whole."""
    data = os.urandom(2 * PART_BYTES + 12345)
    src = tmp_path / "work" / "video.mp4"
    src.parent.mkdir()
    src.write_bytes(data)
    assert store.put_file("tasks/c/1/video.mp4", src, "video/mp4") == len(data)
    assert not src.exists()
    back = store.get_bytes("tasks/c/1/video.mp4")
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    if isinstance(store, ObjectStore) and store.presigns:   # S3: assembled from 3 parts
        etag = obstore.head(store._store, "tasks/c/1/video.mp4")["e_tag"] or ""
        assert etag.strip('"').endswith("-3"), etag


def test_a_signed_url_is_recognised_until_it_expires(store: BlobStore) -> None:
    """An output's URL sent back as an input is read from the store (no network fetch)
    while valid; a tampered, foreign or expired one is not."""
    key = "tasks/d/1/last_frame.png"
    store.put_bytes(key, b"png", "image/png")
    store.put_bytes("tasks/d/1/first_frame.png", b"other", "image/png")   # exists too
    url = store.signed_url(key, ttl_s=60)
    assert store.key_for_url(url) == key
    assert store.key_for_url(url.replace("last_frame", "first_frame")) is None   # signature
    assert store.key_for_url(url.replace("/1/", "/1/./")) is None
    assert store.key_for_url(url[:-4] + "0000") is None
    assert store.key_for_url("http://elsewhere.example/files/" + key) is None
    short = store.signed_url(key, ttl_s=1)
    time.sleep(2.1)
    assert store.key_for_url(short) is None


def test_presigned_urls_serve_the_file_then_expire(s3_env: S3Server) -> None:
    store = open_store(s3_env.new_url(), secret=SECRET, base_url=BASE)
    key = "tasks/e/1/video.mp4"
    store.put_bytes(key, b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    url = store.signed_url(key, ttl_s=2)
    assert url.startswith(s3_env.endpoint)
    reply = httpx.get(url, trust_env=False)
    assert reply.status_code == 200 and reply.content.startswith(b"\x00\x00\x00\x18ftyp")
    assert reply.headers["content-type"] == "video/mp4"
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["2"]
    tampered = url.replace(query["X-Amz-Signature"][0], "0" * 64)
    assert httpx.get(tampered, trust_env=False).status_code == 403
    other_key = url.replace("video.mp4", "other.mp4")
    assert httpx.get(other_key, trust_env=False).status_code == 403
    time.sleep(3.1)
    assert httpx.get(url, trust_env=False).status_code == 403


def test_unpresigned_stores_hand_out_api_file_urls(s3_env: S3Server) -> None:
    """With presigning off (clients cannot reach the store), URLs point at the API's
    ``/files`` route, signed with the shared secret; another secret does not verify them."""
    store = open_store(s3_env.new_url(), secret=SECRET, base_url=BASE, presign=False)
    key = "tasks/f/1/video.mp4"
    store.put_bytes(key, b"v", "video/mp4")
    url = store.signed_url(key, ttl_s=60)
    assert url.startswith(f"{BASE}/files/{key}?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert store.verify(key, int(query["expires"]), query["sig"])
    other = open_store(s3_env.new_url(), secret=b"t" * 32, base_url=BASE, presign=False)
    assert not other.verify(key, int(query["expires"]), query["sig"])


def test_a_store_that_refuses_or_does_not_answer_is_unavailable_not_internal(
        monkeypatch: pytest.MonkeyPatch, s3_env: S3Server) -> None:
    """Wrong credentials, or no server at the endpoint: a 503 to try again later (the cause
    goes to the log), and /readyz says not ready."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    store = open_store(s3_env.new_url(), secret=SECRET, base_url=BASE)
    with pytest.raises(StorageUnavailable, match="could not write a file; try again later"):
        store.put_bytes("tasks/g/1/x", b"x", "text/plain")
    assert not store.healthy()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    gone = open_store(s3_env.new_url(), secret=SECRET, base_url=BASE)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="could not read a file"):
        gone.get_bytes("tasks/g/1/x")
    assert time.monotonic() - started < 30


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_refuses_a_memory_store_its_processes_cannot_share(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's worker and API run in separate processes: a memory store would be two."""
    from typer.testing import CliRunner

    from framecast.cli import app

    monkeypatch.setenv("FRAMECAST_STORAGE_URL", "memory://")
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "memory:// lives in one process" in result.output
