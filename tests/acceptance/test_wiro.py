"""The Wiro dialect against a real ``framecast serve`` process, driven by a Wiro client in
signature mode written from Wiro's own recipe (``x-api-key``, ``x-nonce``,
``x-signature = hex(hmac_sha256(key=API_KEY, msg=API_SECRET + NONCE))``): Run as JSON and as
multipart with a file part, Detail until ``task_postprocess_end``, the MP4s and PNGs it
produced, Kill / Cancel / InputOutputDelete / List, bad signatures and replayed nonces,
bad input answered in Wiro's envelope, and the task WebSocket.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.acceptance.support.server import (
    API_KEY,
    SLEEPS_MODEL,
    ImageHost,
    Server,
    download,
    png_size,
    probe_mp4,
)
from tests.acceptance.support.webhooks import create_key

I2V = "ByteDance/image-to-video-seedance-v1"
T2V = "ByteDance/text-to-video-seedance-v1"
SEEDREAM_V3 = "bytedance/text-to-image-seedream-v3"
SLEEPS = f"framecast/{SLEEPS_MODEL}"     # a configured model, run under any owner slug
DONE = ("task_postprocess_end", "task_cancel")
TASK_TIMEOUT_S = 120.0
KILL_BUDGET_S = 5.0


class WiroClient:
    """Wiro's API in signature mode, as its docs build the headers."""

    def __init__(self, base_url: str, api_key: str, api_secret: str | None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.http = httpx.Client(base_url=f"{base_url}/v1", timeout=60.0)
        self._last_nonce = 0

    def nonce(self) -> str:
        """Unix time, as the docs say, in milliseconds (``date +%s`` repeats within a second
        and a nonce is good for one request), never repeating."""
        self._last_nonce = max(self._last_nonce + 1, int(time.time() * 1000))
        return str(self._last_nonce)

    def headers(self, nonce: str | None = None) -> dict[str, str]:
        """``x-api-key``, and in signature mode ``x-nonce`` and ``x-signature``."""
        if self.api_secret is None:
            return {"x-api-key": self.api_key}
        nonce = nonce or self.nonce()
        signature = hmac.new(self.api_key.encode(), (self.api_secret + nonce).encode(),
                             hashlib.sha256).hexdigest()
        return {"x-api-key": self.api_key, "x-nonce": nonce, "x-signature": signature}

    def post(self, path: str, *, headers: dict[str, str] | None = None,
             **kwargs: Any) -> httpx.Response:
        """A signed POST (``json=``, ``data=`` or ``files=``)."""
        return self.http.post(path, headers=self.headers() if headers is None else headers,
                              **kwargs)

    def run(self, model: str, **kwargs: Any) -> dict[str, Any]:
        """``Run/{owner}/{model}``; asserts success."""
        body = self.post(f"/Run/{model}", **kwargs).json()
        assert body["result"] is True and body["errors"] == [], body
        return body

    def detail(self, **ident: str) -> dict[str, Any]:
        """The task item of ``Task/Detail``."""
        body = self.post("/Task/Detail", json=ident).json()
        assert body["result"] is True and body["total"] == "1", body
        return body["tasklist"][0]

    def wait(self, token: str, until: tuple[str, ...] = DONE,
             timeout_s: float = TASK_TIMEOUT_S) -> dict[str, Any]:
        """Poll ``Task/Detail`` by token until the status is in ``until``."""
        deadline = time.monotonic() + timeout_s
        while True:
            item = self.detail(tasktoken=token)
            if item["status"] in until:
                return item
            assert item["status"] not in DONE and time.monotonic() < deadline, item
            time.sleep(0.2)


@pytest.fixture(scope="module")
def wiro(server: Server) -> WiroClient:
    """A client for a key created with ``--wiro-signature`` (its API secret printed)."""
    key = create_key(server, "wiro-signed", wiro_signature=True)
    assert key.wiro_secret and key.key.startswith("fc-")
    return WiroClient(server.root, key.key, key.wiro_secret)


def assert_error(response: httpx.Response, code: int, fragment: str, status: int = 200) -> None:
    """A Wiro error envelope."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["result"] is False and body["errors"][0]["code"] == code, body
    assert fragment in body["errors"][0]["message"], body


# ---- Run, Detail, outputs ----------------------------------------------------------------

def test_image_to_video_json_run_detail_and_the_mp4(wiro: WiroClient, images: ImageHost) -> None:
    run = wiro.run(I2V, json={
        "inputImageUrl": images.url("wide.jpg"), "prompt": "a skier, the camera alongside",
        "resolution": "480p", "ratio": "16:9", "duration": "5", "fps": "24",
        "watermark": "false", "seed": None, "camerafixed": "false"})
    assert run["taskid"].startswith("cgt-") and len(run["socketaccesstoken"]) == 30
    item = wiro.wait(run["socketaccesstoken"])
    assert (item["status"], item["pexit"], item["debugerror"]) == \
        ("task_postprocess_end", "0", "")
    for name in ("starttime", "endtime", "elapsedseconds", "totalcost", "size", "createtime"):
        assert isinstance(item[name], str), name
    assert item["modelslugowner"] == "ByteDance" and item["parameters"]["fps"] == "24"
    [output] = item["outputs"]
    data = download(output["url"])
    assert (output["contenttype"], output["size"]) == ("video/mp4", str(len(data)))
    video = probe_mp4(data)
    assert (video.width, video.height, video.frames, video.fps) == (864, 480, 121, 24.0)
    assert wiro.detail(taskid=run["taskid"])["id"] == item["id"]
    assert wiro.detail(socketaccesstoken=run["socketaccesstoken"])["id"] == item["id"]


def test_multipart_run_with_a_file_part_at_16_fps(wiro: WiroClient, images: ImageHost) -> None:
    picture, ctype = images.files["first.png"]
    run = wiro.run(I2V, data={"inputImageUrl": "", "prompt": "leaves fall", "fps": "16",
                              "duration": "5", "resolution": "480p"},
                   files={"inputImage": ("first.png", picture, ctype)})
    item = wiro.wait(run["socketaccesstoken"])
    assert item["pexit"] == "0", item
    assert item["parameters"]["inputImage"] == f"first.png ({len(picture)} bytes)"
    video = probe_mp4(download(item["outputs"][0]["url"]))
    assert (video.width, video.height, video.frames, video.fps) == (864, 480, 81, 16.0)


def test_a_data_uri_input_runs_and_the_video_starts_on_that_image(wiro: WiroClient) -> None:
    """``inputImageUrl`` as a ``data:`` URI (its comma is not a list separator): the run
    succeeds, and frame 0 is the photograph, cover-fitted to 864×480, within codec noise."""
    import base64
    import io

    import av
    import numpy as np
    from PIL import Image
    from skimage import data as photos

    from framecast.media.images import fit_cover

    photo = Image.fromarray(photos.coffee())
    jpeg = io.BytesIO()
    photo.save(jpeg, "JPEG", quality=95)
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg.getvalue()).decode()
    run = wiro.run(I2V, json={"inputImageUrl": uri, "prompt": "steam rises, camera still",
                              "resolution": "480p", "ratio": "16:9", "duration": "5",
                              "camerafixed": "true"})
    item = wiro.wait(run["socketaccesstoken"])
    assert item["pexit"] == "0", item
    data = download(item["outputs"][0]["url"])
    with av.open(io.BytesIO(data)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float64)
    fitted = np.asarray(fit_cover(Image.open(jpeg).convert("RGB"), 864, 480), np.float64)
    mse = float(np.mean((first - fitted) ** 2))
    assert 10 * np.log10(255 ** 2 / mse) > 30, "frame 0 is not the input photograph"


def test_seedream_v3_makes_a_png_of_the_requested_size(wiro: WiroClient) -> None:
    run = wiro.run(SEEDREAM_V3, json={"prompt": "a mountain lake at dawn", "size": "1248x832",
                                      "watermark": "false", "guidanceScale": 1, "seed": 1})
    item = wiro.wait(run["socketaccesstoken"])
    [output] = item["outputs"]
    assert (item["pexit"], output["contenttype"]) == ("0", "image/png")
    assert png_size(download(output["url"])) == (1248, 832)

    deleted = wiro.post("/Task/InputOutputDelete", json={"tasktoken": run["socketaccesstoken"]})
    assert deleted.json() == {"result": True, "errors": []}
    assert httpx.get(output["url"], timeout=30).status_code == 404
    assert wiro.detail(taskid=run["taskid"])["outputs"] == []
    again = wiro.post("/Task/InputOutputDelete", json={"taskid": run["taskid"]})
    assert again.json() == {"result": True, "errors": []}          # idempotent


# ---- Kill, Cancel, List -------------------------------------------------------------------

def test_kill_and_cancel(wiro: WiroClient) -> None:
    runs = [wiro.run(SLEEPS, json={"prompt": f"hold the slot {n}"}) for n in range(3)]
    running, queued = [], []
    deadline = time.monotonic() + 30
    while len(running) < 2 and time.monotonic() < deadline:
        items = [wiro.detail(tasktoken=r["socketaccesstoken"]) for r in runs]
        running = [i for i in items if i["status"] in ("task_start", "task_output")]
        queued = [i for i in items if i["status"] == "task_queue"]
        time.sleep(0.1)
    assert len(running) == 2 and len(queued) == 1, items

    cancelled = wiro.post("/Task/Cancel", json={"taskid": queued[0]["id"]}).json()
    assert cancelled["result"] is True and cancelled["tasklist"][0]["status"] == "task_cancel"
    assert_error(wiro.post("/Task/Cancel", json={"taskid": running[0]["id"]}), 1,
                 "Task is not in a cancellable state.")
    assert_error(wiro.post("/Task/InputOutputDelete", json={"taskid": running[0]["id"]}), 1,
                 "not in a deletable state")

    for item in running:
        started = time.monotonic()
        killed = wiro.post("/Task/Kill", json={"socketaccesstoken": item["socketaccesstoken"]})
        assert killed.json()["result"] is True, killed.text
        final = wiro.wait(item["socketaccesstoken"], timeout_s=KILL_BUDGET_S)
        assert final["status"] == "task_cancel" and final["pexit"] == "1"
        assert time.monotonic() - started < KILL_BUDGET_S
        assert final["canceltime"] != "0" and final["outputs"] == []
    assert_error(wiro.post("/Task/Kill", json={"taskid": running[0]["id"]}), 1,
                 "Task could not be killed")

    listed = wiro.post("/Task/List", json={"type": "model", "sort": "id", "order": "DESC",
                                           "start": "0", "limit": "3"}).json()
    assert listed["result"] is True and int(listed["total"]) >= 3
    assert [i["id"] for i in listed["tasklist"]] == [r["taskid"] for r in reversed(runs)]
    oldest = wiro.post("/Task/List", data={"order": "ASC", "start": "0", "limit": "1"}).json()
    assert oldest["tasklist"][0]["createtime"] <= listed["tasklist"][-1]["createtime"]


# ---- authentication ------------------------------------------------------------------------

def test_signatures_and_nonces(wiro: WiroClient, server: Server) -> None:
    unknown = {"taskid": "cgt-nope"}
    nonce = wiro.nonce()
    first = wiro.post("/Task/Detail", json=unknown, headers=wiro.headers(nonce))
    assert_error(first, 1, "There is no task yet.")                  # authenticated
    assert_error(wiro.post("/Task/Detail", json=unknown, headers=wiro.headers(nonce)), 0,
                 "Project authorization is not valid.", 401)         # the nonce again
    as_openssl_prints_it = wiro.headers()       # the docs' bash recipe keeps the prefix
    as_openssl_prints_it["x-signature"] = f"SHA2-256(stdin)= {as_openssl_prints_it['x-signature']}"
    assert_error(wiro.post("/Task/Detail", json=unknown, headers=as_openssl_prints_it), 1,
                 "There is no task yet.")
    bad = {**wiro.headers(), "x-signature": "0" * 64}
    assert_error(wiro.post("/Task/Detail", json=unknown, headers=bad), 0,
                 "Project authorization is not valid.", 401)
    wrong_secret = WiroClient(server.root, wiro.api_key, "not-the-secret")
    assert_error(wrong_secret.post("/Task/Detail", json=unknown), 0,
                 "Project authorization is not valid.", 401)
    assert_error(wiro.post("/Task/Detail", json=unknown, headers={"x-api-key": wiro.api_key}),
                 0, "Project requires signature authentication.", 401)
    assert_error(wiro.post("/Task/Detail", json=unknown, headers={"x-api-key": "fc-nope"}), 0,
                 "Project authorization is not founded.", 401)
    static = WiroClient(server.root, API_KEY, None)                   # a key-only project
    assert_error(static.post("/Task/Detail", json=unknown), 1, "There is no task yet.")
    assert_error(static.post("/Task/Detail", json=unknown, headers={}), 0,
                 "Project authorization is not founded.", 401)


# ---- bad input ---------------------------------------------------------------------------

def bad_inputs(images: ImageHost) -> list[tuple[str, dict[str, Any], str]]:
    """(model, parameters, the field the error must name)."""
    ok = {"prompt": "a lighthouse"}
    return [
        (T2V, {}, "prompt"),
        (T2V, {**ok, "resolution": "1080p"}, "resolution"),
        (T2V, {**ok, "ratio": "2:1"}, "ratio"),
        (T2V, {**ok, "duration": "7"}, "duration"),
        (T2V, {**ok, "fps": "30"}, "fps"),
        (T2V, {**ok, "watermark": "maybe"}, "watermark"),
        (T2V, {**ok, "seed": "lucky"}, "seed"),
        (T2V, {**ok, "camerafixed": "sometimes"}, "camerafixed"),
        (T2V, {**ok, "callbackUrl": "ftp://example.com/hook"}, "callbackUrl"),
        (I2V, ok, "inputImageUrl"),
        (I2V, {**ok, "inputImageUrl": "image-to-video-seedance-v1-input.jpg"}, "inputImageUrl"),
        (I2V, {**ok, "inputImageUrl": images.url("notes.txt")}, "inputImageUrl"),
        (I2V, {**ok, "inputImageUrl": images.url("tiny.png")}, "inputImageUrl"),
        (T2V, {**ok, "inputImageUrl": images.url("wide.jpg")}, "inputImageUrl"),
        (SEEDREAM_V3, {**ok, "size": "999x999"}, "size"),
        (SEEDREAM_V3, {**ok, "guidanceScale": "11"}, "guidanceScale"),
        (SEEDREAM_V3, {**ok, "seed": "1.5"}, "seed"),
    ]


def test_bad_input_is_answered_in_the_wiro_envelope_naming_the_field(
        wiro: WiroClient, images: ImageHost) -> None:
    cases = bad_inputs(images)
    assert len(cases) >= 10
    for model, params, field in cases:
        response = wiro.post(f"/Run/{model}", json=params)
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        assert body["result"] is False and body["errors"][0]["code"] == 0, (params, body)
        assert f"[{field}]" in body["errors"][0]["message"], (params, body)
    raw = wiro.post(f"/Run/{T2V}", content=b"{not json",
                    headers={**wiro.headers(), "content-type": "application/json"})
    assert_error(raw, 0, "Request parameters are invalid.")
    assert_error(wiro.post("/Run/ByteDance/no-such-model", json={"prompt": "x"}), 1,
                 "slug-owner-project-not-exist")
    assert_error(wiro.post("/Task/Detail", json={}), 0, "taskid or socketaccesstoken")
    assert_error(wiro.post("/Task/Nope", json={}), 0, "Error parsing url.", 404)
    assert_error(wiro.post("/Run/ByteDance", json={}), 0, "Error parsing url.", 404)


# ---- WebSocket -----------------------------------------------------------------------------

def test_the_websocket_reports_progress_then_the_outputs(wiro: WiroClient,
                                                         server: Server) -> None:
    run = wiro.run(SLEEPS, json={"prompt": "progress please"})
    messages = []
    with connect(f"ws://127.0.0.1:{server.port}/v1", open_timeout=10) as socket:
        socket.send(json.dumps({"type": "task_info", "tasktoken": run["socketaccesstoken"]}))
        for text in socket:
            message = json.loads(text)
            messages.append(message)
            assert message["result"] is True and message["id"] == run["taskid"]
            assert message["tasktoken"] == run["socketaccesstoken"]
    kinds = [m["type"] for m in messages]
    assert "task_start" in kinds and kinds[-1] == "task_postprocess_end", kinds
    percents = [int(m["message"]["percentage"]) for m in messages if m["type"] == "task_output"]
    assert len(percents) >= 2 and percents == sorted(set(percents)) and percents[-1] == 100
    progress = next(m["message"] for m in messages if m["type"] == "task_output")
    assert progress["type"] == "progressGenerate" and progress["task"] == "Generate"
    [output] = messages[-1]["message"]
    assert output["contenttype"] == "video/mp4" and download(output["url"])[4:8] == b"ftyp"

    with connect(f"ws://127.0.0.1:{server.port}/v1", open_timeout=10) as socket:
        socket.send(json.dumps({"type": "task_info", "tasktoken": "no-such-token"}))
        refused = json.loads(socket.recv(timeout=10))
    assert refused["result"] is False and "There is no task yet." in refused["message"]

    # JSON nested 2,000 deep (once a 1011 internal error): refused like any bad message
    with connect(f"ws://127.0.0.1:{server.port}/v1", open_timeout=10) as socket:
        socket.send('{"type":' + "[" * 2000 + "]" * 2000 + "}")
        deep = json.loads(socket.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert deep["result"] is False and "task_info" in deep["message"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
