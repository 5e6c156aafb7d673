"""The playground in a real browser against a real server: key, upload, a video with live
progress and a playable result, an image, delete, cancel of a queued task, phone layout.

Tests run in file order against one server with one engine slot: the cancel test (which
leaves a ``sleeps`` task holding the slot) comes last but one, the phone test needs no slot.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.support.browser import (
    API_KEY,
    INSTANT_MODEL,
    PHONE,
    SLEEPS_MODEL,
    SLEEPS_S,
    Server,
)

pytestmark = pytest.mark.timeout(120)

VIDEO_TIMEOUT_MS = 90_000
UI_TIMEOUT_MS = 15_000
EXPECTED_FRAMES = 49          # 2 s at 24 fps, plus the first frame
EXPECTED_FPS = 24


def expect(locator: Any) -> Any:
    """Playwright's ``expect`` (imported late: the module may be skipped without it)."""
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def open_playground(page: Any, server: Server) -> None:
    """Open ``/`` and enter the key; the page must accept it."""
    page.goto(server.root + "/")
    page.get_by_label("API key", exact=True).fill(API_KEY)
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("status").filter(has_text="Key accepted")).to_be_visible()


def results(page: Any) -> Any:
    """The Results region."""
    return page.get_by_role("region", name="Results")


def history(page: Any) -> Any:
    """The History region."""
    return page.get_by_role("region", name="History")


def newest_task_id(page: Any) -> str:
    """The id of the newest video card in Results (its label is ``Task <id>``)."""
    card = results(page).locator("article.video").first
    expect(card).to_be_visible()
    label = card.get_attribute("aria-label") or ""
    assert label.startswith("Task cgt-"), label
    return label.removeprefix("Task ")


def create_video(page: Any, *, model: str, prompt: str) -> str:
    """Fill the model and prompt of the video form, submit, return the new task id."""
    before = results(page).locator("article.video").count()
    page.get_by_label("Model", exact=True).fill(model)
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_role("button", name="Generate video").click()
    expect(results(page).locator("article.video")).to_have_count(before + 1)
    return newest_task_id(page)


def test_page_is_served_with_a_csp(server: Server) -> None:
    """``/`` is the playground, with a CSP; assets need no key; odd names are 404."""
    page = httpx.get(server.root + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert API_KEY not in page.text
    script = httpx.get(server.root + "/static/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    for name in ("..%2Fapp.py", ".hidden", "router.py", "nothing.js"):
        assert httpx.get(f"{server.root}/static/{name}").status_code == 404, name


def test_video_from_uploaded_first_frame(page: Any, server: Server, first_frame_png: Path,
                                         artifacts: Path) -> None:
    """Upload a first frame, generate a 2 s 480p video on the motion engine, watch the
    progress reach 100 %, and play the result: 49 frames at 24 fps ≈ 2.04 s."""
    open_playground(page, server)

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose first frame").click()
    chooser.value.set_files(str(first_frame_png))
    expect(page.get_by_role("img", name="First frame: lighthouse.png")).to_be_visible()
    expect(page.get_by_text("640×480")).to_be_visible()
    # the role rules: a first frame excludes references and allows a last frame
    expect(page.get_by_role("button", name="Choose reference images")).to_be_disabled()
    expect(page.get_by_role("button", name="Choose last frame")).to_be_enabled()

    page.get_by_label("Resolution").select_option("480p")
    page.get_by_label("Duration (s)").fill("2")
    page.get_by_label("Seed", exact=True).fill("7")
    page.get_by_label("Return last frame").check()
    task_id = create_video(page, model="seedance-1-0-pro-250528",
                           prompt="slow push in on a lighthouse")

    card = results(page).get_by_role("article", name=f"Task {task_id}")
    expect(card.locator(".status")).to_have_text("succeeded", timeout=VIDEO_TIMEOUT_MS)
    expect(card.get_by_label("Progress")).to_have_attribute("value", "100")
    expect(card.locator(".progress-text")).to_contain_text("100 %")
    expect(card.locator(".meta")).to_contain_text("engine motion")
    # what the engine did, from the X-Framecast-Engine-Info header of the Ark GET
    info = card.get_by_label("What the engine did")
    expect(info).to_contain_text("mode")
    expect(info).to_contain_text("push_in")

    video = card.locator("video")
    expect(video).to_be_visible()
    duration = video.evaluate("""v => new Promise((resolve, reject) => {
        const done = () => resolve(v.duration);
        if (v.readyState >= 1) return done();
        v.addEventListener('loadedmetadata', done, {once: true});
        v.addEventListener('error', () => reject(new Error('video error ' + v.error?.code)));
    })""")
    assert duration == pytest.approx(EXPECTED_FRAMES / EXPECTED_FPS, abs=0.05)
    size = video.evaluate("v => [v.videoWidth, v.videoHeight]")
    assert size == [736, 544]        # 480p, adaptive → 4:3 (Seedance 1.0 table)
    last_frame = card.get_by_role("img", name=f"Last frame of task {task_id}")
    expect(last_frame).to_be_visible()
    expect(card.get_by_role("link", name="Download last frame")).to_be_visible()

    # the same request as code, with the key as a variable
    card.get_by_text("Same request: curl and Python").click()
    code = card.locator("pre.code")
    expect(code).to_contain_text("$ARK_API_KEY")
    expect(code).to_contain_text('"duration": 2')
    expect(code).to_contain_text("base64 not shown")
    card.get_by_role("button", name="Python").click()
    expect(code).to_contain_text("client.content_generation.tasks.create(")
    expect(code).to_contain_text('resolution="480p"')
    assert API_KEY not in code.inner_text()

    tile = history(page).get_by_role("article", name=f"Task {task_id}")
    expect(tile.locator(".status")).to_have_text("succeeded")
    expect(tile).to_contain_text("engine motion")
    expect(tile).to_contain_text("seed 7")
    expect(tile).to_contain_text("2 s @ 24 fps")
    expect(tile).to_contain_text("736×544 px")
    expect(tile.get_by_role("link", name=f"Download task {task_id}")).to_have_attribute(
        "href", re.compile(r"/files/.+video\.mp4"))
    page.screenshot(path=str(artifacts / "playground-desktop.png"), full_page=True)


def sse(event_id: int, event: str, data: dict[str, Any]) -> str:
    """One event of ``GET /framecast/v1/tasks/{id}/events`` as the server writes it."""
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


def update(task_id: str, status: str, progress: float, step: int, eta: float | None,
           **extra: Any) -> dict[str, Any]:
    """The JSON of a status/progress/done event."""
    return {"task_id": task_id, "status": status, "progress": progress, "step": step,
            "total_steps": 24, "eta_s": eta, "outputs": [], "error": None, **extra}


def wait_for(page: Any, found: Any, timeout_ms: int = UI_TIMEOUT_MS) -> None:
    """Let the page run until ``found()`` is true (route handlers run meanwhile)."""
    for _ in range(timeout_ms // 50):
        if found():
            return
        page.wait_for_timeout(50)
    raise AssertionError("timed out waiting for the page")


def test_sse_parser_handles_any_chunking(page: Any, server: Server) -> None:
    """The stream parser gives the same events however the bytes are split (CR, LF, CRLF,
    comments, multi-line data, an id that carries over)."""
    page.goto(server.root + "/")
    runs = page.evaluate("""async () => {
        const { SSEParser } = await import('/static/events.js');
        const text = ': keep-alive\\r\\nid: 1\\r\\nevent: progress\\r\\n' +
            'data: {"progress": 5}\\r\\n\\r\\n' +
            'id: 2\\nevent: done\\ndata: {"status":\\ndata: "succeeded"}\\n\\n' +
            'retry: 1500\\rdata:no space\\r\\r' +
            'id: 9\\nevent: done\\ndata: {"cut": "off"}\\n';   // no blank line: dropped
        const runs = [];
        for (const size of [1, 2, 3, 5, 7, text.length]) {
            const got = [];
            const parser = new SSEParser((e) => got.push([e.type, e.data, e.id]));
            for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
            parser.end();
            runs.push({got, retry: parser.retryMs, resume: parser.lastEventId});
        }
        return runs;
    }""")
    expected = [["progress", '{"progress": 5}', "1"],
                ["done", '{"status":\n"succeeded"}', "2"],
                ["message", "no space", "2"]]
    for run in runs:
        assert run == {"got": expected, "retry": 1500, "resume": "2"}


def test_live_progress_over_sse_with_reconnect(page: Any, server: Server) -> None:
    """Progress, step and ETA come from the event stream; a dropped stream reconnects with
    ``Last-Event-ID``; the ``done`` event shows the video. (The stream is played by the test,
    so the client is checked against the contract whatever the server implements.)"""
    pending: list[Any] = []
    last_ids: list[str | None] = []

    def hold(route: Any) -> None:
        last_ids.append(route.request.headers.get("last-event-id"))
        auth = route.request.headers.get("authorization")
        assert auth == f"Bearer {API_KEY}", auth
        pending.append(route)

    page.route(re.compile(r"/framecast/v1/tasks/[^/]+/events$"), hold)
    open_playground(page, server)
    task_id = create_video(page, model=INSTANT_MODEL, prompt="streamed progress")
    card = results(page).get_by_role("article", name=f"Task {task_id}")

    wait_for(page, lambda: pending)
    pending.pop().fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=(
        sse(1, "status", update(task_id, "running", 0, 0, None))
        + sse(2, "progress", update(task_id, "running", 50, 12, 3.4))))   # then it drops
    expect(card.locator(".status")).to_have_text("running")
    expect(card.locator(".progress-text")).to_have_text("50 % · step 12 of 24 · ETA 3 s")
    expect(card.get_by_label("Progress")).to_have_attribute("value", "50")

    wait_for(page, lambda: pending)
    assert last_ids == [None, "2"]
    pending.pop().fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=sse(
        3, "done", update(task_id, "succeeded", 100, 24, 0)))
    expect(card.locator(".status")).to_have_text("succeeded")
    expect(card.locator(".progress-text")).to_contain_text("100 % · step 24 of 24")
    expect(card.locator("video")).to_be_visible()
    expect(card.locator(".mode")).to_have_text("")


def test_polling_when_the_server_has_no_event_stream(page: Any, server: Server) -> None:
    """A 404 from the events endpoint makes the page poll the Ark task once a second."""
    page.route(re.compile(r"/framecast/v1/tasks/[^/]+/events$"), lambda route: route.fulfill(
        status=404, json={"detail": "Not Found"}))
    open_playground(page, server)
    task_id = create_video(page, model=INSTANT_MODEL, prompt="polled")
    card = results(page).get_by_role("article", name=f"Task {task_id}")
    expect(card.locator(".status")).to_have_text("succeeded", timeout=UI_TIMEOUT_MS)
    expect(card.get_by_label("Progress")).to_have_attribute("value", "100")
    expect(card.locator("video")).to_be_visible()


def test_image_generation(page: Any, server: Server, artifacts: Path) -> None:
    """A Seedream image through the synchronous endpoint, with a spinner while it runs."""
    open_playground(page, server)
    page.get_by_role("tab", name="Image").click()
    page.evaluate("""() => {
        window.sawSpinner = false;
        new MutationObserver(() => {
            if (document.querySelector('.spinner')) window.sawSpinner = true;
        }).observe(document.body, {childList: true, subtree: true});
    }""")
    page.get_by_label("Image prompt").fill("a red bicycle against a white wall")
    page.get_by_label("Size").fill("1024x768")
    page.get_by_role("button", name="Generate image").click()

    card = results(page).locator("article.image").first
    image = card.get_by_role("img", name=re.compile("Generated image"))
    expect(image).to_be_visible(timeout=VIDEO_TIMEOUT_MS)
    assert page.evaluate("window.sawSpinner")
    expect(card.locator(".status")).to_have_text("succeeded")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1024, 768]
    card.get_by_text("Same request: curl and Python").click()
    card.get_by_role("button", name="Python").click()
    expect(card.locator("pre.code")).to_contain_text("client.images.generate(")
    page.screenshot(path=str(artifacts / "playground-image.png"), full_page=True)


def test_role_rules_and_escaping(page: Any, server: Server, first_frame_png: Path) -> None:
    """The form enforces the image roles before sending, and error text from the server is
    shown as text, never parsed as HTML."""
    open_playground(page, server)
    page.get_by_label("Duration (s)").fill("2")
    expect(page.get_by_role("button", name="Choose last frame")).to_be_disabled()
    picture = "data:image/png;base64," + base64.b64encode(first_frame_png.read_bytes()).decode()
    page.get_by_label("Reference image URL", exact=True).fill(picture)
    page.get_by_role("button", name="Add reference image URL").click()
    expect(page.get_by_role("img", name="Reference image 1: data:image/png")).to_be_visible()
    expect(page.get_by_role("button", name="Choose first frame")).to_be_disabled()
    expect(page.locator("#video-resolution option[value='1080p']")).to_be_disabled()
    page.get_by_role("button", name="Remove reference image 1").click()
    expect(page.get_by_role("button", name="Choose first frame")).to_be_enabled()

    # where the server lists its models, the form follows the chosen model's limits
    listed = httpx.get(f"{server.root}/framecast/v1/models",
                       headers={"Authorization": f"Bearer {API_KEY}"})
    if listed.status_code == 200:
        page.get_by_label("Model", exact=True).fill("dreamina-seedance-2-0-fast-260128")
        expect(page.locator("#video-resolution option[value='1080p']")).to_be_disabled()
        expect(page.locator("#video-model-hint")).to_contain_text("engine motion")
        page.get_by_label("Model", exact=True).fill("seedance-1-0-pro-250528")
        expect(page.locator("#video-resolution option[value='1080p']")).to_be_enabled()
        expect(page.locator("#video-resolution option").first).to_have_text(
            "Model default (1080p)")

    page.get_by_role("radio", name="Frames").check()
    page.get_by_label("Frame count").fill("30")         # not 25 + 4n
    page.get_by_label("Prompt", exact=True).fill("a prompt")
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator("#video-error")).to_contain_text("25 + 4n")
    page.get_by_label("Frame count").fill("29")

    hostile = '<img src=x id=injected onerror="window.pwned=1">'
    page.get_by_label("Model", exact=True).fill(hostile)
    page.get_by_role("button", name="Generate video").click()
    expect(page.locator("#video-error")).to_contain_text("<img src=x")   # the 404, as text
    expect(page.locator("#injected")).to_have_count(0)
    assert page.evaluate("window.pwned") is None


def test_delete_finished_task(page: Any, server: Server) -> None:
    """Delete a succeeded task from the history: it is gone."""
    open_playground(page, server)
    task_id = create_video(page, model=INSTANT_MODEL, prompt="a task to delete")
    tile = history(page).get_by_role("article", name=f"Task {task_id}")
    expect(tile.locator(".status")).to_have_text("succeeded", timeout=VIDEO_TIMEOUT_MS)
    page.once("dialog", lambda dialog: dialog.accept())
    tile.get_by_role("button", name=f"Delete task {task_id}").click()
    expect(tile).to_have_count(0)
    expect(history(page).get_by_role("status")).to_contain_text(f"Deleted {task_id}")


def test_cancel_queued_task(page: Any, server: Server, artifacts: Path) -> None:
    """With the only slot held by a long task, a second task stays queued; Cancel in the
    history cancels it."""
    open_playground(page, server)
    holder = create_video(page, model=SLEEPS_MODEL, prompt="hold the slot")
    expect(results(page).get_by_role("article", name=f"Task {holder}").locator(".status")) \
        .to_have_text("running", timeout=UI_TIMEOUT_MS)
    queued = create_video(page, model=SLEEPS_MODEL, prompt="wait in the queue")

    tile = history(page).get_by_role("article", name=f"Task {queued}")
    expect(tile.locator(".status")).to_have_text("queued")
    tile.get_by_role("button", name=f"Cancel task {queued}").click()
    expect(tile.locator(".status")).to_have_text("cancelled")
    card = results(page).get_by_role("article", name=f"Task {queued}")
    expect(card.locator(".status")).to_have_text("cancelled", timeout=UI_TIMEOUT_MS)
    page.wait_for_function("""() => [...document.querySelectorAll('#history-list video')]
        .every((v) => v.readyState >= 2)""")   # every preview shows a frame
    history(page).screenshot(path=str(artifacts / "playground-history.png"))
    holder_card = results(page).get_by_role("article", name=f"Task {holder}")
    expect(holder_card.locator(".progress-text")).to_contain_text("ETA")
    holder_card.screenshot(path=str(artifacts / "playground-progress.png"))
    # the holder runs on: kill it where the server has the kill endpoint, else let it finish
    # (either way the slot is free for the next test and the server stops quickly)
    holder_tile = history(page).get_by_role("article", name=f"Task {holder}")
    expect(holder_tile.locator(".status")).to_have_text("running")
    kill = holder_tile.get_by_role("button", name=f"Kill task {holder}")
    if kill.count():
        kill.click()
        expect(holder_tile.locator(".status")).to_have_text("cancelled", timeout=UI_TIMEOUT_MS)
    else:
        expect(holder_tile.locator(".status")).to_have_text(
            "succeeded", timeout=int(SLEEPS_S * 1000) + UI_TIMEOUT_MS)


def test_phone_layout(browser: Any, server: Server, artifacts: Path) -> None:
    """At 390×844 nothing is wider than the screen; the forms and history are reachable."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        open_playground(page, server)
        expect(page.get_by_role("button", name="Generate video")).to_be_visible()
        page.screenshot(path=str(artifacts / "playground-phone-form.png"))
        # open a finished task from the history: its card follows it and plays it
        succeeded = history(page).get_by_role("article").filter(
            has=page.locator('.status[data-status="succeeded"]'))
        if not succeeded.count():        # run alone: make one
            page.get_by_label("Model", exact=True).fill(INSTANT_MODEL)
            page.get_by_label("Prompt", exact=True).fill("a finished task")
            page.get_by_role("button", name="Generate video").click()
            page.get_by_role("button", name=re.compile("^Dismiss Task")).click()
            expect(succeeded.first).to_be_visible(timeout=UI_TIMEOUT_MS)
        motion = succeeded.filter(has_text="engine motion")   # the nicer picture, if any
        tile = (motion if motion.count() else succeeded).first
        task_id = (tile.get_attribute("aria-label") or "").removeprefix("Task ")
        tile.get_by_role("button", name=f"Open task {task_id}").click()
        card = results(page).get_by_role("article", name=f"Task {task_id}")
        expect(card.locator(".status")).to_have_text("succeeded", timeout=UI_TIMEOUT_MS)
        expect(card.locator("video")).to_be_visible()
        card.scroll_into_view_if_needed()
        page.wait_for_timeout(300)   # the smooth scroll
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= PHONE["width"], f"the page is {overflow} px wide on a phone"
        page.screenshot(path=str(artifacts / "playground-phone-result.png"))
        page.screenshot(path=str(artifacts / "playground-phone.png"), full_page=True)
    finally:
        context.close()
