"""Support for the Ark acceptance tests: start and stop a real ``framecast serve`` process,
a loopback image server, polling tasks through the official SDKs, and reading MP4s back.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from tests.clips import camera_move, tone

API_KEY = "fc-acceptance-static-key"
VIDEO_MODEL = "doubao-seedance-1-0-pro-250528"          # Volcengine spelling, 1.0 sizes
VIDEO_MODEL_BP = "seedance-1-0-pro-250528"              # BytePlus spelling, same model
VIDEO_MODEL_15 = "seedance-1-5-pro-251215"              # 1.5 sizes
IMAGE_MODEL = "doubao-seedream-3-0-t2i-250415"
SLEEPS_MODEL = "fc-test-sleeps"          # engine `sleeps`: holds a slot for SLEEPS_S seconds
FAILS_MODEL = "fc-test-fails"            # engine support.ark_engines:FailsEngine: fails every task
FAILS_IMAGE_MODEL = "fc-test-fails-image"
TEXT_ONLY_IMAGE_MODEL = "fc-test-t2i-only"   # an image engine that takes no input images
SLOW_SET_MODEL = "fc-test-slow-set"      # the test card, a set's images 1 s apart
SLEEPS_S = 6.0
GUARDED_IMAGE_WAIT_S = 1.0               # the second server's image wait (it runs no worker)
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]   # the server imports test engines as tests.acceptance.support.*
TEST_MODELS_TOML = f"""
[[models]]
id = "{SLEEPS_MODEL}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = {SLEEPS_S}

[[models]]
id = "{FAILS_MODEL}"
kind = "video"
engine = "tests.acceptance.support.ark_engines:FailsEngine"
default_resolution = "480p"

[[models]]
id = "{FAILS_IMAGE_MODEL}"
kind = "image"
engine = "tests.acceptance.support.ark_engines:FailsEngine"

[[models]]
id = "{TEXT_ONLY_IMAGE_MODEL}"
kind = "image"
engine = "tests.acceptance.support.ark_engines:TextOnlyImageEngine"
default_size = "512x512"

[[models]]
id = "{SLOW_SET_MODEL}"
kind = "image"
engine = "tests.acceptance.support.ark_engines:SlowSetEngine"
image_family = "seedream-4.0"
"""
START_TIMEOUT_S = 60.0
TASK_TIMEOUT_S = 180.0
POLL_S = 0.2
TERMINAL = ("succeeded", "failed", "cancelled", "expired")


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running ``framecast serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    env: dict[str, str]

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The Ark base URL the SDKs take."""
        return f"{self.root}/api/v3"

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def create_key(self, name: str) -> str:
        """``framecast keys create``: the new key is the last line of stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "framecast", "keys", "create", "--name", name,
             "--data-dir", str(self.data_dir)],
            env=self.env, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip().splitlines()[-1].strip()


def start_server(data_dir: Path, *, slots: int = 2, allow_private: bool = True,
                 extra_env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None,
                 models_toml: str = TEST_MODELS_TOML,
                 log_path: Path | None = None) -> Server:
    """Start ``python -m framecast serve`` and wait until ``/healthz`` answers 200.

    ``models_toml`` is written to the data directory as the server's ``framecast.toml``; the
    log goes to ``log_path`` (default ``server.log`` in the data directory)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    env.update({"FRAMECAST_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH"))
                                              if p)})
    if allow_private:
        env["FRAMECAST_ALLOW_PRIVATE_URLS"] = "1"
    env.update(extra_env or {})
    config = data_dir / "framecast.toml"
    config.write_text(models_toml)
    log_path = log_path or data_dir / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "framecast", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--slots", str(slots), "--config", str(config),
         *(extra_args or [])],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(process, port, data_dir, log_path, env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"framecast serve exited with {process.returncode}:\n"
                               f"{server.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.root}/healthz", timeout=1.0).status_code == 200:
                return server
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"framecast serve did not answer /healthz within {START_TIMEOUT_S} s:\n"
                       f"{server.log_tail()}")


@contextlib.contextmanager
def server_on(database: str, data_dir: Path, **kwargs: Any) -> Iterator[Server]:
    """``start_server`` on ``database`` ("sqlite", the data dir's, or "postgres", a fresh
    schema), stopped afterwards; ``kwargs`` as ``start_server`` takes them."""
    from tests.conftest import postgres_schema

    with contextlib.ExitStack() as stack:
        env = dict(kwargs.pop("extra_env", None) or {})
        if database == "postgres":
            env["FRAMECAST_DATABASE_URL"] = stack.enter_context(postgres_schema())
        server = start_server(data_dir, extra_env=env, **kwargs)
        stack.callback(stop_server, server)
        yield server


def stop_server(server: Server) -> None:
    """SIGTERM the server we started (then SIGKILL its process group if it lingers)."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, 9)
            server.process.wait(timeout=5)


# -- the loopback image server ------------------------------------------------------------


def make_image(width: int, height: int, seed: int, fmt: str = "PNG") -> bytes:
    """A textured test picture (gradient, grid and shapes, so optical flow has edges)."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(0, height, 4):
        shade = int(255 * y / height)
        draw.rectangle([0, y, width, y + 4], fill=((shade + seed * 40) % 256, 90, 255 - shade))
    for x in range(0, width, 40):
        draw.line([x, 0, x, height], fill=(255, 255, 255), width=2)
    draw.ellipse([width // 4, height // 4, width // 2, height // 2],
                 fill=(250, 200, seed * 50 % 256))
    draw.rectangle([width // 2, height // 2, width * 3 // 4, height * 3 // 4], fill=(20, 20, 20))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def assert_clean_log(server: Server) -> None:
    """No request may have ended in a traceback (a hidden 500) while the server ran."""
    text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
    assert "Traceback" not in text, f"the server logged a traceback:\n{server.log_tail(80)}"


@dataclass
class ImageHost:
    """The loopback image server: ``url(name)`` of what it serves, and the raw bytes."""

    port: int
    files: dict[str, tuple[bytes, str]]

    def url(self, name: str) -> str:
        """``http://127.0.0.1:<port>/<name>``."""
        return f"http://127.0.0.1:{self.port}/{name}"

    def data_uri(self, name: str) -> str:
        """The file as a ``data:<type>;base64,`` URI."""
        data, ctype = self.files[name]
        return f"data:{ctype};base64,{base64.b64encode(data).decode()}"


def _bomb_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (6_600, 6_600)).save(buffer, format="PNG")
    return buffer.getvalue()


def pictures() -> dict[str, tuple[bytes, str]]:
    """What the image server serves: pictures ≥ 300 px a side, and a few bad files."""
    files: dict[str, tuple[bytes, str]] = {
        "first.png": (make_image(640, 480, 1), "image/png"),            # 4:3
        "last.png": (make_image(640, 480, 2), "image/png"),
        "wide.jpg": (make_image(960, 540, 3, "JPEG"), "image/jpeg"),    # 16:9
        "tall.jpg": (make_image(360, 640, 4, "JPEG"), "image/jpeg"),    # 9:16
        "tiny.png": (make_image(120, 120, 5), "image/png"),             # under the 300 px minimum
        "panorama.png": (make_image(1600, 300, 7), "image/png"),        # wider than 2.5:1
        "notes.txt": (b"this is not an image\n" * 20, "text/plain"),
        "fake.png": (b"<html>not really a png</html>", "image/png"),
        # a sound header over pixels that stop short: accepted at create, fails in the worker
        "truncated.jpg": (make_image(640, 480, 6, "JPEG")[:-2000], "image/jpeg"),
        "bomb.png": (_bomb_png(), "image/png"),   # 43.6 MP in a few kB: refused from its header
    }
    for n in range(1, 6):
        files[f"ref{n}.jpg"] = (make_image(512, 512, 10 + n, "JPEG"), "image/jpeg")
    # Seedance 2.x reference clips: a pan over a photograph, a tone, and clips at the edges
    files["clip.mp4"] = (make_clip(3.0), "video/mp4")
    files["clip8s.mp4"] = (make_clip(8.0, 64, 64), "video/mp4")
    files["clip1s.mp4"] = (make_clip(1.0), "video/mp4")
    files["tone.wav"] = (tone(3.0), "audio/wav")
    return files


def make_clip(seconds: float, width: int = 320, height: int = 240) -> bytes:
    """An H.264 MP4 at 24 fps panning across scikit-image's ``coffee``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return camera_move(Path(tmp) / "clip.mp4", seconds, width, height).read_bytes()


@contextlib.contextmanager
def serve_files(files: dict[str, tuple[bytes, str]]) -> Iterator[ImageHost]:
    """Serve ``files`` (name → (bytes, content type)) over HTTP on 127.0.0.1 in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            entry = files.get(self.path.lstrip("/").split("?")[0])
            if entry is None:
                self.send_error(404)
                return
            body, ctype = entry
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield ImageHost(httpd.server_address[1], files)
    finally:
        httpd.shutdown()
        httpd.server_close()




# -- helpers --------------------------------------------------------------------------------


def wait_task(client: Any, task_id: str, *, until: tuple[str, ...] = TERMINAL,
              timeout_s: float = TASK_TIMEOUT_S) -> Any:
    """Poll ``tasks.get`` until the status is one of ``until``; returns the task."""
    deadline = time.monotonic() + timeout_s
    while True:
        task = client.content_generation.tasks.get(task_id=task_id)
        if task.status in until:
            return task
        if task.status in TERMINAL or time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} is {task.status} (waiting for {until}): "
                                 f"{task.error}")
        time.sleep(POLL_S)


def wait_all(client: Any, task_ids: list[str], timeout_s: float = TASK_TIMEOUT_S) -> list[Any]:
    """Wait for every task (they run in parallel on the server)."""
    return [wait_task(client, t, timeout_s=timeout_s) for t in task_ids]


def download(url: str) -> bytes:
    """GET a signed output URL."""
    response = httpx.get(url, timeout=60.0)
    assert response.status_code == 200, f"{url} → {response.status_code} {response.text[:200]}"
    return response.content


@dataclass
class VideoInfo:
    """What an MP4 holds, read back with PyAV."""

    width: int
    height: int
    frames: int
    fps: float
    codec: str
    has_audio: bool = False


def probe_mp4(data: bytes) -> VideoInfo:
    """Size, frame count (packets of the video stream), frame rate and codec of an MP4, and
    whether it has a sound track."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        frames = sum(1 for p in container.demux(stream) if p.size)
        return VideoInfo(stream.codec_context.width, stream.codec_context.height, frames,
                         float(stream.average_rate or 0), stream.codec_context.name, has_audio)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, checking it is one."""
    return image_size(data, "PNG")


def image_size(data: bytes, fmt: str) -> tuple[int, int]:
    """(width, height) of an image file, checking it is a ``fmt`` (``PNG``, ``JPEG``)."""
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == fmt
        return img.size
