"""One engine slot: a thread that keeps one child alive and drives claimed tasks through it.

Per task: write the input images, read from the blob store as their clients sent them, into
the attempt's private work dir ``{work_root}/{owner}/{task_id}/{attempt}/inputs/``
(``worker/workdirs.py``; the child decodes them),
send ``RunTask``, then until the child replies: relay progress (throttled), heartbeat, and
check the kill flag; on a kill send ``Cancel``, give the engine its cancel grace to stop on
its own (``cancel_grace``: the engine's, at least the worker's ``kill_grace_s``; a GPU engine
sees a cancel only between denoising steps and cannot interrupt its decode, and a kill costs
the next task a reload), then kill the child's process group. Outputs are stored under
attempt-scoped keys and the task finished in one fenced write. A lost lease (``LeaseLost``)
means another worker may own the task now: the child is killed at once and this attempt's
output dropped. All database and storage calls happen here, never in the child.

A GPU engine's CPU tail overlaps the next task: when the child replies ``Encoding`` the
attempt moves to ``tails`` (still leased, heartbeated, cancellable by id) and the slot claims
the next task for the GPU; the tail's ``Done`` is stored when it arrives, between the next
task's messages. A new task is claimed while at most ``MAX_TAILS`` tails are pending. When
the child dies or is killed, every attempt in it ends: a crash fails each (rerun), a kill
for one attempt's cancel or the drain hands the others back uncounted.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framecast.blobs.base import BlobStore, output_key
from framecast.core.errors import EngineFailed, LeaseLost, StorageUnavailable, out_of_space
from framecast.core.spec import VideoSpec, spec_from_json
from framecast.core.task import HEARTBEAT_S, LEASE_S, OutputFile, Task
from framecast.db.queue import Claim, HeartbeatReply, TaskQueue
from framecast.engines.base import engine_class
from framecast.media.images import ImageLimits
from framecast.worker.messages import (
    Cancel,
    ChildState,
    Done,
    Encoding,
    Ended,
    Failed,
    Loaded,
    Progress,
    Published,
    RunTask,
    Stopped,
)
from framecast.worker.process import ChildDied, EngineProcess
from framecast.worker.workdirs import WorkDirs

log = logging.getLogger("framecast.worker")

TICK_S = 0.05          # how long one wait on the child's pipe lasts
SPAWN_RETRY_S = 2.0    # pause after a child failed to start
BACKOFF_FIRST_S = 1.0  # the first wait after a claim or a record failed; it doubles …
BACKOFF_MOST_S = 60.0  # … up to this
UPKEEP_WARN_S = 10.0   # a failing heartbeat is logged at most this often per task
MAX_TAILS = 1          # claim the next task while at most this many tails are written


EngineResolver = Callable[[Task], tuple[str, dict[str, Any]]]


def frozen_engine(task: Task) -> tuple[str, dict[str, Any]]:
    """What runs a task: the engine and options frozen into its row when it was created."""
    return task.engine, dict(task.engine_options or {})


def cancel_grace(engine: str, options: dict[str, Any], floor_s: float) -> float:
    """How long a cancelled task's engine may take to stop before its child is killed: the
    engine's grace (its ``cancel_grace_s`` option, else its class's), at least ``floor_s``
    (the worker's ``kill_grace_s``). Reading it imports the engine's module (the built-in
    ones import torch only when they load). An engine that cannot be imported, or a bad
    option, gets the floor; its load then fails the task, naming the problem."""
    try:
        return max(floor_s, engine_class(engine).cancel_grace_for(options))
    except Exception as exc:   # whatever a module does on import: the child will say it
        log.warning("engine %s: %s; a cancel waits %.1f s", engine, exc, floor_s)
        return floor_s


@dataclass(frozen=True)
class WorkerTimings:
    """How often a slot writes, checks and waits (seconds)."""

    heartbeat_s: float = HEARTBEAT_S
    lease_s: float = LEASE_S
    poll_s: float = 1.0
    kill_grace_s: float = 2.0          # the least any engine gets to honour a cancel
    progress_interval_s: float = 0.5
    cancel_check_s: float = 0.5


class StopSignal:
    """The worker's stop: set once; running tasks may finish until the drain deadline."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._drain_deadline = float("inf")

    def stop(self, drain_s: float) -> None:
        """Stop claiming; running tasks may go on for ``drain_s`` more seconds."""
        self._drain_deadline = time.monotonic() + max(0.0, drain_s)
        self._event.set()

    @property
    def drain_deadline(self) -> float:
        """When running tasks must be handed back (``monotonic`` seconds; inf until stop)."""
        return self._drain_deadline

    @property
    def stopping(self) -> bool:
        """Whether claiming has stopped."""
        return self._event.is_set()

    def drain_expired(self) -> bool:
        """Whether running tasks must now be killed and handed back."""
        return self._event.is_set() and time.monotonic() >= self._drain_deadline

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early on stop; True when stopping."""
        return self._event.wait(seconds)


@dataclass(frozen=True)
class SlotContext:
    """What a slot needs from its worker, and nothing else."""

    queue: TaskQueue
    storage: BlobStore
    worker_id: str
    engines: list[str] | None     # the engines this worker serves (None: every engine)
    work_dirs: WorkDirs
    timings: WorkerTimings
    stop: StopSignal
    engine_for: EngineResolver = frozen_engine
    warm_engines: int = 1
    nice: int = 0                 # slot threads and engine children run this much below normal
    image_limits: ImageLimits = field(default_factory=ImageLimits)   # inputs decode within


@dataclass
class _Run:
    """The bookkeeping of one attempt while it runs."""

    task: Task
    token: str
    work_dir: Path
    started: float
    lease_renewed: float
    last_heartbeat: float
    last_check: float
    last_progress_write: float
    pending_progress: tuple[int, int] | None = None
    grace_s: float = 0.0          # a cancel → the engine stops, or its child is killed
    kill_reason: str | None = None
    kill_deadline: float = 0.0
    upkeep_warned: float = float("-inf")   # when a failed lease upkeep was last logged
    lost: bool = False            # a tail whose lease was lost: its end is dropped
    published: dict[str, dict[str, Any]] = field(default_factory=dict)   # name → stored file


@contextmanager
def _unrecorded(run: _Run) -> Iterator[None]:
    """Record an attempt's end if the database allows; if not, log it: its lease lapses and
    the reaper re-queues it (ending the others must go on)."""
    try:
        yield
    except Exception as exc:
        log.warning("task %s attempt %d: its end could not be recorded (%s: %s)",
                    run.task.id, run.task.attempt, type(exc).__name__, exc)


def lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by ``nice`` (Linux schedules threads one by
    one); the engine children it spawns from now on inherit it. A no-op for 0 or elsewhere
    than Linux, where a thread id is not a process id."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + nice))
    except OSError as exc:
        log.warning("could not lower the worker's CPU priority (%s)", exc)


class Backoff:
    """Waits that double while a condition lasts (``BACKOFF_FIRST_S`` … ``BACKOFF_MOST_S``),
    one log line each: a full disk or an unreachable database is reported once per wait,
    not once per poll."""

    def __init__(self) -> None:
        self.delay = 0.0

    def wait(self, stop: StopSignal, what: str, exc: BaseException,
             sleep: Callable[[float], object] | None = None) -> None:
        """Log ``what`` and its cause once, then sleep the next delay (waking on stop;
        ``sleep``: how to spend it, when there is work to tend meanwhile)."""
        self.delay = min(BACKOFF_MOST_S, max(BACKOFF_FIRST_S, self.delay * 2))
        cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        log.warning("%s (%s: %s); trying again in %.0f s", what, type(exc).__name__, cause,
                    self.delay)
        (sleep or stop.sleep)(self.delay)

    def reset(self) -> None:
        """The condition passed: the next wait starts short again."""
        self.delay = 0.0


class Slot:
    """One engine child and the thread that feeds it tasks; ``gpu``: the only device its
    child sees (``CUDA_VISIBLE_DEVICES``), None to leave the environment as it is."""

    def __init__(self, ctx: SlotContext, index: int, gpu: str | None = None) -> None:
        self.ctx = ctx
        self.index = index
        self.gpu = gpu
        self.proc: EngineProcess | None = None
        self.loads = 0           # engine loads across this slot's children
        self.tasks_run = 0
        self.current_task_id: str | None = None
        self.tails: dict[str, _Run] = {}   # attempts whose CPU tail the child is writing
        self.kill_hint = threading.Event()   # set by NOTIFY / local cancel for our task
        self.backoff = Backoff()
        self.storage_trouble: BaseException | None = None   # the last task went back: wait

    # ---- the slot's thread -----------------------------------------------------------------

    def loop(self) -> None:
        """Claim and run tasks until the worker stops (and every tail has ended)."""
        ctx, timings = self.ctx, self.ctx.timings
        lower_priority(ctx.nice)
        while not ctx.stop.stopping or self.tails:
            if self.storage_trouble is not None:   # a task went back: wait before the next
                trouble, self.storage_trouble = self.storage_trouble, None
                self.backoff.wait(ctx.stop, f"slot {self.index}: a task was handed back",
                                  trouble, self._idle)
                continue
            if ctx.stop.stopping or len(self.tails) > MAX_TAILS:
                self._idle(timings.poll_s)   # the tails end (or the drain runs out)
                continue
            if not self._ensure_child():
                ctx.stop.sleep(SPAWN_RETRY_S)
                continue
            try:
                claims = ctx.queue.claim(ctx.worker_id, ctx.engines, 1, lease_s=timings.lease_s)
            except Exception as exc:
                self.backoff.wait(ctx.stop, f"slot {self.index}: cannot claim", exc,
                                  self._idle)
                continue
            if not claims:
                self.backoff.reset()
                if self.tails:
                    self._idle(timings.poll_s)
                else:
                    ctx.queue.wait_for_work(timings.poll_s, ctx.engines)
                continue
            try:
                self.run_task(claims[0])
            except StorageUnavailable as exc:   # the store cannot record the task's end
                self._kill_child()
                self.backoff.wait(ctx.stop, f"slot {self.index}: task {claims[0].task.id} "
                                  "could not be recorded", exc)
                continue
            except Exception:
                log.exception("slot %d: task %s ended with an unexpected error", self.index,
                              claims[0].task.id)
                self._kill_child()
            if self.storage_trouble is None:
                self.backoff.reset()
        if self.proc is not None:
            self.proc.shutdown()

    def _ensure_child(self) -> bool:
        if self.proc is not None and self.proc.alive():
            return True
        if self.tails:   # died between two reads: its tails' ends can never arrive now
            self._end_tails_died(self.proc.exit_description() if self.proc else "no engine")
        try:
            self.proc = EngineProcess(warm_engines=self.ctx.warm_engines,
                                      name=f"framecast-engine-{self.index}", gpu=self.gpu)
            self.proc.wait_ready()
        except Exception:
            log.exception("slot %d: engine process failed to start", self.index)
            return False
        log.info("slot %d: engine process %d ready%s", self.index, self.proc.pid,
                 f" on GPU {self.gpu}" if self.gpu is not None else "")
        return True

    def _kill_child(self) -> None:
        """Kill the child (after an unexpected error); the tails in it go back uncounted."""
        if self.proc is not None:
            self.proc.kill()
        self._end_tails_killed()

    # ---- one task --------------------------------------------------------------------------

    def run_task(self, claim: Claim) -> None:
        """Run one claimed attempt until it ends (or re-queues), or until its GPU work is
        done and its tail is left to the child (``tails``); clean up what has ended."""
        task, token = claim.task, claim.lease_token
        if task.id in self.tails:   # a lost tail of an earlier attempt is still winding down
            log.info("task %s: an earlier attempt is still ending here; handing it back",
                     task.id)
            self._release(task, token)
            self.storage_trouble = LeaseLost(f"task {task.id} is still ending here")
            return
        try:
            self.ctx.work_dirs.sweep()     # a killed worker's attempts (of this task or any)
        except OSError as exc:
            log.warning("slot %d: could not sweep dead work dirs: %s", self.index, exc)
        work_dir = self.ctx.work_dirs.attempt_dir(task.id, task.attempt)
        log.debug("task %s attempt %d claimed by slot %d (engine %s)", task.id, task.attempt,
                  self.index, task.engine)
        self.current_task_id = task.id
        self.kill_hint.clear()
        try:
            try:
                engine, options = self.ctx.engine_for(task)
                inputs, media = self._write_inputs(task, work_dir / "inputs")
            except Exception as exc:
                if isinstance(exc, StorageUnavailable) or out_of_space(exc):
                    self._hand_back(task, token, exc)   # the disk or the store, not the task
                    return
                self._fail(task, token, "InternalServiceError",
                           f"task could not be prepared: {exc}", rerun=False)
                return
            message = RunTask(task_id=task.id, attempt=task.attempt, engine=engine,
                              options=dict(options), spec=task.spec, inputs=inputs,
                              work_dir=str(work_dir), image_limits=self.ctx.image_limits,
                              media=media)
            grace_s = cancel_grace(engine, options, self.ctx.timings.kill_grace_s)
            self._drive(task, token, message, grace_s, work_dir)
        finally:
            self.current_task_id = None
            if task.id not in self.tails:
                self._cleanup(task, work_dir)

    def _cleanup(self, task: Task, work_dir: Path) -> None:
        """Remove an ended attempt's work dir (and its task's, once empty); count it."""
        shutil.rmtree(work_dir, ignore_errors=True)
        try:
            work_dir.parent.rmdir()   # the task's directory, once no attempt uses it
        except OSError:
            pass
        self.tasks_run += 1      # (counted once the attempt's files are gone)

    def _write_inputs(self, task: Task, inputs_dir: Path
                      ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
        """Make the work dir, and copy the task's input images and reference clips, as their
        clients sent them, from storage into its ``inputs`` folder; ``(role, path, param)``
        each, images then clips."""
        spec = spec_from_json(task.spec)
        clips = spec.media if isinstance(spec, VideoSpec) else []
        (inputs_dir if spec.images or clips else inputs_dir.parent).mkdir(parents=True,
                                                                          exist_ok=True)
        written: tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]] = ([], [])
        for pairs, items, what in ((written[0], spec.images, "image"),
                                   (written[1], clips, "clip")):
            for n, item in enumerate(items):
                if not item.key:
                    raise EngineFailed(f"input {what} {n} ({item.role}) has no stored copy")
                path = inputs_dir / f"{n}-{item.role}"
                path.write_bytes(self.ctx.storage.get_bytes(item.key))
                pairs.append((item.role, str(path), item.param))
        return written

    def _drive(self, task: Task, token: str, message: RunTask, grace_s: float,
               work_dir: Path) -> None:
        """Send the task to the child and handle everything until it ends or moves to the
        tails; a cancel gives the engine ``grace_s`` to stop. The tails are served
        meanwhile."""
        proc = self.proc
        assert proc is not None
        now = time.monotonic()
        run = _Run(task=task, token=token, work_dir=work_dir, started=now, lease_renewed=now,
                   last_heartbeat=now, last_check=now, last_progress_write=now, grace_s=grace_s)
        last_tend = now
        try:
            proc.send(message)
            proc.state = ChildState.RUNNING
            while True:
                reply = proc.recv(TICK_S)
                if isinstance(reply, Loaded):
                    self.loads += 1
                    log.info("slot %d: engine %s loaded in %.1f s", self.index, reply.engine,
                             reply.seconds)
                elif isinstance(reply, Progress):
                    run.pending_progress = (reply.step, reply.total)
                elif isinstance(reply, Published) and reply.task_id == task.id:
                    self._publish(run, reply.output)
                elif isinstance(reply, Encoding) and reply.task_id == task.id:
                    proc.state = ChildState.READY   # the GPU is free: the next task may go
                    self.tails[task.id] = run
                    log.debug("task %s: GPU work done, its tail is being written", task.id)
                    return
                elif isinstance(reply, Ended) and reply.task_id in self.tails:
                    self._renew(run)   # storing the tail's files takes a while
                    self._end_tail(self.tails[reply.task_id], reply)
                elif isinstance(reply, Ended) and reply.task_id == task.id:
                    proc.state = ChildState.READY
                    self._conclude(run, reply)
                    return
                elif isinstance(reply, Ended):   # a tail already ended here (killed): stale
                    log.debug("slot %d: dropping a late reply for task %s", self.index,
                              reply.task_id)
                if reply is not None and proc.pending() and time.monotonic() - last_tend < TICK_S:
                    continue   # read a burst (progress, then done) before writing anything
                last_tend = time.monotonic()
                if not self._tend_all(proc, run):
                    return
        except ChildDied as exc:
            proc.kill()   # reap it, and anything it started
            self._child_died(run, str(exc))
            self._end_tails_died(str(exc))
        except LeaseLost:
            log.warning("task %s attempt %d: lease lost; killing the engine and dropping "
                        "this attempt", task.id, task.attempt)
            proc.kill()
            self._drop_outputs(task)
            self._end_tails_killed()

    def _renew(self, run: _Run) -> None:
        """Renew the running attempt's lease now (a hiccup is left to the regular upkeep;
        a lost lease is raised)."""
        try:
            self.ctx.queue.heartbeat(run.task.id, run.token, lease_s=self.ctx.timings.lease_s)
        except LeaseLost:
            raise
        except Exception:
            return
        run.lease_renewed = run.last_heartbeat = time.monotonic()

    def _publish(self, run: _Run, f: dict[str, Any]) -> None:
        """Store one file the engine finished early and record it on the running task, so a
        client streaming it gets the file now. A store or database hiccup only delays it to
        the task's end (``_finish`` stores whatever is not stored yet); a lost lease is
        raised."""
        task = run.task
        try:
            run.published[f["name"]] = self._stored(task, f)
            self.ctx.queue.publish(task.id, run.token, list(run.published.values()),
                                   lease_s=self.ctx.timings.lease_s)
        except LeaseLost:
            raise
        except Exception as exc:
            log.warning("task %s: %s could not be published early (%s: %s)", task.id,
                        f["name"], type(exc).__name__, exc)
            return
        run.lease_renewed = run.last_heartbeat = time.monotonic()

    def _stored(self, task: Task, f: dict[str, Any]) -> dict[str, Any]:
        """Upload one output file of the attempt; its ``OutputFile`` as a dict."""
        key = output_key(task.id, task.attempt, f["name"])
        size = self.ctx.storage.put_file(key, Path(f["path"]), f["content_type"])
        return OutputFile(
            name=f["name"], key=key, content_type=f["content_type"], size_bytes=size,
            width=f.get("width"), height=f.get("height"), frames=f.get("frames"),
            fps=f.get("fps"), has_audio=bool(f.get("has_audio"))).to_dict()

    def _idle(self, seconds: float) -> None:
        """Wait ``seconds`` (less on stop) while serving the tails: their ends, heartbeats,
        cancels, the drain."""
        if not self.tails:
            self.ctx.stop.sleep(seconds)
            return
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + seconds
        try:
            while self.tails and time.monotonic() < deadline:
                reply = proc.recv(TICK_S)
                if isinstance(reply, Ended) and reply.task_id in self.tails:
                    self._end_tail(self.tails[reply.task_id], reply)
                if not self._tend_all(proc, None):
                    return
        except ChildDied as exc:
            proc.kill()
            self._end_tails_died(str(exc))
        except Exception:   # a database error while tending: the child goes, leases lapse
            log.exception("slot %d: serving the tails failed; killing the engine", self.index)
            self._kill_child()

    def _tend_all(self, proc: EngineProcess, current: _Run | None) -> bool:
        """Tend the running attempt (``current``) and every tail; False once the child was
        killed, every attempt in it then ended (a lost lease of ``current`` is raised)."""
        for run in ([current] if current else []) + list(self.tails.values()):
            if run.lost:
                continue
            try:
                alive = self._tend(run, proc)
            except LeaseLost:
                if run is current:
                    raise
                log.warning("task %s attempt %d: lease lost while its tail was written; "
                            "dropping it", run.task.id, run.task.attempt)
                run.lost = True
                proc.send(Cancel(task_id=run.task.id))
                continue
            if not alive:   # killed for this run: the others go back uncounted
                self.tails.pop(run.task.id, None)
                if run is not current:
                    self._cleanup(run.task, run.work_dir)
                if current is not None and run is not current:
                    self._release(current.task, current.token)
                self._end_tails_killed()
                return False
        return True

    def _end_tail(self, run: _Run, reply: Ended) -> None:
        """A tail's end arrived: record it (dropped if its lease was lost), clean up."""
        del self.tails[run.task.id]
        try:
            if run.lost:
                self._drop_outputs(run.task)
            else:
                self._conclude(run, reply)
        except Exception as exc:   # its lease lapses and the reaper re-queues it
            log.warning("task %s attempt %d: its end could not be recorded (%s: %s)",
                        run.task.id, run.task.attempt, type(exc).__name__, exc)
            self.storage_trouble = exc
        finally:
            self._cleanup(run.task, run.work_dir)

    def _end_tails_killed(self) -> None:
        """The child was killed (for another attempt, or the drain): every tail goes back
        to the queue uncounted, or ends cancelled when that was asked for."""
        for run in list(self.tails.values()):
            del self.tails[run.task.id]
            with _unrecorded(run):
                if run.kill_reason is not None:
                    self._stop(run)
                elif not run.lost:
                    self._release(run.task, run.token)
            self._cleanup(run.task, run.work_dir)

    def _end_tails_died(self, description: str) -> None:
        """The child crashed: every tail in it fails (to be rerun)."""
        for run in list(self.tails.values()):
            del self.tails[run.task.id]
            if not run.lost:
                with _unrecorded(run):
                    self._child_died(run, description)
            self._cleanup(run.task, run.work_dir)

    def _tend(self, run: _Run, proc: EngineProcess) -> bool:
        """Periodic duties while the child works; False once the attempt has ended here."""
        ctx, timings, task, now = self.ctx, self.ctx.timings, run.task, time.monotonic()
        reply: HeartbeatReply | None = None
        try:
            due = now - run.last_progress_write >= timings.progress_interval_s
            if run.pending_progress and due:
                step, total = run.pending_progress
                reply = ctx.queue.progress(task.id, run.token, step, total, lease_s=timings.lease_s)
                run.pending_progress, run.last_progress_write = None, now
                run.lease_renewed = run.last_heartbeat = now
            elif now - run.last_heartbeat >= timings.heartbeat_s:
                reply = ctx.queue.heartbeat(task.id, run.token, lease_s=timings.lease_s)
                run.lease_renewed = run.last_heartbeat = now
            if self.kill_hint.is_set() or now - run.last_check >= timings.cancel_check_s:
                self.kill_hint.clear()
                run.last_check = now
                reply = ctx.queue.kill_requested(task.id, run.token)
        except LeaseLost:
            raise
        except Exception as exc:   # a database hiccup: keep going while the lease holds
            if now - run.upkeep_warned >= UPKEEP_WARN_S:   # once in a while, not every tick
                log.warning("task %s: lease upkeep failed (%s: %s)", task.id,
                            type(exc).__name__, exc)
                run.upkeep_warned = now
            run.last_heartbeat = run.last_check = run.last_progress_write = now
            if now - run.lease_renewed >= timings.lease_s * 0.9:
                raise LeaseLost(f"could not renew the lease of task {task.id}") from exc
        if reply is not None and reply.cancel_requested and run.kill_reason is None:
            run.kill_reason = reply.cancel_reason or "cancel"
            run.kill_deadline = now + run.grace_s
            log.info("task %s: kill requested (%s); asking the engine to stop within %.1f s",
                     task.id, run.kill_reason, run.grace_s)
            proc.send(Cancel(task_id=task.id))
        if run.kill_reason is not None and now >= run.kill_deadline:
            log.info("task %s: engine did not stop within %.1f s; killing process group %d",
                     task.id, run.grace_s, proc.pid)
            proc.kill()
            self._stop(run)
            return False
        if ctx.stop.drain_expired():
            log.info("task %s: shutting down; killing the engine and handing the task back",
                     task.id)
            proc.kill()
            self._release(run.task, run.token)
            return False
        return True

    # ---- endings ---------------------------------------------------------------------------

    def _conclude(self, run: _Run, reply: Ended) -> None:
        task = run.task
        if run.kill_reason is not None or isinstance(reply, Stopped):
            self._stop(run)   # a kill was asked for: whatever the engine returned is dropped
        elif isinstance(reply, Failed) and reply.transient:
            self._hand_back(task, run.token, StorageUnavailable(reply.message))
        elif isinstance(reply, Failed):
            self._fail(task, run.token, reply.code, reply.message, rerun=reply.retryable)
        else:
            self._finish(run, reply)

    def _finish(self, run: _Run, done: Done) -> None:
        task = run.task
        outputs: list[dict] = []
        try:   # a fresh lease for the upload (a large output to a slow store takes a while)
            self.ctx.queue.heartbeat(task.id, run.token, lease_s=self.ctx.timings.lease_s)
        except LeaseLost:
            log.warning("task %s attempt %d: lease lost before its outputs were stored",
                        task.id, task.attempt)
            return
        try:
            for f in done.outputs:   # (files published while it ran are stored already)
                outputs.append(run.published.get(f["name"]) or self._stored(task, f))
        except Exception as exc:
            self._drop_outputs(task)
            if isinstance(exc, StorageUnavailable):
                self._hand_back(task, run.token, exc)
                return
            self._fail(task, run.token, "InternalServiceError",
                       f"storing the outputs failed: {exc}", rerun=True)
            return
        try:
            self.ctx.queue.finish(task.id, run.token, outputs=outputs, seed=done.seed,
                                  usage_tokens=task.usage_tokens,
                                  engine_seconds=done.engine_seconds,
                                  engine_info=done.info or None)
        except LeaseLost:
            log.warning("task %s attempt %d finished after its lease was lost; dropping its "
                        "outputs", task.id, task.attempt)
            self._drop_outputs(task)
            return
        log.info("task %s attempt %d succeeded in %.1f s", task.id, task.attempt,
                 done.engine_seconds)

    def _child_died(self, run: _Run, description: str) -> None:
        log.error("task %s attempt %d: %s", run.task.id, run.task.attempt, description)
        if run.kill_reason is not None:
            self._stop(run)
        else:
            self._fail(run.task, run.token, "InternalServiceError", description, rerun=True)

    def _fail(self, task: Task, token: str, code: str, message: str, *, rerun: bool) -> None:
        try:
            after = self.ctx.queue.fail(task.id, token, code=code, message=message, rerun=rerun)
            log.info("task %s attempt %d: %s (%s)", task.id, task.attempt,
                     after.status.value, message)
        except LeaseLost:
            log.warning("task %s: lease lost before its failure could be recorded", task.id)

    def _stop(self, run: _Run) -> None:
        try:
            after = self.ctx.queue.stop(run.task.id, run.token)
            log.info("task %s attempt %d: %s", run.task.id, run.task.attempt,
                     after.status.value)
        except LeaseLost:
            log.warning("task %s: lease lost before it could be stopped", run.task.id)

    def _hand_back(self, task: Task, token: str, cause: BaseException) -> None:
        """Storage trouble (a full disk, an unreachable store) stopped this attempt: the task
        goes back to the queue, no failed attempt counted, and this slot backs off."""
        log.info("task %s attempt %d handed back to the queue", task.id, task.attempt)
        self._release(task, token)
        self.storage_trouble = cause

    def _release(self, task: Task, token: str) -> None:
        """Back to the queue, uncounted (a drain that ran out, storage trouble)."""
        try:
            self.ctx.queue.release(task.id, token)
        except LeaseLost:
            log.warning("task %s: lease lost before it could be handed back", task.id)

    def _drop_outputs(self, task: Task) -> None:
        try:
            self.ctx.storage.delete_prefix(f"tasks/{task.id}/{task.attempt}/")
        except Exception:
            log.exception("task %s: could not delete the outputs of attempt %d", task.id,
                          task.attempt)
