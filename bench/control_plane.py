"""Benchmark: the control plane (HTTP API + task store + claim loop) of a live server.

The bench starts ``framecast serve`` itself, as a subprocess on 127.0.0.1, with a
``framecast.toml`` that maps the Seedance video model to the bench-only ``instant`` engine,
so that no engine work is measured. It authenticates with a stored API key (made with
``framecast keys create``), as a real deployment does. Then ``--clients`` concurrent asyncio
+ httpx clients run these phases, each bounded by a request count and a duration:

* ``healthz``: ``GET /healthz`` in a closed loop, the floor of the HTTP stack;
* ``create``: ``POST /api/v3/contents/generations/tasks`` in a closed loop (text-only prompt
  with ``--rs 480p --frames 29``: nothing to fetch), the enqueue capacity;
* ``get``: ``GET /api/v3/contents/generations/tasks/{id}`` in a closed loop over tasks that
  exist;
* ``mixed``: each client creates a task, then polls it every ``--poll-interval`` seconds
  until it is terminal, and again; the shape of real SDK traffic. The clients start spread
  evenly over one poll interval, as independent users are, rather than all at once;
* ``i2v``: one client, alternately a text-only create and a create carrying a 12 MP JPEG
  photograph as a ``data:`` URI (``bench/_photos.py``: scikit-image's sample photos in a
  mosaic), the request every image-to-video client sends, each once the previous task is
  done; reports the photo create's median as a multiple of the text create's;
* ``quiet`` then ``shared``: ``--shared-clients`` clients poll GET in a closed loop, first
  alone, then beside ``--photo-clients`` clients creating photo tasks back to back, with
  serve's worker process stopped (SIGSTOP), as in a fleet whose workers decode the photos on
  other machines: the API's own cost; reports the GET p99 beside the photo creators as a
  multiple of the quiet one;
* ``slow-url``: as ``shared``, but each create names its photo by URL, served from a local
  HTTP server that sends the 2.8 MB in about a second (a remote host on a slow link), so the
  API fetches it during the create;
* ``shared+worker``: as ``shared`` with serve's worker running, decoding every photo on the
  same two cores as the API and the load generator (informational: the whole machine);
* ``store``: ``TaskQueue.enqueue`` called directly from ``--store-threads`` threads of the
  bench process on the server's database (no HTTP), the ceiling the store itself sets;
* ``drain``: ``TaskQueue.claim`` then ``finish`` from two threads over the store phase's
  backlog of queued tasks (no HTTP, no engine), the cost of a claim with a long queue.

For each phase it reports p50 and p99 latency in ms, requests/s, (create, mixed, store)
tasks created per second, (create, mixed, drain) tasks completed per second, and the CPU the
``serve`` processes (its worker and API processes) spent per request (from ``/proc``;
engine children and a separate worker excluded), which other load on the machine disturbs
far less than latency. Latencies are
also given as ratios to the ``healthz`` floor measured in the same run. It runs against
SQLite (a fresh data directory) and, when ``--pg URL`` or ``FRAMECAST_TEST_POSTGRES_URL`` is
given, against PostgreSQL in a fresh schema that is dropped afterwards. ``--single-process``
runs serve's worker inside its API process (``serve --single-process``), and
``--separate-worker`` runs the slots in a ``framecast worker`` process instead of ``serve``.
It prints a markdown table and the exact command; results are in docs/benchmarks.md.

Loopback only; the load generator shares the machine's cores with the server, so numbers
are a lower bound on what the server alone could do. Run from the repository root:

    .venv/bin/python bench/control_plane.py
    .venv/bin/python bench/control_plane.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import json
import math
import os
import platform
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from _photos import photo_jpeg
from _rawhttp import RawClient, RawHTTPError

VIDEO_MODEL = "doubao-seedance-1-0-pro-250528"
PROMPT = "a paper boat on a pond --rs 480p --frames 29"
TASKS_PATH = "/api/v3/contents/generations/tasks"
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})
START_TIMEOUT_S = 60.0
POSTGRES_ENV = "FRAMECAST_TEST_POSTGRES_URL"
MODELS_TOML = f"""
[[models]]
id = "bench-instant"
kind = "video"
engine = "instant"
aliases = ["{VIDEO_MODEL}"]
default_resolution = "480p"
"""

BENCH_MAX_QUEUED_PER_KEY = 10_000_000
GOAL_PHOTO_CREATE_RATIO = 10.0    # one client: photo create median / text create median
GOAL_SHARED_GET_RATIO = 2.0       # GET p99 beside photo creators / quiet GET p99
PHOTO_SIZE = (4000, 3000)         # 12 MP, as phone and camera photos are
GOAL_CREATE_P99_MS = 50.0
GOAL_GET_P99_MS = 20.0
GOAL_PG_ENQUEUE_PER_S = 500.0


# -- measurements ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, nearest-rank; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass
class Samples:
    """Latencies (seconds) of one kind of request, and how many failed."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def p(self, q: float) -> float:
        """The ``q``-quantile in milliseconds."""
        return percentile(sorted(self.latencies), q) * 1000.0


@dataclass
class PhaseResult:
    """What one phase measured."""

    name: str
    seconds: float
    samples: dict[str, Samples]
    created: int = 0
    completed: int = 0
    completed_seconds: float = 0.0
    server_cpu_s: float | None = None   # CPU the server process used during the phase

    def rate(self, kind: str) -> float:
        """Requests of ``kind`` per second over the phase."""
        return len(self.samples[kind].latencies) / self.seconds if self.seconds else 0.0

    def server_cpu_ms_per_request(self) -> float | None:
        """Server CPU per HTTP request of the phase (its engine children not included)."""
        requests = sum(len(s.latencies) for s in self.samples.values())
        if self.server_cpu_s is None or not requests:
            return None
        return self.server_cpu_s * 1000.0 / requests


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; else None).
    Less sensitive than latency to other load on the machine, so it backs comparisons."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds of ``framecast serve`` and its API processes (``--api-processes``): its
    children in its own session. Engine children start sessions of their own, so they are
    left out, as a separate worker is."""
    own = process_cpu_s(pid)
    if own is None:
        return None
    try:
        session = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3]
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                    for c in (t / "children").read_text().split()]
    except (OSError, IndexError, ValueError):
        return own
    for child in children:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[3] == session:
            own += process_cpu_s(child) or 0.0
    return own


async def with_server_cpu(pid: int, phase: Awaitable[PhaseResult]) -> PhaseResult:
    """Run ``phase`` and record how much CPU the server used meanwhile."""
    before = server_cpu_s(pid)
    result = await phase
    after = server_cpu_s(pid)
    if before is not None and after is not None:
        result.server_cpu_s = after - before
    return result


async def timed(samples: Samples, call: Awaitable[Any], ok: int = 200) -> Any:
    """Await one request, record its latency (or an error); the response when it is ``ok``."""
    started = time.perf_counter()
    try:
        response = await call
    except (httpx.HTTPError, RawHTTPError):
        samples.errors += 1
        return None
    samples.latencies.append(time.perf_counter() - started)
    if response.status_code != ok:
        samples.errors += 1
        return None
    return response


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A ``framecast serve`` subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    root: str
    api_key: str
    log_path: Path
    database_url: str


def server_env() -> dict[str, str]:
    """The environment without any ``FRAMECAST_*`` of the caller, and a per-key queue limit
    no create phase reaches (the default 10,000 would refuse a long phase with 429s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["FRAMECAST_MAX_QUEUED_PER_KEY"] = str(BENCH_MAX_QUEUED_PER_KEY)
    env["FRAMECAST_ALLOW_PRIVATE_URLS"] = "1"     # the slow-url phase's server is on loopback
    return env


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process we started (it drains), SIGKILL its group if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


@contextlib.contextmanager
def running_server(data_dir: Path, *, slots: int, database_url: str | None,
                   separate_worker: bool = False, api_processes: int = 1,
                   single_process: bool = False) -> Iterator[Server]:
    """Make an API key, start ``framecast serve`` and wait for ``/healthz``; stop it after.

    By default serve runs its worker in the process it started as and the API in a child.
    With ``single_process`` both share one process (``serve --single-process``); with
    ``separate_worker`` the API runs ``--no-worker`` and a ``framecast worker`` process
    runs the slots."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "framecast.toml"
    config.write_text(MODELS_TOML)
    db_args = ["--database-url", database_url] if database_url else []
    common = ["--data-dir", str(data_dir), *db_args]
    made = subprocess.run(
        [sys.executable, "-m", "framecast", "keys", "create", "--name", "bench", *common],
        env=server_env(), capture_output=True, text=True, timeout=120, check=True)
    api_key = made.stdout.strip().splitlines()[-1].strip()
    port = free_port()
    log_path = data_dir / "server.log"
    with contextlib.ExitStack() as stack:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "framecast", "serve", "--host", "127.0.0.1", "--port",
                 str(port), "--slots", str(slots), "--config", str(config), *common,
                 *(["--no-worker"] if separate_worker else []),
                 *(["--single-process"] if single_process else []),
                 "--api-processes", str(api_processes)],
                stdout=log, stderr=subprocess.STDOUT, env=server_env(), start_new_session=True)
        stack.callback(stop_process, process)
        if separate_worker:
            with (data_dir / "worker.log").open("wb") as log:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "framecast", "worker", "--slots", str(slots),
                     "--config", str(config), *common],
                    stdout=log, stderr=subprocess.STDOUT, env=server_env(),
                    start_new_session=True)
            stack.callback(stop_process, worker)
        server = Server(process, f"http://127.0.0.1:{port}", api_key, log_path,
                        database_url or f"sqlite:///{(data_dir / 'framecast.db').resolve()}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"framecast serve exited with {process.returncode}:\n"
                                   f"{log_path.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.root}/healthz", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("framecast serve did not answer /healthz in time")
            time.sleep(0.1)
        yield server


@contextlib.contextmanager
def fresh_postgres(base_url: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a new, empty schema; the schema is dropped after."""
    from sqlalchemy import create_engine, make_url, text

    schema = f"fc_bench_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- the phases -----------------------------------------------------------------------------


@dataclass
class Load:
    """How hard and how long each phase pushes."""

    clients: int
    requests: int          # per closed-loop phase, across all clients
    duration_s: float      # per phase, at most
    mixed_tasks: int       # tasks the mixed phase creates, across all clients
    poll_interval_s: float
    store_threads: int     # threads calling TaskQueue.enqueue in the store phase
    client: str = "raw"    # raw (bench/_rawhttp.py) | httpx
    i2v_requests: int = 30        # each kind, one client, in the i2v phase
    shared_clients: int = 40      # GET pollers of the quiet and shared phases
    photo_clients: int = 10       # photo creators beside them in the shared phase
    shared_duration_s: float = 10.0


# the phases' client: httpx, or the bench's own lean one (``_rawhttp``), same surface
Client = httpx.AsyncClient | RawClient
Call = Callable[[Client, int], Awaitable[None]]


async def closed_loop(clients: list[Client], requests: int, duration_s: float,
                      one: Call) -> float:
    """Run ``one(client, n)`` on every client, back to back, until ``requests`` calls were
    started or ``duration_s`` passed; the elapsed seconds."""
    counter = iter(range(requests))
    deadline = time.perf_counter() + duration_s

    async def drive(http: Client) -> None:
        for n in counter:
            if time.perf_counter() > deadline:
                return
            await one(http, n)

    started = time.perf_counter()
    await asyncio.gather(*(drive(http) for http in clients))
    return time.perf_counter() - started


def create_body() -> dict[str, object]:
    """A text-only Seedance task: nothing to fetch."""
    return {"model": VIDEO_MODEL, "content": [{"type": "text", "text": PROMPT}]}


async def phase_healthz(clients: list[Client], load: Load) -> PhaseResult:
    """``GET /healthz`` in a closed loop."""
    samples = Samples()

    async def one(http: Client, _: int) -> None:
        await timed(samples, http.get("/healthz"))

    seconds = await closed_loop(clients, load.requests, load.duration_s, one)
    return PhaseResult("healthz", seconds, {"healthz": samples})


async def phase_create(clients: list[Client], load: Load,
                       ids: list[str]) -> PhaseResult:
    """``POST`` tasks in a closed loop; appends the new ids to ``ids``."""
    samples = Samples()

    async def one(http: Client, _: int) -> None:
        response = await timed(samples, http.post(TASKS_PATH, json=create_body()))
        if response is not None:
            ids.append(response.json()["id"])

    seconds = await closed_loop(clients, load.requests, load.duration_s, one)
    return PhaseResult("create", seconds, {"create": samples}, created=len(samples.latencies))


async def phase_get(clients: list[Client], load: Load,
                    ids: list[str]) -> PhaseResult:
    """``GET`` existing tasks in a closed loop."""
    samples = Samples()

    async def one(http: Client, n: int) -> None:
        await timed(samples, http.get(f"{TASKS_PATH}/{ids[n % len(ids)]}"))

    seconds = await closed_loop(clients, load.requests, load.duration_s, one)
    return PhaseResult("get", seconds, {"get": samples})


async def phase_mixed(clients: list[Client], load: Load) -> PhaseResult:
    """Each client: create, poll every ``poll_interval_s`` until terminal, repeat."""
    create, get = Samples(), Samples()
    counter = iter(range(load.mixed_tasks))
    deadline = time.perf_counter() + load.duration_s
    completed = 0
    last_completion = 0.0

    async def drive(http: Client, offset_s: float) -> None:
        nonlocal completed, last_completion
        # real clients are not in step: each starts at its own point of the poll cycle
        await asyncio.sleep(offset_s)
        for _ in counter:
            if time.perf_counter() > deadline:
                return
            response = await timed(create, http.post(TASKS_PATH, json=create_body()))
            if response is None:
                continue
            task_id = response.json()["id"]
            while time.perf_counter() < deadline + load.duration_s:   # bounded drain
                await asyncio.sleep(load.poll_interval_s)
                polled = await timed(get, http.get(f"{TASKS_PATH}/{task_id}"))
                if polled is not None and polled.json()["status"] in TERMINAL:
                    completed += 1
                    last_completion = time.perf_counter()
                    break

    started = time.perf_counter()
    spread = load.poll_interval_s / len(clients)
    await asyncio.gather(*(drive(http, n * spread) for n, http in enumerate(clients)))
    seconds = time.perf_counter() - started
    return PhaseResult("mixed", seconds, {"create": create, "get": get},
                       created=len(create.latencies), completed=completed,
                       completed_seconds=max(1e-9, last_completion - started))


@functools.cache
def photo_create_body() -> bytes:
    """A create carrying a 12 MP JPEG photograph as a ``data:`` URI, encoded once."""
    uri = "data:image/jpeg;base64," + base64.b64encode(photo_jpeg(*PHOTO_SIZE)).decode()
    return json.dumps({"model": VIDEO_MODEL, "content": [
        {"type": "text", "text": PROMPT},
        {"type": "image_url", "image_url": {"url": uri}, "role": "first_frame"}]}).encode()


async def post_photo(http: Client) -> Any:
    """``POST`` one photo create."""
    if isinstance(http, RawClient):
        return await http.post(TASKS_PATH, content=photo_create_body())
    return await http.post(TASKS_PATH, content=photo_create_body(),
                           headers={"Content-Type": "application/json"})


async def phase_i2v(http: Client, load: Load, ids: list[str]) -> PhaseResult:
    """One client, alternately a text-only create and a photo create, each sent once the
    previous task is done, as a sequential client does: the worker's decode of the last
    photo (on the same two cores) is not in the next create's time."""
    text, photo = Samples(), Samples()
    started = time.perf_counter()
    for _ in range(load.i2v_requests):
        for samples, call in ((text, http.post(TASKS_PATH, json=create_body())),
                              (photo, post_photo(http))):
            response = await timed(samples, call)
            if response is not None:
                ids.append(response.json()["id"])
            await wait_idle(http, 60.0)
    seconds = time.perf_counter() - started
    return PhaseResult("i2v", seconds, {"create text": text, "create photo": photo},
                       created=len(text.latencies) + len(photo.latencies))


async def phase_shared(pollers: list[Client], creators: list[Client], load: Load,
                       ids: list[str], created: list[str], *,
                       post: Callable[[Client], Awaitable[Any]] = post_photo,
                       name: str = "shared") -> PhaseResult:
    """``pollers`` GET existing tasks in a closed loop for ``shared_duration_s``; with
    ``creators``, those create photo tasks back to back meanwhile (ids into ``created``),
    each with ``post``."""
    gets, photos = Samples(), Samples()
    deadline = time.perf_counter() + load.shared_duration_s
    counter = iter(range(10**9))

    async def poll(http: Client) -> None:
        for n in counter:
            if time.perf_counter() > deadline:
                return
            await timed(gets, http.get(f"{TASKS_PATH}/{ids[n % len(ids)]}"))

    async def create(http: Client) -> None:
        while time.perf_counter() < deadline:
            response = await timed(photos, post(http))
            if response is not None:
                created.append(response.json()["id"])

    started = time.perf_counter()
    await asyncio.gather(*(poll(http) for http in pollers), *(create(http) for http in creators))
    seconds = time.perf_counter() - started
    samples = {"get": gets, **({"create photo": photos} if creators else {})}
    return PhaseResult(name if creators else "quiet", seconds, samples,
                       created=len(photos.latencies))


SLOW_PHOTO_CHUNK = 64 * 1024
SLOW_PHOTO_PAUSE_S = 0.02         # 2.8 MB in about a second: a remote host on a slow link


@contextlib.contextmanager
def slow_photo_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that sends the 12 MP photo slowly; yields its URL."""
    photo = photo_jpeg(*PHOTO_SIZE)

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            with contextlib.suppress(OSError):
                for start in range(0, len(photo), SLOW_PHOTO_CHUNK):
                    self.wfile.write(photo[start:start + SLOW_PHOTO_CHUNK])
                    self.wfile.flush()
                    time.sleep(SLOW_PHOTO_PAUSE_S)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    finally:
        server.shutdown()
        server.server_close()


def url_poster(url: str) -> Callable[[Client], Awaitable[Any]]:
    """``POST`` one create whose first frame is ``url`` (fetched by the server)."""
    body = json.dumps({"model": VIDEO_MODEL, "content": [
        {"type": "text", "text": PROMPT},
        {"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}]}).encode()

    async def post(http: Client) -> Any:
        if isinstance(http, RawClient):
            return await http.post(TASKS_PATH, content=body)
        return await http.post(TASKS_PATH, content=body,
                               headers={"Content-Type": "application/json"})
    return post


async def discard(http: Client, task_ids: list[str], *, wait: bool = True) -> None:
    """Cancel (queued) or delete (finished) the bench's photo tasks, so that no backlog of
    12 MP decodes runs on into the next phases; running ones are waited for."""
    for task_id in task_ids:
        await http.delete(f"{TASKS_PATH}/{task_id}")
    if wait:
        await wait_idle(http, 300.0)


STORE_OWNER = "bench-store"        # not the API key's owner: its quota count never sees these
STORE_ENGINE = "bench-store-only"  # no worker serves it, so the tasks stay queued


def phase_store(database_url: str, load: Load) -> PhaseResult:
    """``TaskQueue.enqueue`` from ``store_threads`` threads, no HTTP: the store's ceiling."""
    from framecast.db.queue import NewTask, TaskQueue

    queue = TaskQueue.open(database_url)
    samples = Samples()
    lock = threading.Lock()
    counter = iter(range(load.requests))
    deadline = time.perf_counter() + load.duration_s
    spec = {"kind": "video", "model": VIDEO_MODEL, "prompt": PROMPT, "resolution": "480p"}

    def drive() -> None:
        while time.perf_counter() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            new = NewTask(id=f"cgt-store-{n:06d}-{secrets.token_hex(4)}", owner_id=STORE_OWNER,
                          kind="video", model=VIDEO_MODEL, engine=STORE_ENGINE, spec=spec)
            started = time.perf_counter()
            queue.enqueue(new)
            samples.latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(load.store_threads) as pool:
            for future in [pool.submit(drive) for _ in range(load.store_threads)]:
                future.result()
        seconds = time.perf_counter() - started
    finally:
        queue.close()
    return PhaseResult("store", seconds, {"enqueue": samples}, created=len(samples.latencies))


DRAIN_THREADS = 2   # as many claimers as the server has engine slots by default


def phase_drain(database_url: str, load: Load) -> PhaseResult:
    """``TaskQueue.claim`` then ``finish``, back to back from two threads, over the store
    phase's backlog (no HTTP, no engine): what a claim costs with thousands queued."""
    from framecast.db.queue import TaskQueue

    queue = TaskQueue.open(database_url)
    claims, finishes = Samples(), Samples()
    lock = threading.Lock()
    deadline = time.perf_counter() + load.duration_s

    def drive() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            claimed = queue.claim("bench-drain", [STORE_ENGINE], 1)
            if not claimed:
                return
            middle = time.perf_counter()
            queue.finish(claimed[0].task.id, claimed[0].lease_token, outputs=[], seed=0,
                         usage_tokens=0, engine_seconds=0.0)
            with lock:
                claims.latencies.append(middle - started)
                finishes.latencies.append(time.perf_counter() - middle)

    try:
        if hasattr(queue, "refresh_statistics"):   # (absent before revision 0003)
            queue.refresh_statistics()   # what the server's reaper does every few seconds
        started = time.perf_counter()
        with ThreadPoolExecutor(DRAIN_THREADS) as pool:
            for future in [pool.submit(drive) for _ in range(DRAIN_THREADS)]:
                future.result()
        seconds = time.perf_counter() - started
    finally:
        queue.close()
    result = PhaseResult("drain", seconds, {"claim": claims, "finish": finishes})
    result.completed, result.completed_seconds = len(finishes.latencies), seconds
    return result


async def wait_idle(http: Client, timeout_s: float) -> float:
    """Seconds until the caller has no queued or running task (per the Ark list API)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        pending = 0
        for status in ("queued", "running"):
            response = await http.get(TASKS_PATH, params={"filter.status": status,
                                                          "page_size": 1})
            response.raise_for_status()
            pending += response.json()["total"]
        if pending == 0:
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


@dataclass
class BackendResult:
    """Every phase of one backend."""

    backend: str
    phases: dict[str, PhaseResult]
    drained: int = 0
    drain_seconds: float = 0.0
    load_average: tuple[float, float] = (0.0, 0.0)   # 1-minute load at start and at end


async def run_phases(server: Server, load: Load, backend: str, *,
                     worker_pausable: bool = True) -> BackendResult:
    """Warm up, then run every phase against ``server``.

    Each simulated client has its own client and keep-alive connection, as each SDK user
    would: one httpx client shared by 50 coroutines spends its time in httpcore's pool and
    measured 3× fewer requests/s with 6× the p99 on ``/healthz``."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    load_at_start = os.getloadavg()[0]

    def client() -> Client:
        if load.client == "httpx":
            return httpx.AsyncClient(base_url=server.root, timeout=60.0, headers=headers)
        return RawClient(server.root, headers)

    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client()) for _ in range(load.clients)]
        warm: list[str] = []
        for http in clients:   # connect every client; imports, pools, the first claims
            response = await http.post(TASKS_PATH, json=create_body())
            response.raise_for_status()
            warm.append(response.json()["id"])
            await http.get(f"{TASKS_PATH}/{warm[-1]}")
            await http.get("/healthz")
        await wait_idle(clients[0], 60.0)
        ids: list[str] = []
        pid = server.process.pid
        phases = {"healthz": await with_server_cpu(pid, phase_healthz(clients, load))}
        phases["create"] = await with_server_cpu(pid, phase_create(clients, load, ids))
        drain_started = time.perf_counter()
        phases["get"] = await with_server_cpu(pid, phase_get(clients, load, ids))
        drain_seconds = (time.perf_counter() - drain_started) + \
            await wait_idle(clients[0], 120.0)
        # the created backlog was being worked through during the get phase
        phases["create"].completed = len(ids)
        phases["create"].completed_seconds = phases["create"].seconds + drain_seconds
        phases["mixed"] = await with_server_cpu(pid, phase_mixed(clients, load))
        photo_tasks: list[str] = []
        photo_create_body()                       # encode the photo before any timing
        phases["i2v"] = await with_server_cpu(pid, phase_i2v(clients[0], load, photo_tasks))
        await discard(clients[0], photo_tasks)
        pollers = clients[:load.shared_clients]
        creators = clients[load.shared_clients:load.shared_clients + load.photo_clients]
        phases["quiet"] = await with_server_cpu(pid, phase_shared(pollers, [], load, ids, []))
        if worker_pausable:
            # the API's own cost: serve's worker (its process) stopped, as in a fleet whose
            # workers decode the photos on other machines; the photo tasks are discarded
            # before it resumes
            photo_tasks = []
            os.kill(pid, signal.SIGSTOP)
            try:
                phases["shared"] = await with_server_cpu(
                    pid, phase_shared(pollers, creators, load, ids, photo_tasks))
                with slow_photo_server() as url:
                    phases["slow-url"] = await with_server_cpu(
                        pid, phase_shared(pollers, creators, load, ids, photo_tasks,
                                          post=url_poster(url), name="slow-url"))
                await discard(clients[0], photo_tasks, wait=False)
            finally:
                os.kill(pid, signal.SIGCONT)
            await wait_idle(clients[0], 300.0)
        photo_tasks = []
        phase = await with_server_cpu(pid, phase_shared(pollers, creators, load, ids,
                                                        photo_tasks))
        phase.name = "shared+worker"
        phases["shared+worker"] = phase
        await discard(clients[0], photo_tasks)
    # last: its queued tasks would otherwise lengthen every later claim and quota count
    phases["store"] = await asyncio.to_thread(phase_store, server.database_url, load)
    phases["drain"] = await asyncio.to_thread(phase_drain, server.database_url, load)
    return BackendResult(backend, phases, drained=len(ids), drain_seconds=drain_seconds,
                         load_average=(load_at_start, os.getloadavg()[0]))


# -- report ---------------------------------------------------------------------------------


def report(results: list[BackendResult], load: Load, slots: int, command: str, *,
           separate_worker: bool = False, api_processes: int = 1,
           single_process: bool = False) -> str:
    """The markdown report: one row per backend and phase, ratios to the healthz floor."""
    where = ("a separate `framecast worker`" if separate_worker
             else "in the API process" if single_process else "in serve's worker process")
    lines = [
        f"Control plane, {load.clients} clients ({load.client} client), "
        f"{api_processes} API process(es), {slots} "
        f"engine slot(s) (`instant` engine, {where}), "
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.machine()}; loopback. 1-minute load average (start → end): "
        + ", ".join(f"{r.backend} {r.load_average[0]:.1f} → {r.load_average[1]:.1f}"
                    for r in results) + ".",
        "",
        "| backend | phase | request | n | err | p50 ms | p99 ms | p99 / healthz p99 | req/s "
        "| created/s | completed/s | server CPU ms/req |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        floor = result.phases["healthz"].samples["healthz"].p(0.99)
        for phase in result.phases.values():
            for kind, samples in phase.samples.items():
                created = f"{phase.created / phase.seconds:.0f}" if phase.created else ""
                completed = (f"{phase.completed / phase.completed_seconds:.0f}"
                             if phase.completed else "")
                ratio = ("" if phase.name in ("store", "drain")
                         else f"{samples.p(0.99) / floor:.1f}×")
                cpu = phase.server_cpu_ms_per_request()
                lines.append(
                    f"| {result.backend} | {phase.name} | {kind} | {len(samples.latencies)} "
                    f"| {samples.errors} | {samples.p(0.5):.1f} | {samples.p(0.99):.1f} "
                    f"| {ratio} | {phase.rate(kind):.0f} | {created} | {completed} "
                    f"| {'' if cpu is None else f'{cpu:.2f}'} |")
    lines.append("")
    for result in results:
        phases = result.phases
        if "i2v" in phases:
            text_p50 = phases["i2v"].samples["create text"].p(0.5)
            photo_p50 = phases["i2v"].samples["create photo"].p(0.5)
            lines.append(f"{result.backend}: one client, a create with a 12 MP JPEG photo "
                         f"(median {photo_p50:.1f} ms) is {photo_p50 / text_p50:.1f}× a "
                         f"text-only create ({text_p50:.1f} ms); goal ≤ "
                         f"{GOAL_PHOTO_CREATE_RATIO:.0f}×.")
        quiet = phases["quiet"].samples["get"].p(0.99) if "quiet" in phases else None
        for name, where in (("shared", "the API's own cost, serve's worker stopped"),
                            ("slow-url", "their photo fetched by the API from a slow "
                                         "server, serve's worker stopped"),
                            ("shared+worker", "serve's worker decoding every photo on the "
                                              "same machine")):
            if quiet and name in phases:
                shared = phases[name].samples["get"].p(0.99)
                lines.append(f"{result.backend}: GET p99 beside {load.photo_clients} photo "
                             f"creators ({where}) is {shared:.1f} ms, {shared / quiet:.1f}× "
                             f"the quiet {quiet:.1f} ms of {load.shared_clients} pollers alone"
                             + (f"; goal ≤ {GOAL_SHARED_GET_RATIO:.0f}×."
                                if name in ("shared", "slow-url") else "."))
    lines += ["", "Goals (closed loop, 50 clients): create p99 ≤ "
              f"{GOAL_CREATE_P99_MS:.0f} ms, get p99 ≤ {GOAL_GET_P99_MS:.0f} ms, PostgreSQL "
              f"≥ {GOAL_PG_ENQUEUE_PER_S:.0f} tasks/s enqueued.", "",
              f"Command: `{command}`"]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run every backend, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=10_000,
                        help="requests per closed-loop phase (all clients together)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds per phase at most")
    parser.add_argument("--mixed-tasks", type=int, default=1000,
                        help="tasks the mixed phase creates")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="seconds between a client's polls in the mixed phase")
    parser.add_argument("--store-threads", type=int, default=8,
                        help="threads calling TaskQueue.enqueue in the store phase")
    parser.add_argument("--slots", type=int, default=2, help="engine slots of the server")
    parser.add_argument("--pg", default=os.environ.get(POSTGRES_ENV),
                        help=f"PostgreSQL URL (default: ${POSTGRES_ENV}); runs PostgreSQL too")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--separate-worker", action="store_true",
                        help="serve --no-worker plus a `framecast worker` process")
    parser.add_argument("--single-process", action="store_true",
                        help="serve --single-process (API and worker in one process)")
    parser.add_argument("--api-processes", type=int, default=1,
                        help="serve --api-processes N (API processes sharing the port)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="load generator: the lean asyncio client (default) or httpx")
    parser.add_argument("--i2v-requests", type=int, default=30,
                        help="text and photo creates each, one client, in the i2v phase")
    parser.add_argument("--shared-clients", type=int, default=40,
                        help="GET pollers of the quiet and shared phases")
    parser.add_argument("--photo-clients", type=int, default=10,
                        help="photo creators beside the pollers in the shared phase")
    parser.add_argument("--shared-duration", type=float, default=10.0,
                        help="seconds of the quiet and of the shared phase")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args()
    load = Load(clients=args.clients, requests=args.requests, duration_s=args.duration,
                mixed_tasks=args.mixed_tasks, poll_interval_s=args.poll_interval,
                store_threads=args.store_threads, client=args.client,
                i2v_requests=args.i2v_requests, shared_clients=args.shared_clients,
                photo_clients=args.photo_clients, shared_duration_s=args.shared_duration)
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/control_plane.py",
                                                *sys.argv[1:]])
    results: list[BackendResult] = []
    workdir = Path(tempfile.mkdtemp(prefix="framecast-bench-"))
    backends: list[tuple[str, str | None]] = [] if args.no_sqlite else [("sqlite", None)]
    if args.pg:
        backends.append(("postgresql", args.pg))
    for name, base in backends:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(fresh_postgres(base)) if base else None
            server = stack.enter_context(running_server(
                workdir / name, slots=args.slots, database_url=url,
                separate_worker=args.separate_worker, api_processes=args.api_processes,
                single_process=args.single_process))
            print(f"{name}: server up at {server.root}; running phases ...", file=sys.stderr)
            # serve's worker runs in the process serve started as, the API in a child: the
            # worker can be stopped alone
            pausable = not (args.single_process or args.separate_worker)
            results.append(asyncio.run(run_phases(server, load, name,
                                                  worker_pausable=pausable)))
    print(report(results, load, args.slots, command, separate_worker=args.separate_worker,
                 api_processes=args.api_processes, single_process=args.single_process))
    if args.keep:
        print(f"\nData directories kept under {workdir}", file=sys.stderr)
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
