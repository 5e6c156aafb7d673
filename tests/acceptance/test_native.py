"""The native API against a real ``framecast serve`` (one engine slot, so tasks can be held in
the queue): resumable events, task operations, models, usage, /readyz and /metrics."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.acceptance.support.native import (
    FAILS_MODEL,
    HOLD_MODEL,
    STEPS,
    STEPS_MODEL,
    metric_samples,
    native_models_toml,
    read_events,
    sample,
    wait_native,
)
from tests.acceptance.support.server import (
    API_KEY,
    Server,
    assert_clean_log,
    start_server,
    stop_server,
)
from tests.acceptance.support.webhooks import receiving, static_secret

TASKS = "/framecast/v1/tasks"


@pytest.fixture(scope="module")
def native_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with one slot and the native test models (a fake hub cache holds one repo)."""
    root = tmp_path_factory.mktemp("native")
    (root / "weights").mkdir()
    (root / "hf" / "models--acme--tiny-video" / "snapshots" / "abc").mkdir(parents=True)
    running = start_server(root / "data", slots=1,
                           models_toml=native_models_toml(root / "weights"),
                           extra_env={"HF_HUB_CACHE": str(root / "hf")},
                           extra_args=["--allow-missing-weights"])
    yield running
    stop_server(running)
    assert_clean_log(running)


@pytest.fixture(scope="module")
def http(native_server: Server) -> Iterator[httpx.Client]:
    """HTTP client on the native server's root, with the static key."""
    with httpx.Client(base_url=native_server.root, timeout=60.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        yield client


def create(http: httpx.Client, model: str, **fields: object) -> dict:
    """A video task (with a prompt unless ``fields`` names one: every API needs a prompt or
    an image)."""
    response = http.post("/framecast/v1/videos",
                         json={"model": model, "prompt": "a lighthouse", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_events_resume_after_a_dropped_connection_without_missing_any(
        http: httpx.Client) -> None:
    task = create(http, STEPS_MODEL, prompt="resumable", duration=2)
    first = read_events(http, task["id"], stop=lambda e: e["data"]["step"] >= 10)
    time.sleep(1.0)                      # steps go on while nobody listens
    second = read_events(http, task["id"], last_event_id=first[-1]["id"])
    assert second[0]["data"]["step"] == first[-1]["data"]["step"] + 1
    seen = first + second

    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids)), "event ids are unique and increasing"
    statuses = [e["data"]["status"] for e in seen if e["event"] == "status"]
    assert statuses == ["queued", "running"]
    steps = [e["data"]["step"] for e in seen if e["event"] == "progress"]
    assert steps == list(range(1, STEPS + 1)), "every step exactly once, in order"
    progress = [e["data"]["progress"] for e in seen]
    assert progress == sorted(progress) and progress[-1] == 100.0
    done = seen[-1]
    assert done["event"] == "done" and done["data"]["status"] == "succeeded"
    [video] = done["data"]["outputs"]
    assert video["name"] == "video.mp4" and video["url"].startswith("http")
    assert httpx.get(video["url"], timeout=30).status_code == 200

    # a fresh connection to the finished task replays its round and ends with done
    replay = read_events(http, task["id"])
    assert [e["id"] for e in replay] == ids
    # a client that already saw done gets nothing more, and the stream ends
    assert read_events(http, task["id"], last_event_id=done["id"]) == []


def test_events_need_the_owners_key(http: httpx.Client, native_server: Server) -> None:
    task = create(http, HOLD_MODEL)
    other = native_server.create_key("native-other")
    answer = httpx.get(f"{native_server.root}{TASKS}/{task['id']}/events", timeout=30,
                       headers={"Authorization": f"Bearer {other}"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "ResourceNotFound"
    answer = httpx.get(f"{native_server.root}{TASKS}/{task['id']}/events", timeout=30)
    assert answer.status_code == 401 and set(answer.json()["error"]) == {"code", "message",
                                                                          "param"}
    wait_native(http, task["id"])


def test_cancel_kill_and_delete(http: httpx.Client) -> None:
    running = create(http, HOLD_MODEL)
    wait_native(http, running["id"], until=("running",))
    queued = create(http, HOLD_MODEL)
    also_queued = create(http, HOLD_MODEL)

    cancelled = http.post(f"{TASKS}/{queued['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert http.post(f"{TASKS}/{queued['id']}/cancel").json()["status"] == "cancelled"
    deleted = http.delete(f"{TASKS}/{also_queued['id']}")      # queued: cancelled, deleted
    assert deleted.json() == {"id": also_queued["id"], "deleted": True, "status": "cancelled"}

    refused = http.delete(f"{TASKS}/{running['id']}")
    assert refused.status_code == 400 and "cancel it first" in refused.json()["error"]["message"]
    killing = http.post(f"{TASKS}/{running['id']}/cancel").json()
    assert killing["status"] in ("running", "cancelled")
    assert killing["status"] == "cancelled" or killing["cancel_requested"] is True
    assert wait_native(http, running["id"])["status"] == "cancelled"

    finished = create(http, HOLD_MODEL, return_last_frame=True)
    finished = wait_native(http, finished["id"])
    late = http.post(f"{TASKS}/{finished['id']}/cancel")
    assert late.status_code == 400 and late.json()["error"]["code"] == "InvalidAction"
    url = finished["outputs"][0]["url"]
    assert http.delete(f"{TASKS}/{finished['id']}").json()["status"] == "succeeded"
    assert http.get(f"{TASKS}/{finished['id']}").status_code == 404
    assert httpx.get(url, timeout=30).status_code == 404, "files go with the task"


def test_a_native_task_webhook_is_the_native_task(http: httpx.Client,
                                                 native_server: Server) -> None:
    with receiving() as hooks:
        task = create(http, HOLD_MODEL, callback_url=hooks.url("/native"))
        finished = wait_native(http, task["id"])
        hooks.wait_for(lambda: hooks.at("/native"), 30.0, "the webhook")
        [hit] = hooks.at("/native")
    body = Webhook(static_secret(native_server)).verify(hit.body, hit.headers)
    assert body["id"] == task["id"] and body["dialect"] == "native"
    assert body["status"] == "succeeded" and body["outputs"][0]["name"] == "video.mp4"
    assert set(body) == set(finished)


def test_models_and_openapi(http: httpx.Client) -> None:
    data = {m["id"]: m for m in http.get("/framecast/v1/models").json()["data"]}
    pro = data["seedance-1-0-pro"]
    assert pro["engine"] == "motion" and pro["weights_present"] is True
    assert "doubao-seedance-1-0-pro-250528" in pro["aliases"]
    assert pro["capabilities"]["roles"] == ["first_frame", "last_frame", "reference_image"]
    assert pro["capabilities"]["max_reference_images"] == 4
    assert data["seedream-3-0-t2i"]["kind"] == "image"
    assert data["seedream-3-0-t2i"]["default_size"] == "1024x1024"
    assert data[STEPS_MODEL]["engine"] == "sleeps"
    assert data["fc-weights-missing"]["weights_present"] is False
    assert data["fc-weights-missing"]["capabilities"]["resolutions"] == ["480p", "720p"]
    assert data["fc-weights-local"]["weights_present"] is True
    assert data["fc-weights-hub"]["weights_present"] is True
    images = http.get("/framecast/v1/models", params={"kind": "image"}).json()["data"]
    assert images and {m["kind"] for m in images} == {"image"}

    spec = http.get("/openapi.json").json()
    for path in (TASKS, f"{TASKS}/{{task_id}}", f"{TASKS}/{{task_id}}/events",
                 f"{TASKS}/{{task_id}}/cancel", "/framecast/v1/videos", "/framecast/v1/images",
                 "/framecast/v1/models", "/framecast/v1/usage", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    assert spec["paths"]["/framecast/v1/videos"]["post"]["summary"] == "Create a video task"
    assert "NativeTask" in spec["components"]["schemas"]


def test_usage_counts_the_keys_own_tasks(http: httpx.Client, native_server: Server) -> None:
    key = native_server.create_key("native-usage")
    with httpx.Client(base_url=native_server.root, timeout=60.0,
                      headers={"Authorization": f"Bearer {key}"}) as mine:
        before = time.time()
        video = mine.post("/framecast/v1/videos", json={
            "prompt": "slow push in", "resolution": "480p", "duration": 2}).json()
        image = mine.post("/framecast/v1/images", json={"prompt": "a red fox",
                                                        "size": "512x512"}).json()
        failing = mine.post("/framecast/v1/videos", json={"model": FAILS_MODEL,
                                                          "prompt": "x"}).json()
        tasks = [wait_native(mine, t["id"]) for t in (video, image, failing)]
        assert [t["status"] for t in tasks] == ["succeeded", "succeeded", "failed"]
        assert tasks[2]["error"]["code"] and tasks[2]["outputs"] == []

        usage = mine.get("/framecast/v1/usage").json()
        assert usage["tasks"]["total"] == 3 and usage["tasks"]["succeeded"] == 2
        assert usage["tasks"]["failed"] == 1
        assert usage["tokens"] == tasks[0]["usage_tokens"] + tasks[1]["usage_tokens"] > 0
        by_kind = {k["kind"]: k for k in usage["by_kind"]}
        assert by_kind["video"]["tasks"]["total"] == 2 and by_kind["image"]["tasks"]["total"] == 1
        assert by_kind["video"]["tokens"] == tasks[0]["usage_tokens"]
        models = {(m["model"], m["kind"]): m for m in usage["by_model"]}
        assert models[(FAILS_MODEL, "video")]["tasks"]["failed"] == 1
        assert models[(FAILS_MODEL, "video")]["tokens"] == 0
        assert usage["engine_seconds"] > 0

        empty = mine.get("/framecast/v1/usage", params={"until": before - 3600}).json()
        assert empty["tasks"]["total"] == 0 and empty["tokens"] == 0
        iso = mine.get("/framecast/v1/usage", params={"since": "2001-01-01T00:00:00Z"}).json()
        assert iso["tasks"]["total"] == 3
        bad = mine.get("/framecast/v1/usage", params={"since": "last tuesday"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"

        listing = mine.get(TASKS, params={"status": "failed"}).json()
        assert listing["total"] == 1 and listing["items"][0]["id"] == failing["id"]
        page = mine.get(TASKS, params={"kind": "video", "limit": 1}).json()
        assert page["total"] == 2 and len(page["items"]) == 1
        assert mine.get(TASKS, params={"status": "done"}).status_code == 400
    assert http.get("/framecast/v1/usage").json()["key_id"] == "static"


def test_metrics_track_the_queue(http: httpx.Client, native_server: Server) -> None:
    def scrape() -> dict:
        answer = httpx.get(f"{native_server.root}/metrics", timeout=30)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return metric_samples(answer.text)

    def scrape_slots(state: str) -> dict:
        """A scrape that shows one slot ``state``: serve's worker process reports its slots
        once a second (worker/status.py)."""
        deadline = time.monotonic() + 5.0
        while True:
            samples = scrape()
            if sample(samples, "framecast_engine_slots", state=state) == 1 \
                    or time.monotonic() > deadline:
                return samples
            time.sleep(0.1)

    base = scrape()
    assert sample(base, "framecast_info", version="0.1.0") == 1
    assert sample(base, "framecast_database_up") == 1
    assert ("framecast_webhook_backlog", ()) in base
    assert sample(base, "framecast_queue_depth", model=HOLD_MODEL, tier="default") == 0
    created = [create(http, HOLD_MODEL), create(http, HOLD_MODEL),
               create(http, HOLD_MODEL, service_tier="flex"), create(http, FAILS_MODEL)]
    wait_native(http, created[0]["id"], until=("running",))
    during = scrape_slots("busy")
    assert sample(during, "framecast_queue_depth", model=HOLD_MODEL, tier="default") == 1
    assert sample(during, "framecast_queue_depth", model=HOLD_MODEL, tier="flex") == 1
    assert sample(during, "framecast_queue_depth", model=FAILS_MODEL, tier="default") == 1
    assert sample(during, "framecast_tasks", status="queued") == 3
    assert sample(during, "framecast_engine_slots", state="busy") == 1

    finished = [wait_native(http, t["id"]) for t in created]
    after = scrape_slots("idle")
    assert sample(after, "framecast_queue_depth", model=HOLD_MODEL, tier="default") == 0
    assert sample(after, "framecast_queue_depth", model=HOLD_MODEL, tier="flex") == 0
    assert sample(after, "framecast_tasks", status="queued") == 0
    assert sample(after, "framecast_tasks", status="succeeded") == \
        sample(base, "framecast_tasks", status="succeeded") + 3
    assert sample(after, "framecast_task_duration_seconds_count", kind="video") == \
        sample(base, "framecast_task_duration_seconds_count", kind="video") + 3
    assert sample(after, "framecast_task_run_seconds", kind="video", quantile="0.5") > 0
    reason = finished[3]["error"]["code"]
    assert sample(after, "framecast_task_failures_total", reason=reason) == \
        sample(base, "framecast_task_failures_total", reason=reason) + 1
    assert sample(after, "framecast_engine_slots", state="idle") == 1


def test_readyz(native_server: Server, tmp_path: Path) -> None:
    ready = httpx.get(f"{native_server.root}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["checks"]["database"]["ok"]
    worker = body["checks"]["worker"]
    # the worker runs in the process serve started as; this answer came from its API child
    assert worker["embedded"] is True and worker["worker_pid"] == native_server.process.pid
    assert len(worker["slots"]) == 1 and worker["slots"][0]["state"] == "ready"

    api_only = start_server(tmp_path / "data", slots=1, extra_args=["--no-worker"])
    try:
        answer = httpx.get(f"{api_only.root}/readyz", timeout=30)
        assert answer.status_code == 200
        assert answer.json()["checks"]["worker"]["embedded"] is False
        # make storage unwritable: root ignores file modes, so the directory becomes a file
        files = api_only.data_dir / "files"
        shutil.rmtree(files)
        files.write_text("not a directory")
        answer = httpx.get(f"{api_only.root}/readyz", timeout=30)
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["storage"]["ok"] is False and checks["database"]["ok"] is True
        metrics = metric_samples(httpx.get(f"{api_only.root}/metrics", timeout=30).text)
        assert sample(metrics, "framecast_worker_embedded") == 0
    finally:
        stop_server(api_only)
    assert_clean_log(api_only)


def test_what_the_engine_did_reaches_the_client(http: httpx.Client) -> None:
    """A first+last task with a camera word and audio asked for: the motion engine morphs
    (mode), cannot move the camera between two fixed frames nor make sound, and says so; the
    native task carries it as ``engine_info``, the Ark GET as ``X-Framecast-Engine-Info``."""
    import base64
    import io

    from PIL import Image
    from skimage import data as photos

    def uri(pixels: object) -> str:
        out = io.BytesIO()
        Image.fromarray(pixels).convert("RGB").save(out, "JPEG", quality=90)   # type: ignore[arg-type]
        return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()

    created = create(http, "seedance-1-0-pro-250528", prompt="orbit left around the cup",
                     first_frame=uri(photos.coffee()), last_frame=uri(photos.chelsea()),
                     resolution="480p", frames=29, generate_audio=True)
    task = wait_native(http, created["id"])
    assert task["status"] == "succeeded", task
    info = task["engine_info"]
    assert info["engine"] == "motion" and info["mode"] == "first_last", info
    assert "orbit_left" in info["camera_not_applied"], info
    assert "not generated" in info["audio"], info
    ark = http.get(f"/api/v3/contents/generations/tasks/{created['id']}")
    assert json.loads(ark.headers["X-Framecast-Engine-Info"]) == info
