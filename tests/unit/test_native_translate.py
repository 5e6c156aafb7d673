"""The native API's pure parts: requests → specs, a task → native JSON (progress, ETA,
outputs, errors), the webhook body hook, usage ranges and sums, ``weights_present``, and the
metrics' quantiles and slot states."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from framecast.api.dialects import webhook_renderers
from framecast.api.metrics import quantile, slot_states
from framecast.core.errors import InvalidInput, MissingInput
from framecast.core.task import OutputFile, Task, TaskStatus
from framecast.db.stats import UsageRow
from framecast.native import translate, usage, wire
from framecast.native.models import list_models, weights_present
from framecast.service.registry import Registry
from framecast.service.webhooks import render_body
from framecast.worker.messages import ChildState

PNG = "data:image/png;base64,iVBORw0KGgo="


def test_video_request_shortcuts_and_images_become_roles() -> None:
    spec = translate.video_spec(wire.VideoCreate(
        prompt="push in", first_frame="https://h/a.png", last_frame=PNG, duration=2,
        resolution="480p", seed=5))
    assert spec.model == translate.DEFAULT_VIDEO_MODEL
    assert [(i.role, i.param) for i in spec.images] == [("first_frame", "first_frame"),
                                                         ("last_frame", "last_frame")]
    assert (spec.duration, spec.resolution, spec.seed, spec.fps) == (2, "480p", 5, 24)
    refs = translate.video_spec(wire.VideoCreate(
        images=[wire.ImageRef(url="https://h/r.png", role="reference_image")],
        reference_images=[PNG], model=" seedance-1-5-pro "))
    assert [i.param for i in refs.images] == ["images[0].url", "reference_images[0]"]
    assert refs.model == "seedance-1-5-pro"


@pytest.mark.parametrize(("fields", "param"), [
    ({"first_frame": "ftp://h/a.png"}, "first_frame"),
    ({"reference_images": [" "]}, "reference_images[0]"),
    ({"fps": 30}, "fps"),
    ({"duration": 2, "frames": 49}, "frames"),
    ({"last_frame": PNG}, "images"),
    ({"prompt": "x" * 10_001}, "prompt"),
])
def test_video_request_errors_name_native_fields(fields: dict, param: str) -> None:
    with pytest.raises(InvalidInput) as info:
        translate.video_spec(wire.VideoCreate(**fields))
    assert info.value.param == param
    assert "framespersecond" not in info.value.message


def test_image_request() -> None:
    spec = translate.image_spec(wire.ImageCreate(prompt="fox", size="512x512", images=[PNG],
                                                 guidance_scale=3))
    assert spec.model == translate.DEFAULT_IMAGE_MODEL and spec.images[0].param == "images[0]"
    with pytest.raises(MissingInput):
        translate.image_spec(wire.ImageCreate(prompt="  "))
    with pytest.raises(InvalidInput) as info:
        translate.image_spec(wire.ImageCreate(prompt="x", guidance_scale=11))
    assert info.value.param == "guidance_scale"


def make_task(status: str, **fields: object) -> Task:
    base: dict = {"id": "cgt-1", "owner_id": "o", "kind": "video", "model": "m",
                  "engine": "motion", "status": TaskStatus(status), "dialect": "native",
                  "spec": {"seed": 9, "images": [{"role": "first_frame", "url": "data:",
                                                  "key": "tasks/cgt-1/inputs/0.png",
                                                  "param": "first_frame"}]},
                  "created_at": 100.0}
    return Task(**{**base, **fields})


def file_url(task: Task, name: str) -> str:
    return f"https://files.test/{name}"


def test_native_task_json() -> None:
    running = make_task("running", attempt=1, started_at=110.0, progress=0.25, step=10,
                        total_steps=40)
    body = translate.task_to_native(running, file_url, now=130.0)
    assert (body.progress, body.eta_s, body.seed, body.outputs) == (25.0, 60.0, 9, [])
    assert body.spec["images"] == [{"role": "first_frame", "url": "data:"}]
    assert translate.task_to_native(make_task("queued"), file_url).eta_s is None

    out = OutputFile(name="video.mp4", key="k", content_type="video/mp4", size_bytes=3,
                     width=864, height=480, frames=49, fps=24)
    done = translate.task_json(make_task("succeeded", outputs=[out], progress=1.0), file_url)
    assert done["progress"] == 100.0 and done["eta_s"] == 0.0 and done["error"] is None
    assert done["outputs"][0] == {"name": "video.mp4", "url": "https://files.test/video.mp4",
                                  "content_type": "video/mp4", "size_bytes": 3, "width": 864,
                                  "height": 480, "frames": 49, "fps": 24, "has_audio": False}
    failed = translate.task_json(make_task("failed", error_code="Boom", error_message="x"),
                                 file_url)
    assert failed["error"] == {"code": "Boom", "message": "x"}
    assert translate.task_json(make_task("expired"), file_url)["error"]["code"] == "TaskExpired"
    assert translate.task_json(make_task("cancelled"), file_url)["error"] is None


def test_webhooks_render_native_tasks_in_the_native_shape() -> None:
    service = SimpleNamespace(file_url=file_url)
    body = render_body(make_task("cancelled"), service, webhook_renderers())  # type: ignore
    assert body["id"] == "cgt-1" and body["dialect"] == "native" and "eta_s" in body


def test_usage_time_range() -> None:
    assert usage.parse_time("1700000000.5", "since", 0) == 1700000000.5
    assert usage.parse_time("2026-01-01", "since", 0) == 1767225600.0
    assert usage.parse_time("2026-01-01T01:00:00+01:00", "since", 0) == 1767225600.0
    assert usage.time_range(None, None, now=50.0) == (0.0, 51.0)
    with pytest.raises(InvalidInput) as info:
        usage.time_range("yesterday", None)
    assert info.value.param == "since"
    with pytest.raises(InvalidInput):
        usage.time_range("200", "100")


def test_usage_sums_tokens_of_succeeded_tasks_only() -> None:
    rows = [UsageRow("video", "a", "succeeded", 2, 100, 3.0),
            UsageRow("video", "a", "failed", 1, 50, 0.0),
            UsageRow("image", "b", "succeeded", 1, 10, 1.0)]
    doc = usage.summarize("key-1", rows, 0.0, 10.0)
    assert doc.tokens == 110 and doc.tasks["total"] == 4 and doc.tasks["failed"] == 1
    assert doc.engine_seconds == 4.0
    by_model = {(m.model, m.kind): m for m in doc.by_model}
    assert by_model[("a", "video")].tokens == 100
    assert by_model[("a", "video")].tasks["total"] == 3


def test_weights_present(tmp_path: Path) -> None:
    assert weights_present(None, needs_weights=False)
    assert not weights_present(None, needs_weights=True)
    assert weights_present(str(tmp_path), needs_weights=True)
    assert not weights_present("/no/such/folder", needs_weights=True)
    assert not weights_present("acme/model", needs_weights=True, cache_dir=tmp_path)
    (tmp_path / "models--acme--model" / "snapshots" / "0123").mkdir(parents=True)
    assert weights_present("acme/model", needs_weights=True, cache_dir=tmp_path)


def test_models_list_builtins_once_with_their_aliases() -> None:
    data = list_models(Registry.load(None)).data
    ids = [m.id for m in data]
    assert len(ids) == len(set(ids)) and "seedance-1-0-pro" in ids
    names = [n for m in data for n in [m.id, *m.aliases]]
    assert len(names) == len(set(names)), "every name belongs to one entry"
    image = next(m for m in data if m.id == "seedream-3-0-t2i")
    assert image.resolutions == [] and image.default_size == "1024x1024"
    assert image.capabilities is not None and image.capabilities.kinds == ["image"]


def test_metrics_helpers() -> None:
    assert quantile([], 0.5) == 0.0
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert quantile([float(n) for n in range(1, 101)], 0.95) == 95.0
    infos = [SimpleNamespace(state=s) for s in (ChildState.RUNNING, ChildState.READY, None,
                                                ChildState.DEFUNCT, ChildState.LOADING)]
    supervisor = SimpleNamespace(slot_info=lambda: infos)
    assert slot_states(supervisor) == {"busy": 1, "idle": 1, "loading": 2, "defunct": 1}
    assert slot_states(None) == {"busy": 0, "idle": 0, "loading": 0, "defunct": 0}
