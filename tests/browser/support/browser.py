"""Support for the browser tests: find a system Chromium, start and stop a real
``framecast serve`` process with the test models, and the constants the tests share.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
REQUIRE_ENV = "FRAMECAST_REQUIRE_BROWSER"

API_KEY = "fc-browser-static-key"
SLEEPS_MODEL = "fc-browser-sleeps"
INSTANT_MODEL = "fc-browser-instant"
SLEEPS_S = 10.0        # long enough to cancel a queued task behind it, short to wait out
MODELS_TOML = f"""
[[models]]
id = "{SLEEPS_MODEL}"
kind = "video"
engine = "sleeps"
default_resolution = "480p"
[models.options]
seconds = {SLEEPS_S}

[[models]]
id = "{INSTANT_MODEL}"
kind = "video"
engine = "instant"
default_resolution = "480p"
"""
START_TIMEOUT_S = 60.0
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# -- is there a browser? ----------------------------------------------------------------------


def find_chromium() -> str | None:
    """``/usr/bin/chromium``, else ``chromium`` or ``chromium-browser`` on PATH."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if find_chromium() is None:
        return "no Chromium found (/usr/bin/chromium, chromium or chromium-browser on PATH)"
    return None


def browser_required() -> bool:
    """CI sets FRAMECAST_REQUIRE_BROWSER=1: a missing browser is then a failure."""
    return os.environ.get(REQUIRE_ENV) == "1"


# -- the server -------------------------------------------------------------------------------


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
    log_path: Path

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>`` (the playground is at ``/``)."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_server(data_dir: Path) -> Server:
    """Start ``python -m framecast serve`` with one slot and wait for ``/healthz``."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    env.update({"FRAMECAST_API_KEY": API_KEY, "FRAMECAST_ALLOW_PRIVATE_URLS": "1",
                "PYTHONUNBUFFERED": "1"})
    config = data_dir / "framecast.toml"
    config.write_text(MODELS_TOML)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "framecast", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--data-dir", str(data_dir), "--slots", "1", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(process, port, log_path)
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
