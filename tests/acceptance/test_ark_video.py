"""Seedance video through the official SDKs against a real server: image-to-video from a data
URI and from an http URL, first + last frame, reference images, every resolution × ratio read
back from the MP4, frame counts, seeds, the last frame, and the task object's fields.

Every task of this module is created up front (``batch``) and polled afterwards, so the
server's two slots work in parallel while the tests look at the results one by one.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from framecast.core import sizes
from tests.acceptance.support.server import (
    VIDEO_MODEL,
    VIDEO_MODEL_15,
    VIDEO_MODEL_BP,
    ImageHost,
    download,
    png_size,
    probe_mp4,
    wait_task,
)

RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21")
SWEEP_10 = list(itertools.product(("480p", "720p", "1080p"), RATIOS))
SWEEP_15 = [("480p", "16:9"), ("480p", "4:3"), ("720p", "16:9"), ("720p", "4:3"),
            ("720p", "21:9"), ("1080p", "9:16")]


def text(prompt: str) -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str, role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role:
        item["role"] = role
    return item


@dataclass
class Job:
    """A task created at the start of the module, and the client that created it."""

    client: Any
    id: str
    created: Any = None

    def result(self) -> Any:
        """Wait for the task (once) and return its final state."""
        return wait_task(self.client, self.id)


@pytest.fixture(scope="module")
def batch(volc: Any, byteplus: Any, images: ImageHost) -> dict[Any, Job]:
    """Create every task of this module at once; tests wait for the ones they look at."""
    jobs: dict[Any, Job] = {}

    def create(name: Any, client: Any, **kwargs: Any) -> None:
        created = client.content_generation.tasks.create(**kwargs)
        jobs[name] = Job(client, created.id, created)

    create("data_uri", volc, model=VIDEO_MODEL, content=[
        text("a slow push in on the garden --rs 480p --frames 29 --seed 5"),
        image(images.data_uri("first.png"), "first_frame")], safety_identifier="user-42")
    create("http_url", byteplus, model=VIDEO_MODEL_BP, content=[
        text("pan left across the bay --rs 480p --dur 2"), image(images.url("wide.jpg"))])
    create("first_last", volc, model=VIDEO_MODEL, content=[
        text("morph --rs 480p --frames 29"), image(images.url("first.png"), "first_frame"),
        image(images.url("last.png"), "last_frame")], return_last_frame=True)
    create("references", byteplus, model=VIDEO_MODEL_BP, content=[
        text("a gallery tour --rt 16:9 --rs 480p --frames 29"),
        image(images.url("ref1.jpg"), "reference_image"),
        image(images.data_uri("ref2.jpg"), "reference_image"),
        image(images.url("ref3.jpg"), "reference_image")])
    create("top_level", volc, model=VIDEO_MODEL, content=[text("dolly in --rs 720p --frames 29")],
           resolution="480p", ratio="1:1", frames=33, camera_fixed=True, watermark=True,
           service_tier="flex", execution_expires_after=7200, seed=77)
    for n in (1, 2):
        create(("seed", n), volc if n == 1 else byteplus, model=VIDEO_MODEL, content=[
            text("orbit the tower --rs 480p --frames 29 --seed 1234 --cf false"),
            image(images.url("tall.jpg"))])
    for res, ratio in SWEEP_10:
        create(("size", VIDEO_MODEL, res, ratio), volc, model=VIDEO_MODEL,
               content=[text(f"static shot --rs {res} --rt {ratio} --frames 29")])
    for res, ratio in SWEEP_15:
        create(("size", VIDEO_MODEL_15, res, ratio), byteplus, model=VIDEO_MODEL_15,
               content=[text("static shot")], resolution=res, ratio=ratio, frames=29)
    return jobs


def mean_frame(data: bytes, index: int) -> np.ndarray:
    """Decode frame ``index`` (-1 = last) of an MP4 as an RGB array."""
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[index].astype(np.float32)


def cover(png: bytes, width: int, height: int) -> np.ndarray:
    """The picture cover-cropped to ``width × height``, as an RGB array."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(png)) as img:
        fitted = ImageOps.fit(img.convert("RGB"), (width, height))
    return np.asarray(fitted, dtype=np.float32)


def digest(url: str) -> str:
    """SHA-256 of a downloaded output."""
    return hashlib.sha256(download(url)).hexdigest()


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB arrays (0–255)."""
    return float(np.abs(a - b).mean())


# -- image to video ------------------------------------------------------------------------------


def test_first_frame_as_data_uri(batch: dict[Any, Job], images: ImageHost) -> None:
    job = batch["data_uri"]
    assert job.created.id.startswith("cgt-") and job.created.safety_identifier == "user-42"
    task = job.result()
    assert task.status == "succeeded" and task.error is None
    assert (task.resolution, task.ratio, task.frames, task.seed) == ("480p", "4:3", 29, 5)
    assert task.duration is None and task.framespersecond == 24
    assert task.usage.completion_tokens == task.usage.total_tokens == 736 * 544 * 29 // 1024
    assert task.model == VIDEO_MODEL and task.engine == "motion" and task.progress == 100
    data = download(task.content.video_url)
    info = probe_mp4(data)
    assert (info.width, info.height, info.frames, info.codec) == (736, 544, 29, "h264")
    assert info.fps == pytest.approx(24)
    # the video starts on the picture it was given
    first = cover(images.files["first.png"][0], 736, 544)
    assert mad(mean_frame(data, 0), first) < 25


def test_first_frame_as_http_url_with_duration(batch: dict[Any, Job]) -> None:
    task = batch["http_url"].result()
    assert task.status == "succeeded" and task.model == VIDEO_MODEL_BP
    assert (task.ratio, task.duration, task.frames) == ("16:9", 2, None)
    info = probe_mp4(download(task.content.video_url))
    assert (info.width, info.height, info.frames) == (864, 480, 49)   # 24 fps × 2 s + 1


def test_first_and_last_frame(batch: dict[Any, Job], images: ImageHost) -> None:
    task = batch["first_last"].result()
    assert task.status == "succeeded"
    data = download(task.content.video_url)
    info = probe_mp4(data)
    assert (info.width, info.height, info.frames) == (736, 544, 29)
    first = cover(images.files["first.png"][0], 736, 544)
    last = cover(images.files["last.png"][0], 736, 544)
    end = mean_frame(data, -1)
    assert mad(end, last) < mad(end, first), "the video should end on the last frame"
    still = download(task.content.last_frame_url)
    assert png_size(still) == (736, 544)


def test_reference_images(batch: dict[Any, Job]) -> None:
    task = batch["references"].result()
    assert task.status == "succeeded" and task.ratio == "16:9"
    info = probe_mp4(download(task.content.video_url))
    assert (info.width, info.height, info.frames) == (864, 480, 29)


# -- sizes, frames, seeds --------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "resolution", "ratio"),
                         [(VIDEO_MODEL, r, q) for r, q in SWEEP_10]
                         + [(VIDEO_MODEL_15, r, q) for r, q in SWEEP_15])
def test_every_resolution_and_ratio_has_the_exact_size(batch: dict[Any, Job], model: str,
                                                       resolution: str, ratio: str) -> None:
    family = "seedance-1.0" if model == VIDEO_MODEL else "seedance-1.5"
    width, height = sizes.video_size(family, resolution, ratio)
    task = batch[("size", model, resolution, ratio)].result()
    assert task.status == "succeeded", task.error
    assert (task.resolution, task.ratio, task.frames) == (resolution, ratio, 29)
    info = probe_mp4(download(task.content.video_url))
    assert (info.width, info.height, info.frames) == (width, height, 29)
    assert task.usage.completion_tokens == width * height * 29 // 1024


def test_top_level_fields_win_over_flags_and_are_echoed(batch: dict[Any, Job],
                                                        http: httpx.Client) -> None:
    task = batch["top_level"].result()
    assert task.status == "succeeded"
    assert (task.resolution, task.ratio, task.frames, task.seed) == ("480p", "1:1", 33, 77)
    assert (task.service_tier, task.execution_expires_after) == ("flex", 7200)
    assert task.camera_fixed is True and task.watermark is True and task.duration is None
    info = probe_mp4(download(task.content.video_url))
    assert (info.width, info.height, info.frames) == (640, 640, 33)
    raw = http.get(f"/contents/generations/tasks/{task.id}")
    body = raw.json()
    assert raw.headers["X-Framecast-Engine"] == "motion"
    assert isinstance(body["created_at"], int) and isinstance(body["updated_at"], int)
    assert body["error"] is None and "last_frame_url" not in body["content"]


def test_same_seed_gives_identical_video_bytes(batch: dict[Any, Job]) -> None:
    one, two = batch[("seed", 1)].result(), batch[("seed", 2)].result()
    assert one.seed == two.seed == 1234
    assert digest(one.content.video_url) == digest(two.content.video_url)
    assert (one.ratio, probe_mp4(download(one.content.video_url)).width) == ("9:16", 480)


def test_random_seed_is_reported(batch: dict[Any, Job]) -> None:
    task = batch[("size", VIDEO_MODEL, "480p", "16:9")].result()
    assert isinstance(task.seed, int) and task.seed >= 0
