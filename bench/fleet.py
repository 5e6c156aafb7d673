"""Benchmark: the fleet. PostgreSQL, a real S3 server (SeaweedFS, started here) and
``framecast`` processes that share nothing else.

* **Throughput**: one API process (``serve --no-worker``) and one, then two ``framecast
  worker`` processes (one slot each) against the same database and bucket. ``--tasks`` video
  creates go in over HTTP (Ark API, ``--concurrency`` at once) while the workers run; the
  figure is tasks per second from the first create to the last ``succeeded``, with the
  ``instant`` engine (so the fleet's own costs are what is measured: each create carries a
  1920×1080 photograph as a ``data:`` URI, which the API stores in S3 and the worker reads
  back into its private work dir; then the claim, the output's upload, the finish). Each
  layout runs ``--runs`` times on a fresh schema and prefix; the median is reported, and two
  workers as a ratio of one.
* **S3 against local files** for one 5 s 1080p output (121 frames of a real photograph,
  panned, encoded as the motion engine encodes): the worker's upload (``put_file``), a read
  back (``get_bytes``, what a ``b64_json`` answer or the ``/files`` proxy does) and the URL
  handed to the client (``signed_url``), median of ``--repeat`` runs, S3 as a ratio of the
  local directory store.

Run from the repository root (needs PostgreSQL; results are in docs/benchmarks.md):

    .venv/bin/python bench/fleet.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests.s3server
from tests.s3server import S3Server, start_s3

from _photos import photo_jpeg
from control_plane import fresh_postgres, stop_process
from framecast.blobs import open_store
from framecast.media.video import VideoWriter

API_KEY = "fc-bench-fleet"
MODEL = "fc-bench-instant"
MODELS_TOML = f"""
[[models]]
id = "{MODEL}"
kind = "video"
engine = "instant"
default_resolution = "480p"
"""
START_TIMEOUT_S = 60.0


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    """A port free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m framecast …`` in a session of its own."""
    return subprocess.Popen([sys.executable, "-m", "framecast", *args], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until ``condition()``; fail after ``START_TIMEOUT_S``."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up")
        time.sleep(0.05)


def succeeded(database_url: str) -> Callable[[], int]:
    """A counter of succeeded tasks, read from the shared database."""
    engine = create_engine(database_url, pool_size=1)

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM tasks WHERE status = 'succeeded'")).scalar_one())
    return count


def one_run(pg: str, s3: S3Server, workers: int, tasks: int, concurrency: int,
            root: Path) -> float:
    """Tasks per second through a fleet of one API process and ``workers`` workers."""
    with fresh_postgres(pg) as database_url:
        run_dir = Path(tempfile.mkdtemp(dir=root))
        config = run_dir / "framecast.toml"
        config.write_text(MODELS_TOML)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMECAST_")}
        env.update(s3.env())
        env.update({"FRAMECAST_DATABASE_URL": database_url,
                    "FRAMECAST_STORAGE_URL": s3.new_url(), "FRAMECAST_API_KEY": API_KEY,
                    "FRAMECAST_FILES_SECRET": "bench", "FRAMECAST_CONFIG": str(config),
                    "FRAMECAST_POLL_S": "0.2"})
        port = free_port()
        api = spawn(["serve", "--no-worker", "--port", str(port), "--data-dir",
                     str(run_dir / "api")], env, run_dir / "api.log")
        procs = [api]
        try:
            root_url = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return httpx.get(f"{root_url}/readyz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False
            wait_for(healthy, "the API")
            for n in range(workers):
                log = run_dir / f"worker-{n}.log"
                procs.append(spawn(["worker", "--data-dir", str(run_dir / f"worker-{n}")],
                                   env, log))
                wait_for(lambda log=log: log.exists() and "started" in log.read_text(),
                         f"worker {n}")
            count = succeeded(database_url)
            photo = "data:image/jpeg;base64," + base64.b64encode(photo_jpeg(1920, 1080)).decode()
            body = {"model": MODEL, "content": [
                {"type": "text", "text": "a harbour at dusk --rs 480p --frames 29"},
                {"type": "image_url", "image_url": {"url": photo}, "role": "first_frame"}]}
            headers = {"Authorization": f"Bearer {API_KEY}"}
            with httpx.Client(base_url=root_url, headers=headers, timeout=60) as client:
                def create(_n: int) -> None:
                    reply = client.post("/api/v3/contents/generations/tasks", json=body)
                    reply.raise_for_status()
                started = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(create, range(tasks)))
                while count() < tasks:
                    time.sleep(0.02)
                elapsed = time.perf_counter() - started
        finally:
            for proc in reversed(procs):
                stop_process(proc)
        shutil.rmtree(run_dir, ignore_errors=True)
        return tasks / elapsed


# -- S3 against local files ------------------------------------------------------------------


def clip_1080p(path: Path) -> int:
    """A 5 s 1080p clip (121 frames at 24 fps) of a photograph panning; its size."""
    import io

    from PIL import Image

    photo = np.asarray(Image.open(io.BytesIO(photo_jpeg(2400, 1350))).convert("RGB"))
    with VideoWriter(path, 1920, 1080, 24) as writer:
        for n in range(121):
            x, y = 2 * n, n
            frame = np.ascontiguousarray(photo[y:y + 1080, x:x + 1920])
            writer.write(frame)
    return path.stat().st_size


def median_ms(call: Callable[[], Any], repeat: int,
              prepare: Callable[[], Any] = lambda: None) -> float:
    """Median wall time of ``call`` in ms after one warm-up call (``prepare`` runs untimed
    before each)."""
    prepare()
    call()
    times = []
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


Row = tuple[str, float, float]


def storage_rows(s3: S3Server, root: Path, repeat: int) -> tuple[int, list[Row]]:
    """(clip size, [(step, local ms, s3 ms)])."""
    clip = root / "clip.mp4"
    size = clip_1080p(clip)
    os.environ.update(s3.env())
    stores = {"local": open_store(f"file://{root / 'files'}", secret=b"k" * 32,
                                  base_url="http://127.0.0.1:8000"),
              "s3": open_store(s3.new_url(), secret=b"k" * 32, base_url="http://x")}
    key = "tasks/cgt-bench/1/video.mp4"
    results: dict[str, dict[str, float]] = {}
    upload = root / "upload.mp4"

    def prepare() -> None:
        shutil.copyfile(clip, upload)   # put_file moves (local) or uploads and removes it

    for name, store in stores.items():
        results[name] = {
            "upload (put_file)": median_ms(
                lambda store=store: store.put_file(key, upload, "video/mp4"), repeat, prepare),
            "read back (get_bytes)": median_ms(lambda store=store: store.get_bytes(key), repeat),
            "client URL (signed_url)": median_ms(
                lambda store=store: store.signed_url(key, ttl_s=86400), repeat),
        }
    return size, [(step, results["local"][step], results["s3"][step])
                  for step in results["local"]]


def main() -> None:
    """Run both parts and print markdown tables with the command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="PostgreSQL URL (a schema per run)")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fc-bench-fleet-"))
    s3 = start_s3(root / "s3")
    try:
        rates = {w: statistics.median(one_run(args.pg, s3, w, args.tasks, args.concurrency,
                                              root) for _ in range(args.runs))
                 for w in (1, 2)}
        size, rows = storage_rows(s3, root, args.repeat)
    finally:
        s3.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    print(f"command: .venv/bin/python bench/fleet.py {shlex.join(sys.argv[1:])}\n")
    print("| workers | tasks/s (median of runs) | vs one worker |")
    print("|---|---|---|")
    for w, rate in rates.items():
        print(f"| {w} | {rate:.1f} | {rate / rates[1]:.2f}× |")
    print(f"\n5 s 1080p output: {size / 1e6:.1f} MB\n")
    print("| step | local files (ms) | S3 (ms) | S3 / local |")
    print("|---|---|---|---|")
    for step, local, s3_ms in rows:
        print(f"| {step} | {local:.2f} | {s3_ms:.2f} | {s3_ms / max(local, 1e-3):.1f}× |")


if __name__ == "__main__":
    main()
