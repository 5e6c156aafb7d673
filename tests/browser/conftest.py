"""Browser fixtures: a real ``framecast serve`` process, a Chromium driven by Playwright, and
a page of the playground with the key entered.

Playwright drives a Chromium installed by the system (``apt-get install chromium``); it never
downloads browsers. Without Playwright or a Chromium the whole module is skipped, unless
``FRAMECAST_REQUIRE_BROWSER=1`` (CI), which makes that a failure.

The server runs with one engine slot, ``FRAMECAST_ALLOW_PRIVATE_URLS=1`` and a static key,
and a ``framecast.toml`` adding two test models: ``fc-browser-sleeps`` (engine ``sleeps``:
holds the slot for ``SLEEPS_S`` seconds, so a second task stays queued) and
``fc-browser-instant`` (engine ``instant``: finishes at once). Screenshots go to
``test-artifacts/`` at the repository root (gitignored).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.acceptance.support.server import Server, stop_server
from tests.browser.support.browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    DESKTOP,
    HERE,
    REQUIRE_ENV,
    browser_required,
    find_chromium,
    missing_browser,
    start_server,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every browser test when there is no browser (and none is required)."""
    reason = missing_browser()
    if reason is None or browser_required():
        return
    skip = pytest.mark.skip(reason=f"browser tests skipped: {reason}")
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The Framecast server the browser talks to."""
    running = start_server(tmp_path_factory.mktemp("framecast-browser"))
    yield running
    stop_server(running)
    log = running.log_path.read_text(errors="replace")
    assert "Traceback" not in log, f"the server logged a traceback:\n{running.log_tail(80)}"


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless system Chromium driven by Playwright. Module-scoped on purpose: Playwright's
    sync API keeps an asyncio loop marked running while it is open, which would break every
    later test that calls ``asyncio.run``."""
    reason = missing_browser()
    if reason is not None:
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")   # only reached when required
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=find_chromium(),
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh desktop-size page of the playground; JS errors fail the test."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and "Failed to load resource" not in msg.text else None)
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` at the repository root (screenshots)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def first_frame_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 640×480 textured PNG (≥ 300 px a side, 4:3) to upload as a first frame."""
    img = Image.new("RGB", (640, 480))
    draw = ImageDraw.Draw(img)
    for y in range(0, 480, 4):
        draw.rectangle([0, y, 640, y + 4], fill=(40 + y // 3, 90, 255 - y // 2))
    for x in range(0, 640, 40):
        draw.line([x, 0, x, 480], fill=(255, 255, 255), width=2)
    draw.ellipse([160, 120, 320, 240], fill=(250, 200, 60))
    draw.rectangle([320, 240, 480, 360], fill=(20, 20, 20))
    path = tmp_path_factory.mktemp("inputs") / "lighthouse.png"
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path
