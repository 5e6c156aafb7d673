"""The reliability audit's bad inputs, and their siblings, sent to every API of one real
server (SQLite and PostgreSQL) that may not reach private addresses: each is answered with a
4xx in the API's own envelope naming the field (Wiro: its ``result: false`` body), never a
5xx; the inputs that were wrongly refused are accepted.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image
from skimage import data as photos

from tests.acceptance.support.server import (
    API_KEY,
    VIDEO_MODEL,
    Server,
    assert_clean_log,
    server_on,
)

HEADERS = {"Authorization": f"Bearer {API_KEY}", "x-api-key": API_KEY}
DEEP = 2000          # nesting levels: a 4 KB body that once overflowed the parsers' stack


def photo_uri() -> str:
    out = io.BytesIO()
    Image.fromarray(photos.coffee()).save(out, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


PHOTO = photo_uri()


@dataclass(frozen=True)
class Create:
    """One API's video create, and where its answer says what was wrong."""

    path: str
    body: dict[str, Any]
    callback: str                 # the webhook field, in this API's words
    wiro: bool = False

    def message(self, reply: httpx.Response) -> str:
        """The error text (and field) of a refusal."""
        data = reply.json()
        if self.wiro:
            assert data["result"] is False, data
            return json.dumps(data["errors"])
        return json.dumps(data)


CREATES = {
    "ark": Create("/api/v3/contents/generations/tasks", {"model": VIDEO_MODEL, "content": [
        {"type": "text", "text": "a harbour --rs 480p --frames 29"}]}, "callback_url"),
    "aiml": Create("/v2/video/generations", {"model": "bytedance/seedance-1-0-pro-i2v",
                                             "prompt": "a harbour", "image_url": PHOTO},
                   "callback_url"),
    "openai": Create("/v1/videos", {"prompt": "a harbour", "resolution": "480p"},
                     "callback_url"),
    "acedata": Create("/seedance/videos", {"model": VIDEO_MODEL, "async": True, "content": [
        {"type": "text", "text": "a harbour --rs 480p --frames 29"}]}, "callback_url"),
    "wiro": Create("/v1/Run/ByteDance/text-to-video-seedance-v1", {"prompt": "a harbour"},
                   "callbackUrl", wiro=True),
    "native": Create("/framecast/v1/videos", {"prompt": "a harbour", "resolution": "480p",
                                              "frames": 29}, "callback_url"),
}

FORBIDDEN_CALLBACKS = [
    "http://127.0.0.1:8000/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/",
    "http://[::1]/hook", "http://localhost/hook", "http://2130706433/hook",
    "gopher://127.0.0.1:6379/_INFO", "file:///etc/passwd", "ftp://example.com/x",
    "dict://127.0.0.1:11211/stat", "http://user:pw@example.com/hook",
    "http://example.com:6379/hook",
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``serve --no-worker`` that refuses private addresses, on each database."""
    with server_on(request.param, tmp_path_factory.mktemp(f"bad-{request.param}") / "data",
                   allow_private=False, extra_args=["--no-worker"],
                   extra_env={"FRAMECAST_WEBHOOK_DELIVER": "false"}) as server:
        yield server
    assert_clean_log(server)


def post(server: Server, path: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", HEADERS)
    return httpx.post(f"{server.root}{path}", timeout=30.0, **kwargs)


def refused(create: Create, reply: httpx.Response, field: str) -> str:
    """Assert a refusal in the API's envelope naming ``field``; its text."""
    assert reply.status_code < 500, reply.text
    if create.wiro:
        assert reply.status_code == 200
    else:
        assert 400 <= reply.status_code < 500, reply.text
    text = create.message(reply)
    assert field in text, text
    return text


@pytest.mark.parametrize("api", list(CREATES))
def test_deeply_nested_json_is_a_400_not_a_500(server: Server, api: str) -> None:
    create = CREATES[api]
    body = '{"model":' + "[" * DEEP + "]" * DEEP + "}"
    reply = post(server, create.path, content=body,
                 headers={**HEADERS, "Content-Type": "application/json"})
    assert reply.status_code < 500, reply.text
    assert reply.status_code in (400, 422) or (create.wiro and reply.json()["result"] is False)


@pytest.mark.parametrize("api", list(CREATES))
@pytest.mark.parametrize("url", FORBIDDEN_CALLBACKS)
def test_a_forbidden_callback_is_refused_at_create(server: Server, api: str, url: str) -> None:
    create = CREATES[api]
    reply = post(server, create.path, json={**create.body, create.callback: url})
    refused(create, reply, create.callback)


NUMBERS = [("seed", 2**70), ("seed", -(2**70)), ("seed", 1e300), ("seed", "NaN"),
           ("seed", [1]), ("execution_expires_after", 10**30)]
# (OpenAI, Wiro and AI/ML have no execution_expires_after: AI/ML ignores unknown keys, as
# the vendor does, and the other two refuse them as unknown)
NUMBER_CASES = [(api, field, value) for api in CREATES for field, value in NUMBERS
                if field == "seed" or api in ("ark", "acedata", "native")]


@pytest.mark.parametrize(("api", "field", "value"), NUMBER_CASES)
def test_numbers_out_of_any_range_are_refused_naming_the_field(
        server: Server, api: str, field: str, value: Any) -> None:
    create = CREATES[api]
    reply = post(server, create.path, json={**create.body, field: value})
    refused(create, reply, field)


def test_list_offsets_past_a_64_bit_integer_are_a_400(server: Server) -> None:
    huge = 2**63
    native = httpx.get(f"{server.root}/framecast/v1/tasks", params={"offset": huge},
                       headers=HEADERS)
    assert native.status_code == 400 and "offset" in native.text, native.text
    assert httpx.get(f"{server.root}/framecast/v1/tasks", params={"offset": huge - 1},
                     headers=HEADERS).status_code == 200
    wiro = post(server, "/v1/Task/List", json={"start": str(huge)})
    assert wiro.status_code == 200 and wiro.json()["result"] is False
    assert "[start]" in wiro.text
    ark = httpx.get(f"{server.root}/api/v3/contents/generations/tasks",
                    params={"page_num": huge}, headers=HEADERS)
    assert ark.status_code == 400 and "page_num" in ark.text


def test_the_same_rules_hold_in_every_api(server: Server) -> None:
    # the two spellings of the camera flag disagreeing: AI/ML and AceData alike
    for create in (CREATES["aiml"], CREATES["acedata"]):
        reply = post(server, create.path, json={**create.body, "camerafixed": True,
                                                "camera_fixed": False})
        refused(create, reply, "camera_fixed")
    # a JSON list where Wiro takes a string
    wiro = CREATES["wiro"]
    refused(wiro, post(server, wiro.path, json={"prompt": ["a", "b"]}), "[prompt]")
    # a video with neither a prompt nor an image
    native = CREATES["native"]
    refused(native, post(server, native.path, json={"prompt": " ", "resolution": "480p"}),
            "prompt")
    # a known Wiro path asked with another method is a 405, not a 404
    put = httpx.put(f"{server.root}/v1/Task/Detail", headers=HEADERS, json={})
    assert put.status_code == 405 and put.headers["allow"] == "POST", put.text
    assert put.json()["result"] is False
    assert httpx.put(f"{server.root}/v1/Task/Nope", headers=HEADERS).status_code == 404


def test_wiro_takes_a_data_uri_as_the_image(server: Server) -> None:
    reply = post(server, "/v1/Run/ByteDance/image-to-video-seedance-v1",
                 json={"prompt": "steam rises", "inputImageUrl": PHOTO})
    assert reply.status_code == 200 and reply.json()["result"] is True, reply.text
    assert reply.json()["taskid"].startswith("cgt-")


READS = {   # one task, read through each API, by an id the client chose
    "ark": ("GET", "/api/v3/contents/generations/tasks/{id}", None),
    "openai": ("GET", "/v1/videos/{id}", None),
    "aiml": ("GET", "/v2/video/generations?generation_id={id}", None),
    "acedata": ("POST", "/seedance/tasks", {"id": "{id}", "action": "retrieve"}),
    "wiro": ("POST", "/v1/Task/Detail", {"taskid": "{id}"}),
    "native": ("GET", "/framecast/v1/tasks/{id}", None),
}


@pytest.mark.parametrize("api", list(READS))
def test_a_nul_character_in_an_id_finds_nothing(server: Server, api: str) -> None:
    """PostgreSQL refuses to compare a string holding NUL (a 500 once, found by fuzzing):
    such an id is simply not found."""
    method, path, body = READS[api]
    nul = "cgt-7\x00x"
    url = server.root + path.replace("{id}", "cgt-7%00x")
    if body is None:
        reply = httpx.request(method, url, headers=HEADERS, timeout=10)
    else:
        filled = {k: (v.replace("{id}", nul) if isinstance(v, str) else v)
                  for k, v in body.items()}
        reply = httpx.request(method, url, headers=HEADERS, json=filled, timeout=10)
    assert reply.status_code < 500, reply.text
    assert reply.status_code in (200, 400, 404), reply.text
    if api == "wiro":
        assert reply.json()["result"] is False


@pytest.mark.parametrize("api", list(CREATES))
def test_a_nul_character_in_a_prompt_is_refused(server: Server, api: str) -> None:
    create = CREATES[api]
    body = {**create.body, "prompt": "a\x00b"}
    if api in ("ark", "acedata"):
        body = {**create.body, "content": [{"type": "text", "text": "a\x00b"}]}
    reply = post(server, create.path, json=body)
    assert reply.status_code < 500, reply.text
    if create.wiro:
        assert reply.json()["result"] is False
    else:
        assert 400 <= reply.status_code < 500, reply.text
