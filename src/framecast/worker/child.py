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
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from framecast.core.errors import FramecastError, InvalidInput, out_of_space
from framecast.core.spec import spec_from_json
from framecast.engines.base import (
    Cancelled,
    Engine,
    EngineInputs,
    InputImage,
    OutputFileInfo,
    engine_class,
)
from framecast.media.images import decode_image
from framecast.worker.messages import (
    Cancel,
    Done,
    Failed,
    FromChild,
    Loaded,
    Progress,
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
        conn.send(Ready(pid=os.getpid()))
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
    """The state of one child: warm engines and the task being run."""

    def __init__(self, conn: Connection, *, warm_engines: int) -> None:
        self.conn = conn
        self.warm_engines = warm_engines
        self.engines: OrderedDict[tuple[str, str], Engine] = OrderedDict()
        self.task_id: str | None = None
        self.cancel_seen = False
        self.shutdown = False
        self._last_progress = 0.0

    def serve(self) -> None:
        """Answer each ``RunTask`` with exactly one reply; exit on ``Shutdown`` or EOF."""
        while not self.shutdown:
            message = self.conn.recv()
            if isinstance(message, RunTask):
                self.conn.send(self.run(message))
            elif isinstance(message, Shutdown):
                return
            # a Cancel that arrives between tasks is for a task that already ended

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
        self.conn.send(Loaded(engine=name, seconds=time.monotonic() - started))
        return engine

    # ---- one task ------------------------------------------------------------------------

    def run(self, message: RunTask) -> FromChild:
        """Run one attempt and return the reply for the supervisor."""
        self.task_id, self.cancel_seen = message.task_id, False
        try:
            try:
                engine = self.engine(message.engine, message.options)
            except Exception as exc:
                return Failed(code="InternalServiceError",
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
            inputs = EngineInputs(images=images, work_dir=Path(message.work_dir))
            engine.check_inputs(spec, inputs)
            started = time.monotonic()
            result = engine.run(spec, inputs, self.progress, self.cancelled)
            if self.cancel_seen:
                return Stopped(task_id=message.task_id)
            return Done(outputs=[_file_dict(f) for f in result.files], seed=result.seed,
                        info=dict(result.info), engine_seconds=time.monotonic() - started)
        except Cancelled:
            return Stopped(task_id=message.task_id)
        except InvalidInput as exc:
            return Failed(code=exc.code, message=exc.message, param=exc.param)
        except FramecastError as exc:
            if self.cancel_seen:
                return Stopped(task_id=message.task_id)
            return Failed(code=exc.code, message=f"engine {message.engine} failed: {exc}")
        except Exception as exc:
            if self.cancel_seen:   # an engine that wraps Cancelled in its own error
                return Stopped(task_id=message.task_id)
            if out_of_space(exc):  # the work dir's disk is full: not the task's fault
                return Failed(code="ServiceUnavailable", transient=True,
                              message=f"engine {message.engine}: the worker's disk is full")
            return Failed(code="InternalServiceError",
                          message=f"engine {message.engine} failed: "
                                  f"{type(exc).__name__}: {exc}")

    def progress(self, step: int, total: int) -> None:
        """The engine's progress callback: forwarded, at most every 0.1 s (last step always)."""
        now = time.monotonic()
        if step < total and now - self._last_progress < PROGRESS_MIN_INTERVAL_S:
            return
        self._last_progress = now
        self.conn.send(Progress(step=step, total=total))

    def cancelled(self) -> bool:
        """The engine's cancel check: drain the pipe without blocking, True once a
        ``Cancel`` for this task (or ``Shutdown``, or EOF) arrived."""
        if self.cancel_seen:
            return True
        try:
            while self.conn.poll(0):
                message = self.conn.recv()
                if isinstance(message, Cancel) and message.task_id == self.task_id:
                    self.cancel_seen = True
                elif isinstance(message, Shutdown):
                    self.cancel_seen = self.shutdown = True
        except (EOFError, OSError):   # the supervisor is gone: stop working for it
            self.cancel_seen = self.shutdown = True
        return self.cancel_seen




def _file_dict(info: OutputFileInfo) -> dict[str, Any]:
    return {"name": info.name, "path": str(info.path), "content_type": info.content_type,
            "width": info.width, "height": info.height, "frames": info.frames,
            "fps": info.fps, "has_audio": info.has_audio}
