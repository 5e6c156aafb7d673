"""Seedance 1.5 / 2.x through the official SDKs against a real server: each model's
durations (with ``-1``, automatic), draft then final (a 480p preview, then the same shot at
1080p from a ``draft_task`` item), ``omni_reference_task_type`` checked at create, and the
2.x content items this server does not take yet refused naming the item.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import numpy as np
import pytest
from byteplussdkarkruntime._exceptions import ArkBadRequestError as BpBadRequestError
from PIL import Image
from volcenginesdkarkruntime._exceptions import ArkBadRequestError

from framecast.core import sizes
from tests.acceptance.support.server import (
    SLEEPS_MODEL,
    VIDEO_MODEL,
    ImageHost,
    download,
    probe_mp4,
    wait_task,
)

V25 = "doubao-seedance-2-5-260628"          # Volcengine spelling
V25_BP = "dreamina-seedance-2-5-260628"     # BytePlus spelling
V20 = "doubao-seedance-2-0-260128"
V20_FAST = "dreamina-seedance-2-0-fast-260128"
V15 = "seedance-1-5-pro-251215"
ENGINE_INFO = "X-Framecast-Engine-Info"


def text(prompt: str) -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def first_frame(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}


def draft_item(task_id: str) -> dict[str, Any]:
    return {"type": "draft_task", "draft_task": {"id": task_id}}


def frames_of(data: bytes, index: int) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[index]


def as_draft(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """A final's frame framed and sized as its draft's: the centre crop to the draft's
    aspect (864x496 is a little narrower than 16:9), then downscaled."""
    h, w = frame.shape[:2]
    crop_w = min(w, round(h * width / height))
    left = (w - crop_w) // 2
    image = Image.fromarray(frame[:, left:left + crop_w])
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS),
                      dtype=np.float32)


def engine_info(http: httpx.Client, task_id: str) -> dict[str, Any]:
    response = http.get(f"/contents/generations/tasks/{task_id}")
    return json.loads(response.headers[ENGINE_INFO])


def refused(client: Any, **body: Any) -> Any:
    """The 400 the SDK raises for ``body`` (either vendor's ``ArkBadRequestError``)."""
    with pytest.raises((ArkBadRequestError, BpBadRequestError)) as caught:
        client.content_generation.tasks.create(**body)
    return caught.value


# -- draft, then final ---------------------------------------------------------------------


@pytest.mark.parametrize("sdk", ["volc", "byteplus"])
def test_a_draft_then_its_final_give_the_same_shot_at_480p_then_1080p(
        request: pytest.FixtureRequest, sdk: str, images: ImageHost, http: httpx.Client) -> None:
    client = request.getfixturevalue(sdk)
    model = V25 if sdk == "volc" else V25_BP
    create = client.content_generation.tasks.create
    draft_id = create(model=model, draft=True, duration=4, ratio="16:9", camera_fixed=False,
                      content=[text("a slow push in on the harbour"),
                               first_frame(images.url("wide.jpg"))]).id
    draft = wait_task(client, draft_id)
    assert draft.status == "succeeded", draft.error
    assert draft.draft is True and draft.draft_task_id == draft_id
    assert (draft.resolution, draft.ratio, draft.duration) == ("480p", "16:9", 4)
    preview = download(draft.content.video_url)
    info = probe_mp4(preview)
    assert (info.width, info.height, info.frames) == (*sizes.video_size(
        "seedance-1.5", "480p", "16:9"), 97)

    final_id = create(model=model, content=[draft_item(draft_id)], resolution="1080p",
                      return_last_frame=True).id
    final = wait_task(client, final_id)
    assert final.status == "succeeded", final.error
    assert final.draft is False and final.draft_task_id == draft_id
    assert (final.resolution, final.ratio, final.duration, final.seed) == (
        "1080p", "16:9", 4, draft.seed)
    video = download(final.content.video_url)
    info = probe_mp4(video)
    assert (info.width, info.height, info.frames) == (1920, 1080, 97)
    assert final.content.last_frame_url
    # the same shot: the same camera move, and each frame the draft's, sharper
    moves = [engine_info(http, task_id) for task_id in (draft_id, final_id)]
    assert moves[0]["camera"] == moves[1]["camera"]
    for index in (0, 48, -1):
        small = frames_of(preview, index).astype(np.float32)
        large = as_draft(frames_of(video, index), small.shape[1], small.shape[0])
        psnr = 10 * np.log10(255 ** 2 / np.mean((small - large) ** 2))
        assert psnr > 24, (index, psnr)


def test_what_a_draft_and_a_final_refuse(volc: Any, images: ImageHost) -> None:
    error = refused(volc, model=V20, draft=True, content=[text("x")])
    assert error.param == "draft"                       # 2.0 renders no drafts
    error = refused(volc, model=V25, draft=True, resolution="720p", content=[text("x")])
    assert error.param == "resolution"                  # a draft is 480p
    create = volc.content_generation.tasks.create
    plain = create(model=V25, duration=4, content=[text("a plain shot --rs 480p")]).id
    assert wait_task(volc, plain).status == "succeeded"
    error = refused(volc, model=V25, content=[draft_item(plain)])
    assert error.param == "content[0].draft_task.id" and "not a draft" in error.message
    error = refused(volc, model=V25, content=[draft_item("cgt-20260101000000-nothere")])
    assert error.param == "content[0].draft_task.id"
    draft = create(model=V25, draft=True, duration=4, content=[text("a draft")]).id
    assert wait_task(volc, draft).status == "succeeded"
    error = refused(volc, model=V25, ratio="9:16", content=[draft_item(draft)])
    assert error.param == "ratio"                        # the shot is the draft's
    for field in ("camera_fixed", "generate_audio"):     # a false one too: not the draft's
        error = refused(volc, model=V25, content=[draft_item(draft)],
                        **{field: not getattr(volc.content_generation.tasks.get(
                            task_id=draft), field)})
        assert error.param == field
    same = create(model=V25, ratio="16:9", camera_fixed=False, content=[draft_item(draft)])
    assert wait_task(volc, same.id).status == "succeeded"   # what the draft had: fine
    error = refused(volc, model=V20, content=[draft_item(draft)])
    assert error.param == "model"
    error = refused(volc, model=V25, content=[draft_item(draft), text("and more")])
    assert error.param == "content"


def test_a_draft_belongs_to_its_key(volc: Any, server: Any) -> None:
    from volcenginesdkarkruntime import Ark

    draft = volc.content_generation.tasks.create(model=V15, draft=True,
                                                 content=[text("a draft")]).id
    assert wait_task(volc, draft).status == "succeeded"
    other = Ark(base_url=server.base_url, api_key=server.create_key("someone-else"))
    error = refused(other, model=V15, content=[draft_item(draft)])
    assert error.param == "content[0].draft_task.id"


def test_a_draft_still_running_cannot_be_finalised(volc: Any, http: httpx.Client) -> None:
    # the sleeps model holds the slot; a draft queued behind it is not succeeded yet
    for _ in range(2):
        volc.content_generation.tasks.create(model=SLEEPS_MODEL, content=[text("hold")])
    draft = volc.content_generation.tasks.create(model=V25, draft=True,
                                                 content=[text("queued draft")]).id
    error = refused(volc, model=V25, content=[draft_item(draft)])
    assert error.param == "content[0].draft_task.id" and "queued" in error.message
    http.delete(f"/contents/generations/tasks/{draft}")


# -- durations per model ---------------------------------------------------------------------


@pytest.mark.parametrize(("model", "duration", "ok"), [
    (V25, 30, True), (V25, 31, False), (V25, 4, True), (V25, 3, False),
    (V20, 15, True), (V20, 16, False), (V20_FAST, 4, True),
    (V15, 12, True), (V15, 13, False), (V15, 3, False),
    (VIDEO_MODEL, 12, True), (VIDEO_MODEL, 13, False), (VIDEO_MODEL, 2, True),
])
def test_each_model_takes_its_own_durations(volc: Any, http: httpx.Client, model: str,
                                            duration: int, ok: bool) -> None:
    body = {"model": model, "content": [text("a field --rs 480p")], "duration": duration}
    if not ok:
        assert refused(volc, **body).param == "duration"
        return
    task_id = volc.content_generation.tasks.create(**body).id
    task = volc.content_generation.tasks.get(task_id=task_id)
    assert task.duration == duration
    http.delete(f"/contents/generations/tasks/{task_id}")   # (a queued one is cancelled)


@pytest.mark.parametrize("model", [V25, V20, V15, VIDEO_MODEL])
def test_an_automatic_duration_resolves_to_a_stated_length(volc: Any, model: str) -> None:
    task_id = volc.content_generation.tasks.create(
        model=model, duration=-1, content=[text("a meadow --rs 480p")]).id
    task = wait_task(volc, task_id)
    assert task.status == "succeeded" and task.duration == 5
    assert probe_mp4(download(task.content.video_url)).frames == 121


def test_generate_audio_defaults_per_model_and_is_reported_when_not_made(
        volc: Any, http: httpx.Client) -> None:
    task_id = volc.content_generation.tasks.create(
        model=V25, content=[text("rain on a roof --rs 480p --dur 4")]).id
    task = wait_task(volc, task_id)
    # 2.x makes sound by default; the motion engine makes none, and says so
    assert task.generate_audio is False
    assert "silent" in engine_info(http, task_id)["audio"]


# -- task types and 2.x content ---------------------------------------------------------------


def test_an_explicit_edit_is_refused_at_create(volc: Any, byteplus: Any,
                                               images: ImageHost) -> None:
    for client, model in ((volc, V25), (byteplus, V25_BP)):
        error = refused(client, model=model, omni_reference_task_type="edit",
                        ratio="adaptive", duration=-1,
                        content=[text("make it night"), video(images.url("clip.mp4"))])
        assert error.code == "InvalidParameter.TaskTypeConstraint"
        assert error.param == "omni_reference_task_type"


@pytest.mark.parametrize("sdk", ["volc", "byteplus"])
def test_an_extension_returns_the_input_then_its_continuation(
        request: pytest.FixtureRequest, sdk: str, images: ImageHost,
        http: httpx.Client) -> None:
    client = request.getfixturevalue(sdk)
    task_id = client.content_generation.tasks.create(
        model=V25 if sdk == "volc" else V25_BP, omni_reference_task_type="extend",
        duration=4, resolution="480p",
        content=[text("the camera keeps panning"), video(images.url("clip.mp4"))]).id
    task = wait_task(client, task_id)
    assert task.status == "succeeded", task.error
    assert (task.ratio, task.duration) == ("4:3", 4)           # adaptive: the input's shape
    data = download(task.content.video_url)
    info = probe_mp4(data)
    # the 3 s input (72 frames at 24 fps), then 4 s continuing from its last frame (96)
    assert (info.width, info.height, info.frames) == (752, 560, 72 + 96)
    assert engine_info(http, task_id)["mode"] == "extend"
    seam = [frames_of(data, i).astype(np.float32) for i in (71, 72)]
    assert np.abs(seam[0] - seam[1]).mean() < 6


def test_what_an_extension_refuses(volc: Any, images: ImageHost) -> None:
    for content, ratio, param in (
            ([text("x"), video(images.url("clip.mp4")), video(images.url("clip.mp4"))], None,
             "omni_reference_task_type"),
            ([text("x"), video(images.url("clip.mp4"))], "16:9", "ratio"),
            ([text("x")], None, "omni_reference_task_type")):
        error = refused(volc, model=V25, omni_reference_task_type="extend", ratio=ratio,
                        duration=4, content=content)
        assert (error.code, error.param) == ("InvalidParameter.TaskTypeConstraint", param)


def test_task_types_are_checked_against_the_request(volc: Any, images: ImageHost) -> None:
    error = refused(volc, model=V15, omni_reference_task_type="auto", content=[text("x")])
    assert error.param == "omni_reference_task_type"        # 2.x only
    error = refused(volc, model=V25, omni_reference_task_type="reference",
                    content=[text("x")])
    assert error.code == "InvalidParameter.TaskTypeConstraint"
    error = refused(volc, model=V25, omni_reference_task_type="auto", ratio="16:9",
                    content=[text("x"), first_frame(images.url("wide.jpg"))])
    assert (error.code, error.param) == ("InvalidParameter.TaskTypeConstraint", "ratio")
    task_id = volc.content_generation.tasks.create(
        model=V25, omni_reference_task_type="reference", duration=4,
        content=[text("the fox from the pictures --rs 480p"),
                 {"type": "image_url", "image_url": {"url": images.url("ref1.jpg")},
                  "role": "reference_image"}]).id
    assert wait_task(volc, task_id).status == "succeeded"


def video(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def reference(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, "role": "reference_image"}


@pytest.mark.parametrize("sdk", ["volc", "byteplus"])
def test_reference_images_a_video_and_audio_make_one_clip_with_its_soundtrack(
        request: pytest.FixtureRequest, sdk: str, images: ImageHost,
        http: httpx.Client) -> None:
    client = request.getfixturevalue(sdk)
    model = V25 if sdk == "volc" else V25_BP
    task_id = client.content_generation.tasks.create(
        model=model, duration=4, resolution="480p", ratio="16:9",
        content=[text("the fox walks through the coffee shop"),
                 *(reference(images.url(f"ref{n}.jpg")) for n in (1, 2, 3)),
                 video(images.url("clip.mp4")), audio(images.url("tone.wav"))]).id
    task = wait_task(client, task_id)
    assert task.status == "succeeded", task.error
    info = probe_mp4(download(task.content.video_url))
    width, height = sizes.video_size("seedance-1.5", "480p", "16:9")
    assert (info.width, info.height, info.frames, info.fps) == (width, height, 97, 24)
    assert info.has_audio
    # the vendor's tokens once a video is an input: (input_s + output_s) x W x H x 24 / 1024
    assert task.usage.completion_tokens == int(width * height * (97 + 3.0 * 24) // 1024)
    done = engine_info(http, task_id)
    assert done["mode"] == "references" and "keyframes" in done["reference_video"]
    assert "padded with silence" in done["reference_audio"]        # 3 s of tone in 4 s
    assert "soundtrack" in done["reference_audio"]


@pytest.mark.parametrize(("model", "content", "param"), [
    (V25, lambda h: [text("x"), *([video(h.url("clip.mp4"))] * 11)], "content[11].video_url.url"),
    (V20, lambda h: [text("x"), *([video(h.url("clip.mp4"))] * 4)], "content[4].video_url.url"),
    (V20, lambda h: [text("x"), audio(h.url("tone.wav"))], "content[1].audio_url.url"),
    (V20, lambda h: [text("x"), video(h.url("clip8s.mp4")), video(h.url("clip8s.mp4"))],
     "content[2].video_url.url"),                          # 16 s of video; 2.0 takes 15
    (V25, lambda h: [text("x"), video(h.url("clip1s.mp4"))], "content[1].video_url.url"),
    (V25, lambda h: [text("x"), video(h.url("tone.wav"))], "content[1].video_url.url"),
    (V25, lambda h: [text("x"), audio(h.url("clip.mp4"))], "content[1].audio_url.url"),
    (V25, lambda h: [text("x"), video(h.url("wide.jpg"))], "content[1].video_url.url"),
    (V25, lambda h: [text("x"), video("asset://asset-20260101-abc")],
     "content[1].video_url.url"),
    (V25, lambda h: [text("x"), video("data:video/mp4;base64,AAAA")],
     "content[1].video_url.url"),
    (V25, lambda h: [text("x"), {**video(h.url("clip.mp4")), "role": "reference_audio"}],
     "content[1].role"),
    (V25, lambda h: [text("x"), first_frame(h.url("wide.jpg")), video(h.url("clip.mp4"))],
     "content"),
    (VIDEO_MODEL, lambda h: [text("x"), video(h.url("clip.mp4"))], "content[1].video_url.url"),
])
def test_bad_reference_clips_are_refused_naming_the_item(
        volc: Any, images: ImageHost, model: str, content: Any, param: str) -> None:
    error = refused(volc, model=model, duration=4, content=content(images))
    assert (error.code, error.param) == ("InvalidParameter", param), error.message


def test_the_clip_edges_that_pass(volc: Any, images: ImageHost) -> None:
    create = volc.content_generation.tasks.create
    ten = create(model=V25, duration=4, content=[
        text("ten clips --rs 480p"), *([video(images.url("clip.mp4"))] * 10)]).id
    alone = create(model=V25, duration=4, content=[text("a song --rs 480p"),
                                                   audio(images.url("tone.wav"))]).id
    fifteen = create(model=V20, duration=4, content=[
        text("fifteen seconds --rs 480p"), video(images.url("clip8s.mp4")),
        video(images.url("clip.mp4")), video(images.url("clip.mp4"))]).id   # 8 + 3 + 3 s
    for task_id in (ten, alone, fifteen):
        task = wait_task(volc, task_id)
        assert task.status == "succeeded", task.error


def test_only_mp4_is_made(volc: Any) -> None:
    assert refused(volc, model=V25, output_format="mov", content=[text("x")]).param == \
        "output_format"


def test_a_final_keeps_its_drafts_clips(volc: Any, images: ImageHost) -> None:
    create = volc.content_generation.tasks.create
    draft = create(model=V25, draft=True, duration=4, content=[
        text("the pan, with its tone"), video(images.url("clip.mp4")),
        audio(images.url("tone.wav"))]).id
    assert wait_task(volc, draft).status == "succeeded"
    final = wait_task(volc, create(model=V25, resolution="720p",
                                   content=[draft_item(draft)]).id)
    assert final.status == "succeeded", final.error
    info = probe_mp4(download(final.content.video_url))
    assert (info.width, info.height, info.frames, info.has_audio) == (1280, 720, 97, True)
