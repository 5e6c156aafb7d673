"""Support for the browser tests: find a system Chromium, start and stop a real
``framecast serve`` process with the test models (through the acceptance tests' support),
and the constants the tests share.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.acceptance.support import server as acceptance
from tests.acceptance.support.server import Server

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


def start_server(data_dir: Path) -> Server:
    """Start ``python -m framecast serve`` with one slot and the browser models, and wait for
    ``/healthz`` (the acceptance tests' starter, with this suite's key)."""
    return acceptance.start_server(data_dir, slots=1, models_toml=MODELS_TOML,
                                   extra_env={"FRAMECAST_API_KEY": API_KEY})
