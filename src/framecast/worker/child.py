"""The engine child: a spawned process that keeps engines warm and runs one task at a time.

The supervisor starts it with the ``spawn`` context and talks to it over a pipe
(``worker/messages.py``). First thing, the child becomes the leader of its own session and
process group, so the supervisor can kill it together with anything it started. It never
touches the database or the blob store: inputs arrive as files the supervisor wrote (the bytes
the client sent), and outputs leave as files in the attempt's work directory.

Per task: build the engine (``engine_class(name)(options)``) and ``load()`` it once per
(engine, options), keeping up to ``warm_engines`` of them; decode the inputs
(``media.images.decode_image``: EXIF orientation, RGB; the preprocess step); rebuild the
spec; ``check_inputs``; ``run`` with a throttled ``progress`` and a non-blocking
``cancelled`` that polls the pipe for ``Cancel``. Exceptions become ``Failed``/``Stopped``
replies; only a crash (OOM kill, segfault) ends the process.

A GPU engine's CPU tail (``EngineOutputs.finish``: retiming and H.264, seconds of CPU) runs on
one tail thread: the child replies ``Encoding`` as soon as the frames are on the host, takes
the next task onto the GPU, and the tail sends its task's end when it is written.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from framecast.core.errors import FramecastError, InvalidInput, out_of_space
from framecast.core.spec import spec_from_json
from framecast.engines.base import (
    Cancelled,
    Engine,
    EngineInputs,
    EngineOutputs,
    InputImage,
    InputMedia,
    OutputFileInfo,
    engine_class,
)
from framecast.media.images import decode_image
from framecast.worker.messages import (
    Cancel,
    Done,
    Encoding,
    Failed,
    FromChild,
    Loaded,
    Progress,
    Published,
    Ready,
    RunTask,
    Shutdown,
    Stopped,
)

PROGRESS_MIN_INTERVAL_S = 0.1   # the child sends at most ~10 progress messages a second
PARENT_CHECK_S = 0.5            # how often the child looks whether its supervisor still lives


def main(conn: Connection, warm_engines: int = 1, gpu: str | None = None) -> None:
    """Entry point of the spawned child: serve ``RunTask`` messages until told to stop or
    the supervisor goes away. ``gpu``: the only device this child's engines may see."""
    if gpu is not None:   # before any engine can initialise CUDA, which reads it once
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.setsid()   # own session and process group: the supervisor kills the whole group
    # Ctrl-C in a terminal is the supervisor's to handle; it stops children itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(os.getppid())
    child = _EngineChild(conn, warm_engines=max(1, warm_engines))
    try:
        child.send(Ready(pid=os.getpid()))
        child.serve()
    except (EOFError, OSError, BrokenPipeError):
        pass   # the supervisor is gone; nothing left to report to


def _watch_parent(parent_pid: int) -> None:
    """Kill this child's whole process group once the supervisor's process is gone (kill -9
    of the server): a child busy inside one long engine step would otherwise outlive it,
    holding a GPU. A thread polling ``getppid`` works whatever thread spawned the child
    (``PR_SET_PDEATHSIG`` fires when the spawning *thread* exits, which is wrong here)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _EngineChild:
    """The state of one child: warm engines, the task being run, and the tails (the CPU
    work left of earlier tasks) running on the tail thread."""

    def __init__(self, conn: Connection, *, warm_engines: int) -> None:
        self.conn = conn
        self.warm_engines = warm_engines
        self.engines: OrderedDict[tuple[str, str], Engine] = OrderedDict()
        self.task_id: str | None = None
        self.cancel_seen = False
        self.shutdown = False
        self._last_progress = 0.0
        self._send_lock = threading.Lock()    # the main thread and the tail thread both send
        self._tail_pool: ThreadPoolExecutor | None = None   # one thread, made on first use
        self.tails: set[str] = set()           # tasks whose tail is queued or running
        self.cancelled_tails: set[str] = set()

    def send(self, message: FromChild) -> None:
        """Send one message to the supervisor (from either thread)."""
        with self._send_lock:
            self.conn.send(message)

    def serve(self) -> None:
        """Answer each ``RunTask`` with its replies; on ``Shutdown``, exit once the tails
        have sent theirs (EOF, the supervisor gone, ends the process at once)."""
        while not self.shutdown:
            message = self.conn.recv()
            if isinstance(message, RunTask):
                self.send(self.run(message))
            elif isinstance(message, Cancel):
                self._note_cancel(message.task_id)
            elif isinstance(message, Shutdown):
                break
        if self._tail_pool is not None:
            self._tail_pool.shutdown(wait=True)

    def _note_cancel(self, task_id: str) -> None:
        """A ``Cancel`` for a task in its tail: its tail stops at the next frame. (One for a
        task that already ended is dropped.)"""
        if task_id in self.tails:
            self.cancelled_tails.add(task_id)

    # ---- engines -------------------------------------------------------------------------

    def engine(self, name: str, options: dict[str, Any]) -> Engine:
        """The warm engine for (name, options), built and loaded on first use."""
        key = (name, json.dumps(options, sort_keys=True, default=str))
        if key in self.engines:
            self.engines.move_to_end(key)
            return self.engines[key]
        while len(self.engines) >= self.warm_engines:
            self.engines.popitem(last=False)   # drop the coldest engine (and its weights)
            gc.collect()
        started = time.monotonic()
        engine = engine_class(name)(options)
        engine.load()
        self.engines[key] = engine
        self.send(Loaded(engine=name, seconds=time.monotonic() - started))
        return engine

    # ---- one task ------------------------------------------------------------------------

    def run(self, message: RunTask) -> FromChild:
        """Run one attempt and return the reply for the supervisor (``Encoding`` when its
        tail was left to the tail thread, which sends the task's end itself)."""
        self.task_id, self.cancel_seen = message.task_id, False
        try:
            try:
                engine = self.engine(message.engine, message.options)
            except Exception as exc:
                return Failed(task_id=message.task_id, code="InternalServiceError",
                              message=f"engine {message.engine} could not load: "
                                      f"{type(exc).__name__}: {exc}")
            return self._run(engine, message)
        finally:
            self.task_id = None

    def _run(self, engine: Engine, message: RunTask) -> FromChild:
        try:
            spec = spec_from_json(message.spec)
            # 0. Preprocess: decode each input as sent (EXIF orientation, RGB); an image
            # whose header passed at create but whose pixels do not fails the task here
            images = [InputImage(role=role, image=decode_image(
                          Path(path).read_bytes(), param=param, limits=message.image_limits))
                      for role, path, param in message.inputs]
            inputs = EngineInputs(images=images, work_dir=Path(message.work_dir),
                                  media=[InputMedia(role, Path(path), param)
                                         for role, path, param in message.media],
                                  defer_tail=engine.tail_overlaps(engine.options),
                                  publish=lambda f: self.send(Published(
                                      task_id=message.task_id, output=_file_dict(f))))
            engine.check_inputs(spec, inputs)
            started = time.monotonic()
            result = engine.run(spec, inputs, self.progress, self.cancelled)
            if self.cancel_seen:
                return Stopped(task_id=message.task_id)
            if result.finish is not None:
                self._start_tail(message, result, time.monotonic() - started)
                return Encoding(task_id=message.task_id)
            return _done(message, result, time.monotonic() - started)
        except Exception as exc:
            return _ended_by(exc, message, cancelled=self.cancel_seen)

    def _start_tail(self, message: RunTask, result: EngineOutputs, gpu_seconds: float) -> None:
        """Queue the task's tail on the tail thread; it sends the task's end when done."""
        task_id = message.task_id
        self.cancelled_tails.discard(task_id)   # (a late Cancel of an earlier attempt's tail)
        self.tails.add(task_id)   # before ``Encoding`` goes: a Cancel may follow at once

        def cancelled() -> bool:
            return task_id in self.cancelled_tails

        def tail() -> None:
            started = time.monotonic()
            try:
                result.complete(cancelled)
                seconds = time.monotonic() - started
                result.info["tail_seconds"] = round(seconds, 2)
                reply: FromChild = Stopped(task_id=task_id) if cancelled() else \
                    _done(message, result, gpu_seconds + seconds)
            except Exception as exc:
                reply = _ended_by(exc, message, cancelled=cancelled())
            finally:
                self.tails.discard(task_id)
                self.cancelled_tails.discard(task_id)
            try:
                self.send(reply)
            except (EOFError, OSError):
                pass   # the supervisor is gone

        if self._tail_pool is None:
            self._tail_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tail")
        self._tail_pool.submit(tail)

    def progress(self, step: int, total: int) -> None:
        """The engine's progress callback: forwarded, at most every 0.1 s (last step always)."""
        now = time.monotonic()
        if step < total and now - self._last_progress < PROGRESS_MIN_INTERVAL_S:
            return
        self._last_progress = now
        self.send(Progress(step=step, total=total))

    def cancelled(self) -> bool:
        """The engine's cancel check: drain the pipe without blocking, True once a
        ``Cancel`` for this task (or ``Shutdown``, or EOF) arrived. A ``Cancel`` for a
        task in its tail is passed on to it."""
        if self.cancel_seen:
            return True
        try:
            while self.conn.poll(0):
                message = self.conn.recv()
                if isinstance(message, Cancel) and message.task_id == self.task_id:
                    self.cancel_seen = True
                elif isinstance(message, Cancel):
                    self._note_cancel(message.task_id)
                elif isinstance(message, Shutdown):
                    self.cancel_seen = self.shutdown = True
        except (EOFError, OSError):   # the supervisor is gone: stop working for it
            self.cancel_seen = self.shutdown = True
        return self.cancel_seen


def _done(message: RunTask, result: EngineOutputs, seconds: float) -> Done:
    """The success reply of a task whose files are written."""
    return Done(task_id=message.task_id, outputs=[_file_dict(f) for f in result.files],
                seed=result.seed, info=dict(result.info), engine_seconds=seconds)


def _ended_by(exc: Exception, message: RunTask, *, cancelled: bool) -> FromChild:
    """The reply for an attempt that raised ``exc`` (in ``run`` or in its tail)."""
    task_id, engine = message.task_id, message.engine
    if isinstance(exc, Cancelled):
        return Stopped(task_id=task_id)
    if isinstance(exc, InvalidInput):
        return Failed(task_id=task_id, code=exc.code, message=exc.message, param=exc.param)
    if cancelled:   # an engine that wraps Cancelled in its own error
        return Stopped(task_id=task_id)
    if isinstance(exc, FramecastError):
        return Failed(task_id=task_id, code=exc.code, message=f"engine {engine} failed: {exc}")
    if out_of_space(exc):  # the work dir's disk is full: not the task's fault
        return Failed(task_id=task_id, code="ServiceUnavailable", transient=True,
                      message=f"engine {engine}: the worker's disk is full")
    return Failed(task_id=task_id, code="InternalServiceError",
                  message=f"engine {engine} failed: {type(exc).__name__}: {exc}")


def _file_dict(info: OutputFileInfo) -> dict[str, Any]:
    return {"name": info.name, "path": str(info.path), "content_type": info.content_type,
            "width": info.width, "height": info.height, "frames": info.frames,
            "fps": info.fps, "has_audio": info.has_audio}
