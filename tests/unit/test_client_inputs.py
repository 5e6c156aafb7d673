"""The SDK without a server: input images (paths, URLs, data URIs, bytes), request bodies,
error mapping, the SSE decoder, and ``wait`` over a scripted transport (a stream that breaks
and resumes with ``Last-Event-ID``; a server without the events endpoint)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from framecast.client import (
    AuthenticationError,
    BadRequestError,
    Framecast,
    InputError,
    NotFoundError,
    RateLimitError,
    Task,
    TaskFailedError,
)
from framecast.client import _base as base
from framecast.client._errors import error_for
from framecast.client._inputs import image_ref, sniff_image_type, video_body
from framecast.client._sse import SSEDecoder


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    return out.getvalue()


# ---- inputs --------------------------------------------------------------------------------


def test_urls_and_data_uris_pass_through() -> None:
    assert image_ref("https://example.com/a.png", param="image") == "https://example.com/a.png"
    assert image_ref(" http://h/x ", param="image") == "http://h/x"
    uri = "data:image/png;base64,AAAA"
    assert image_ref(uri, param="image") == uri


@pytest.mark.parametrize("as_path", [str, Path])
def test_a_local_file_becomes_a_data_uri(tmp_path: Path, as_path: Any) -> None:
    data = png_bytes()
    path = tmp_path / "first.png"
    path.write_bytes(data)
    uri = image_ref(as_path(path), param="image")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data


def test_bytes_are_sniffed() -> None:
    assert image_ref(png_bytes(), param="image").startswith("data:image/png;base64,")
    assert image_ref(bytearray(jpeg_bytes()), param="image").startswith("data:image/jpeg;")
    assert image_ref(memoryview(png_bytes()), param="image").startswith("data:image/png;")


def test_sniffing_knows_the_common_formats() -> None:
    assert sniff_image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"GIF89a....") == "image/gif"
    assert sniff_image_type(b"\x00\x00\x00\x1cftypavif") == "image/avif"
    assert sniff_image_type(b"hello") is None


def test_a_file_with_an_image_suffix_but_unknown_magic_uses_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "odd.webp"
    path.write_bytes(b"not really sniffable")
    assert image_ref(path, param="image").startswith("data:image/webp;base64,")


@pytest.mark.parametrize(("source", "message"), [
    ("no/such/file.png", "no such file"),
    (b"plain text", "not a PNG"),
    ("", "is empty"),
    (42, "must be a file path"),
])
def test_unusable_inputs_name_their_parameter(source: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        image_ref(source, param="last_frame")
    assert info.value.param == "last_frame"
    assert "last_frame" in str(info.value)


def test_a_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        image_ref(path, param="image")


def test_video_body_leaves_out_what_was_not_given(tmp_path: Path) -> None:
    body = video_body(image="https://h/a.png", last_frame=png_bytes(),
                      references=None, prompt="push in", duration=2, seed=None, fps=None)
    assert body == {"prompt": "push in", "duration": 2, "first_frame": "https://h/a.png",
                    "last_frame": body["last_frame"]}
    refs = video_body(image=None, last_frame=None, references=[png_bytes(), "https://h/r.jpg"])
    assert len(refs["reference_images"]) == 2


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"image": None, "last_frame": "https://h/l.png", "references": None}, "last_frame"),
    ({"image": None, "last_frame": None, "references": None, "duration": 2, "frames": 49},
     "frames"),
])
def test_video_body_refuses_contradictions(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InputError) as info:
        video_body(**kwargs)
    assert info.value.param == param


def test_download_targets(tmp_path: Path) -> None:
    task = Task.model_validate({"id": "cgt-1", "kind": "video", "model": "m",
                                "status": "succeeded", "outputs": [
                                    {"name": "last_frame.png", "url": "http://h/l.png",
                                     "content_type": "image/png"},
                                    {"name": "video.mp4", "url": "http://h/v.mp4?sig=1",
                                     "content_type": "video/mp4"}]})
    assert base.download_source(task) == ("http://h/v.mp4?sig=1", "video.mp4")
    assert base.download_source("http://h/dir/clip%20one.mp4?x=1")[1] == "clip one.mp4"
    assert base.download_path(tmp_path, "video.mp4") == tmp_path / "video.mp4"
    assert base.download_path(tmp_path / "sub" / "out.mp4", "video.mp4") == \
        tmp_path / "sub" / "out.mp4"
    queued = task.model_copy(update={"status": "queued", "outputs": []})
    with pytest.raises(InputError, match="no output"):
        base.download_source(queued)


# ---- errors and SSE ------------------------------------------------------------------------


def test_error_envelopes_map_to_the_family() -> None:
    err = error_for(400, {"error": {"code": "InvalidParameter", "message": "bad fps",
                                    "param": "fps"}})
    assert isinstance(err, BadRequestError)
    assert (err.status, err.code, err.param) == (400, "InvalidParameter", "fps")
    assert isinstance(error_for(401, {"error": {"code": "x", "message": "no"}}),
                      AuthenticationError)
    assert isinstance(error_for(404, {"detail": "Not Found"}), NotFoundError)
    limited = error_for(429, {"error": {"message": "slow down"}}, {"retry-after": "7"})
    assert isinstance(limited, RateLimitError) and limited.retry_after_s == 7.0
    assert error_for(502, "<html>bad gateway</html>").message == "<html>bad gateway</html>"


def test_sse_decoder_follows_the_whatwg_rules() -> None:
    decoder = SSEDecoder()
    lines = ["retry: 1000", "", ": ping", "", "id: 7", "event: progress", "data: {\"a\":",
             "data: 1}", "", "data: no id line", ""]
    events = [e for line in lines if (e := decoder.feed(line)) is not None]
    assert [(e.event, e.data, e.id) for e in events] == [
        ("progress", '{"a":\n1}', "7"), ("message", "no id line", "7")]


# ---- wait over a scripted transport --------------------------------------------------------


def task_json(status: str, step: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": "cgt-1", "kind": "video", "model": "m", "engine": "motion",
            "status": status, "progress": step * 10.0, "step": step, "total_steps": 10,
            **extra}


def sse(event_id: int, event: str, status: str, step: int, **extra: Any) -> str:
    data = {"task_id": "cgt-1", "status": status, "progress": step * 10.0, "step": step,
            "total_steps": 10, "eta_s": None, "error": None, **extra}
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


def test_wait_resumes_a_broken_stream_with_last_event_id() -> None:
    seen_headers: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            last = request.headers.get("last-event-id")
            seen_headers.append(last)
            if last is None:   # the first connection drops after step 4
                body = sse(10_000_000, "status", "queued", 0) + \
                    sse(11_000_000, "status", "running", 0) + \
                    "".join(sse(11_000_000 + s, "progress", "running", s) for s in range(1, 5))
            else:
                start = int(last) - 11_000_000 + 1
                body = "".join(sse(11_000_000 + s, "progress", "running", s)
                               for s in range(start, 11)) + \
                    sse(22_000_000, "done", "succeeded", 10, outputs=[])
            return httpx.Response(200, text=body,
                                  headers={"content-type": "text/event-stream"})
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(200, json=task_json("succeeded", 10))

    client = Framecast("http://fc.test", api_key="k",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    updates: list[tuple[str, int]] = []
    task = client.tasks.wait("cgt-1", on_progress=lambda e: updates.append((e.event, e.step)),
                             timeout=10)
    assert task.status == "succeeded"
    assert seen_headers == [None, "11000004"]
    assert [s for kind, s in updates if kind == "progress"] == list(range(1, 11))
    assert updates[-1] == ("done", 10)


def test_wait_polls_a_server_without_the_events_endpoint() -> None:
    reads = iter([task_json("running", 3), task_json("running", 3), task_json("running", 7),
                  task_json("failed", 7, error={"code": "Boom", "message": "broke"})])
    last = task_json("running", 3)

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal last
        if request.url.path.endswith("/events"):
            return httpx.Response(404, json={"detail": "Not Found"})
        last = next(reads, last)
        return httpx.Response(200, json=last)

    client = Framecast("http://fc.test", api_key="k",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    steps: list[int] = []
    with pytest.raises(TaskFailedError) as info:
        client.tasks.wait("cgt-1", on_progress=lambda e: steps.append(e.step),
                          poll_interval=0.0, timeout=10)
    assert info.value.task.error is not None and info.value.task.error.code == "Boom"
    assert steps == [3, 7, 7]    # one update per change (the failure is a change of status)


def test_wait_falls_back_to_polling_when_the_stream_keeps_ending_early(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("framecast.client._sse.RECONNECT_DELAYS_S", (0.0,))
    streams = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal streams
        if request.url.path.endswith("/events"):
            streams += 1      # a proxy that cuts every stream before anything arrives
            return httpx.Response(200, text=": ping\n\n",
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=task_json("succeeded", 10))

    client = Framecast("http://fc.test", api_key="k",
                       http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert client.tasks.wait("cgt-1", timeout=10).status == "succeeded"
    assert streams == 5
