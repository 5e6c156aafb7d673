"""The Python SDK (``framecast.client``) and the ``framecast video|image|tasks`` commands
against the live acceptance server, and the CLI's in-process mode (no server at all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from framecast.client import (
    AsyncFramecast,
    AuthenticationError,
    BadRequestError,
    Framecast,
    NotFoundError,
    TaskEvent,
    TaskFailedError,
)
from tests.acceptance.support.server import (
    API_KEY,
    FAILS_MODEL,
    ImageHost,
    Server,
    png_size,
    probe_mp4,
)

CLI_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    with Framecast(server.root, api_key=API_KEY) as sdk:
        yield sdk


def check_progress(events: list[TaskEvent], *, need_steps: bool = False) -> None:
    """Progress never goes back, every step comes once and in order, and done is last with
    the outputs. (A task over before the worker's first progress write, about half a second,
    has no steps to show; ``need_steps`` is for one that takes longer.)"""
    progress = [e.progress for e in events]
    assert progress == sorted(progress), progress
    ids = [e.id for e in events]
    assert ids == sorted(set(ids)), ids
    done = events[-1]
    assert done.event == "done" and done.status == "succeeded" and done.progress == 100
    assert done.outputs, "done carries the outputs"
    steps = [e.step for e in events if e.event == "progress"]
    assert steps == list(range(1, done.total_steps + 1)), steps
    assert steps or not need_steps, "a task of several seconds shows its steps"


def test_video_from_a_path_a_url_and_bytes(client: Framecast, images: ImageHost,
                                           tmp_path: Path) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(images.files["first.png"][0])
    created = [      # the first one takes long enough to show every step
        client.videos.create(image=first, prompt="slow push in", resolution="720p", duration=3,
                             seed=7),
        client.videos.create(image=images.url("wide.jpg"),
                             last_frame=images.files["last.png"][0], prompt="pan left",
                             resolution="480p", frames=49, return_last_frame=True),
        client.videos.create(references=[images.files["ref1.jpg"][0], images.url("ref2.jpg")],
                             prompt="orbit", resolution="480p", duration=2, ratio="1:1"),
    ]
    assert all(t.status in ("queued", "running") and t.dialect == "native" for t in created)
    for n, task in enumerate(created):
        events: list[TaskEvent] = []
        done = client.tasks.wait(task.id, on_progress=events.append, timeout=120)
        check_progress(events, need_steps=n == 0)
        video = done.output("video.mp4")
        assert video is not None and video.frames == done.spec["frames_total"]
        assert video.fps == 24 and video.frames == (73 if n == 0 else 49)
        path = client.download(done, tmp_path / f"{task.id}.mp4")
        info = probe_mp4(path.read_bytes())
        assert (info.width, info.height, info.frames) == (video.width, video.height, video.frames)
    assert created[0].seed == 7
    last = client.tasks.get(created[1].id).output("last_frame.png")
    assert last is not None
    saved = client.download(last, tmp_path)
    assert saved.name == "last_frame.png" and png_size(saved.read_bytes())[0] > 0


def test_image_generate_and_task_operations(client: Framecast, tmp_path: Path) -> None:
    task = client.images.generate(prompt="a red fox in snow", size="512x512", seed=3)
    assert task.succeeded and task.kind == "image"
    assert png_size(client.download(task, tmp_path / "fox.png").read_bytes()) == (512, 512)
    queued = client.images.generate(prompt="later", wait=False)
    assert queued.status in ("queued", "running", "succeeded")
    assert client.tasks.get(task.id).id == task.id
    listing = client.tasks.list(kind="image", limit=5)
    assert listing.total >= 2 and task.id in {t.id for t in client.tasks.list(limit=100).items}
    client.tasks.wait(queued.id, timeout=60)
    assert client.tasks.delete(queued.id).deleted
    with pytest.raises(NotFoundError):
        client.tasks.get(queued.id)
    models = {m.id: m for m in client.models.list()}
    assert models["seedance-1-0-pro"].engine == "motion"
    assert client.usage().tasks["total"] >= 1


def test_errors_are_one_family(client: Framecast, server: Server) -> None:
    with pytest.raises(BadRequestError) as bad:
        client.videos.create(prompt="x", fps=30)
    assert bad.value.status == 400 and bad.value.param == "fps"
    with pytest.raises(NotFoundError) as unknown:
        client.videos.create(prompt="x", model="no-such-model")
    assert unknown.value.param == "model"
    with pytest.raises(AuthenticationError), Framecast(server.root, api_key="wrong") as other:
        other.tasks.list()
    failing = client.videos.create(model=FAILS_MODEL, prompt="fails")
    with pytest.raises(TaskFailedError) as failed:
        client.tasks.wait(failing.id, timeout=60)
    assert failed.value.task.status == "failed" and failed.value.task.error is not None
    assert client.tasks.wait(failing.id, raise_on_failure=False).status == "failed"


def test_async_client(server: Server, images: ImageHost, tmp_path: Path) -> None:
    async def flow() -> tuple[Any, list[TaskEvent], Path]:
        events: list[TaskEvent] = []

        async def record(event: TaskEvent) -> None:
            events.append(event)

        async with AsyncFramecast(server.root, api_key=API_KEY) as aclient:
            task = await aclient.videos.create(image=images.files["tall.jpg"][0],
                                               prompt="tilt up", resolution="480p", duration=2)
            done = await aclient.tasks.wait(task.id, on_progress=record, timeout=120)
            assert [m.id for m in await aclient.models.list(kind="image")]
            path = await aclient.download(done, tmp_path / "async.mp4")
            return done, events, path

    done, events, path = anyio.run(flow)
    check_progress(events)
    assert done.spec["ratio"] == "9:16"
    assert probe_mp4(path.read_bytes()).frames == 49


# ---- the CLI ---------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m framecast ARGS`` with ``env`` (and no inherited FRAMECAST_* variables)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    return subprocess.run([sys.executable, "-m", "framecast", *args], env={**clean, **env},
                          cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


@pytest.fixture
def remote(server: Server) -> dict[str, str]:
    return {"FRAMECAST_URL": server.root, "FRAMECAST_API_KEY": API_KEY}


def test_cli_video_and_image(remote: dict[str, str], images: ImageHost, tmp_path: Path) -> None:
    first = tmp_path / "first.png"
    first.write_bytes(images.files["first.png"][0])
    done = cli("video", "--image", str(first), "--prompt", "slow push in", "--resolution",
               "480p", "--duration", "2", "--seed", "11", "-o", "out.mp4", env=remote,
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "saved" in done.stdout and "succeeded" in done.stdout
    info = probe_mp4((tmp_path / "out.mp4").read_bytes())
    assert info.frames == 49 and info.height in (480, 544) and info.codec == "h264"

    done = cli("video", "--image", images.url("wide.jpg"), "--prompt", "pan right",
               "--resolution", "480p", "--frames", "49", "--camera-fixed", "--json",
               "-o", f"{tmp_path}/clips/", env=remote, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)          # the final task JSON and nothing else
    assert task["status"] == "succeeded" and task["spec"]["camera_fixed"] is True
    saved = tmp_path / "clips" / "video.mp4"
    assert probe_mp4(saved.read_bytes()).frames == 49

    done = cli("image", "--prompt", "a lighthouse", "--size", "640x480", "-o", "light.png",
               env=remote, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert png_size((tmp_path / "light.png").read_bytes()) == (640, 480)

    listing = cli("tasks", "list", "--kind", "image", "--json", env=remote, cwd=tmp_path)
    assert listing.returncode == 0 and json.loads(listing.stdout)["total"] >= 1
    got = cli("tasks", "get", task["id"], "--json", env=remote, cwd=tmp_path)
    assert json.loads(got.stdout)["id"] == task["id"]
    watched = cli("tasks", "watch", task["id"], "--json", env=remote, cwd=tmp_path)
    assert watched.returncode == 0 and json.loads(watched.stdout)["status"] == "succeeded"


@pytest.mark.parametrize(("args", "code", "words"), [
    (["video", "--prompt", "x", "--fps", "30"], 2, "fps"),
    (["video", "--image", "no-such-file.png"], 2, "no such file"),
    (["video", "--prompt", "x", "--model", "no-such-model"], 2, "no-such-model"),
    (["video", "--prompt", "x", "--model", FAILS_MODEL], 1, "failed"),
    (["tasks", "get", "cgt-00000000000000-missing"], 2, "not found"),
])
def test_cli_fails_with_one_line(remote: dict[str, str], tmp_path: Path, args: list[str],
                                 code: int, words: str) -> None:
    done = cli(*args, env=remote, cwd=tmp_path)
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("framecast: "), done.stderr
    assert words in lines[0].lower()
    assert done.stdout == "" or "failed" in words


def test_cli_in_process_without_a_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = cli("video", "--prompt", "orbit left", "--resolution", "480p", "--duration", "2",
               "--data-dir", str(data), "--json", "-o", "local.mp4", env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["status"] == "succeeded" and task["engine"] == "motion"
    assert probe_mp4((tmp_path / "local.mp4").read_bytes()).frames == 49
    assert (data / "api-key.txt").is_file(), "acts as the data directory's key"
    listing = cli("tasks", "list", "--data-dir", str(data), "--json", env={}, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert [t["id"] for t in json.loads(listing.stdout)["items"]] == [task["id"]]
