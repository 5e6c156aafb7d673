"""One engine slot: a thread that keeps one child alive and drives claimed tasks through it.

Per task: write the checked input images into ``{work_root}/{task_id}/{attempt}/inputs/``,
send ``RunTask``, then until the child replies: relay progress (throttled), heartbeat, and
check the kill flag; on a kill send ``Cancel``, give the engine ``kill_grace_s`` to stop on
its own, then kill the child's process group. Outputs are stored under attempt-scoped keys
and the task finished in one fenced write. A lost lease (``LeaseLost``) means another worker
may own the task now: the child is killed at once and this attempt's output dropped.
All database and storage calls happen here, never in the child.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from framecast.core.errors import EngineFailed, LeaseLost
from framecast.core.task import OutputFile, Task
from framecast.storage.base import output_key
from framecast.store.queue import Claim, HeartbeatReply
from framecast.worker.messages import (
    Cancel,
    ChildState,
    Done,
    Failed,
    Loaded,
    Progress,
    RunTask,
    Stopped,
)
from framecast.worker.process import ChildDied, EngineProcess

if TYPE_CHECKING:
    from framecast.worker.supervisor import Supervisor

log = logging.getLogger("framecast.worker")

TICK_S = 0.05          # how long one wait on the child's pipe lasts
SPAWN_RETRY_S = 2.0    # pause after a child failed to start


@dataclass
class _Run:
    """The bookkeeping of one attempt while it runs."""

    task: Task
    token: str
    started: float
    lease_renewed: float
    last_heartbeat: float
    last_check: float
    last_progress_write: float
    pending_progress: tuple[int, int] | None = None
    kill_reason: str | None = None
    kill_deadline: float = 0.0


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


class Slot:
    """One engine child and the thread that feeds it tasks."""

    def __init__(self, supervisor: Supervisor, index: int) -> None:
        self.sup = supervisor
        self.index = index
        self.proc: EngineProcess | None = None
        self.loads = 0           # engine loads across this slot's children
        self.tasks_run = 0
        self.current_task_id: str | None = None
        self.kill_hint = threading.Event()   # set by NOTIFY / local cancel for our task

    # ---- the slot's thread -----------------------------------------------------------------

    def loop(self) -> None:
        """Claim and run tasks until the supervisor stops."""
        sup = self.sup
        lower_priority(sup.nice)
        while not sup.stopping:
            if not self._ensure_child():
                sup.sleep(SPAWN_RETRY_S)
                continue
            try:
                claims = sup.queue.claim(sup.worker_id, sup.engine_list, 1, lease_s=sup.lease_s)
            except Exception:
                log.exception("slot %d: claim failed", self.index)
                sup.sleep(sup.poll_s)
                continue
            if not claims:
                sup.queue.wait_for_work(sup.poll_s, sup.engine_list)
                continue
            try:
                self.run_task(claims[0])
            except Exception:
                log.exception("slot %d: task %s ended with an unexpected error", self.index,
                              claims[0].task.id)
                self._kill_child()
        if self.proc is not None:
            self.proc.shutdown()

    def _ensure_child(self) -> bool:
        if self.proc is not None and self.proc.alive():
            return True
        try:
            self.proc = EngineProcess(warm_engines=self.sup.warm_engines,
                                      name=f"framecast-engine-{self.index}")
            self.proc.wait_ready()
        except Exception:
            log.exception("slot %d: engine process failed to start", self.index)
            return False
        log.info("slot %d: engine process %d ready", self.index, self.proc.pid)
        return True

    def _kill_child(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    # ---- one task --------------------------------------------------------------------------

    def run_task(self, claim: Claim) -> None:
        """Run one claimed attempt to a terminal (or re-queued) state, then clean up."""
        task, token = claim.task, claim.lease_token
        work_dir = self.sup.work_root / task.id / str(task.attempt)
        log.debug("task %s attempt %d claimed by slot %d (engine %s)", task.id, task.attempt,
                  self.index, task.engine)
        self.current_task_id = task.id
        self.kill_hint.clear()
        try:
            try:
                engine, options = self.sup.resolve_engine(task)
                inputs = self._write_inputs(task, work_dir / "inputs")
            except Exception as exc:
                self._fail(task, token, "InternalServiceError",
                           f"task could not be prepared: {exc}", rerun=False)
                return
            message = RunTask(task_id=task.id, attempt=task.attempt, engine=engine,
                              options=dict(options), spec=task.spec, inputs=inputs,
                              work_dir=str(work_dir))
            self._drive(task, token, message)
        finally:
            self.current_task_id = None
            self.tasks_run += 1
            shutil.rmtree(work_dir, ignore_errors=True)
            try:
                work_dir.parent.rmdir()   # the task's directory, once no attempt uses it
            except OSError:
                pass

    def _write_inputs(self, task: Task, inputs_dir: Path) -> list[tuple[str, str]]:
        """Make the work dir, and copy the task's checked input images from storage into
        its ``inputs`` folder."""
        images = task.spec.get("images") or []
        (inputs_dir if images else inputs_dir.parent).mkdir(parents=True, exist_ok=True)
        pairs = []
        for n, image in enumerate(images):
            role, key = image.get("role", "first_frame"), image.get("key")
            if not key:
                raise EngineFailed(f"input image {n} ({role}) has no stored copy")
            path = inputs_dir / f"{n}-{role}.png"
            path.write_bytes(self.sup.storage.get_bytes(key))
            pairs.append((role, str(path)))
        return pairs

    def _drive(self, task: Task, token: str, message: RunTask) -> None:
        """Send the task to the child and handle everything until it ends."""
        proc = self.proc
        assert proc is not None
        now = time.monotonic()
        run = _Run(task=task, token=token, started=now, lease_renewed=now, last_heartbeat=now,
                   last_check=now, last_progress_write=now)
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
                elif isinstance(reply, Done | Failed | Stopped):
                    proc.state = ChildState.READY
                    self._conclude(run, reply)
                    return
                if reply is not None and proc.pending() and time.monotonic() - last_tend < TICK_S:
                    continue   # read a burst (progress, then done) before writing anything
                last_tend = time.monotonic()
                if not self._tend(run, proc):
                    return
        except ChildDied as exc:
            proc.kill()   # reap it, and anything it started
            self._child_died(run, str(exc))
        except LeaseLost:
            log.warning("task %s attempt %d: lease lost; killing the engine and dropping "
                        "this attempt", task.id, task.attempt)
            proc.kill()
            self._drop_outputs(task)

    def _tend(self, run: _Run, proc: EngineProcess) -> bool:
        """Periodic duties while the child works; False once the attempt has ended here."""
        sup, task, now = self.sup, run.task, time.monotonic()
        reply: HeartbeatReply | None = None
        try:
            if run.pending_progress and now - run.last_progress_write >= sup.progress_interval_s:
                step, total = run.pending_progress
                reply = sup.queue.progress(task.id, run.token, step, total, lease_s=sup.lease_s)
                run.pending_progress, run.last_progress_write = None, now
                run.lease_renewed = run.last_heartbeat = now
            elif now - run.last_heartbeat >= sup.heartbeat_s:
                reply = sup.queue.heartbeat(task.id, run.token, lease_s=sup.lease_s)
                run.lease_renewed = run.last_heartbeat = now
            if self.kill_hint.is_set() or now - run.last_check >= sup.cancel_check_s:
                self.kill_hint.clear()
                run.last_check = now
                reply = sup.queue.kill_requested(task.id, run.token)
        except LeaseLost:
            raise
        except Exception as exc:   # a database hiccup: keep going while the lease holds
            log.warning("task %s: lease upkeep failed (%s: %s)", task.id, type(exc).__name__, exc)
            run.last_heartbeat = run.last_check = now
            if now - run.lease_renewed >= sup.lease_s * 0.9:
                raise LeaseLost(f"could not renew the lease of task {task.id}") from exc
        if reply is not None and reply.cancel_requested and run.kill_reason is None:
            run.kill_reason = reply.cancel_reason or "cancel"
            run.kill_deadline = now + sup.kill_grace_s
            log.info("task %s: kill requested (%s); asking the engine to stop", task.id,
                     run.kill_reason)
            proc.send(Cancel(task_id=task.id))
        if run.kill_reason is not None and now >= run.kill_deadline:
            log.info("task %s: engine did not stop within %.1f s; killing process group %d",
                     task.id, sup.kill_grace_s, proc.pid)
            proc.kill()
            self._stop(run)
            return False
        if sup.drain_expired():
            log.info("task %s: shutting down; killing the engine and handing the task back",
                     task.id)
            proc.kill()
            self._release(run)
            return False
        return True

    # ---- endings ---------------------------------------------------------------------------

    def _conclude(self, run: _Run, reply: Done | Failed | Stopped) -> None:
        task = run.task
        if run.kill_reason is not None or isinstance(reply, Stopped):
            self._stop(run)   # a kill was asked for: whatever the engine returned is dropped
        elif isinstance(reply, Failed):
            self._fail(task, run.token, reply.code, reply.message, rerun=reply.retryable)
        else:
            self._finish(run, reply)

    def _finish(self, run: _Run, done: Done) -> None:
        task = run.task
        outputs: list[dict] = []
        try:
            for f in done.outputs:
                key = output_key(task.id, task.attempt, f["name"])
                size = self.sup.storage.put_file(key, Path(f["path"]), f["content_type"])
                outputs.append(OutputFile(
                    name=f["name"], key=key, content_type=f["content_type"], size_bytes=size,
                    width=f.get("width"), height=f.get("height"), frames=f.get("frames"),
                    fps=f.get("fps"), has_audio=bool(f.get("has_audio"))).to_dict())
        except Exception as exc:
            self._drop_outputs(task)
            self._fail(task, run.token, "InternalServiceError",
                       f"storing the outputs failed: {exc}", rerun=True)
            return
        try:
            self.sup.queue.finish(task.id, run.token, outputs=outputs, seed=done.seed,
                                  usage_tokens=task.usage_tokens,
                                  engine_seconds=done.engine_seconds)
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
            after = self.sup.queue.fail(task.id, token, code=code, message=message, rerun=rerun)
            log.info("task %s attempt %d: %s (%s)", task.id, task.attempt,
                     after.status.value, message)
        except LeaseLost:
            log.warning("task %s: lease lost before its failure could be recorded", task.id)

    def _stop(self, run: _Run) -> None:
        try:
            after = self.sup.queue.stop(run.task.id, run.token)
            log.info("task %s attempt %d: %s", run.task.id, run.task.attempt,
                     after.status.value)
        except LeaseLost:
            log.warning("task %s: lease lost before it could be stopped", run.task.id)

    def _release(self, run: _Run) -> None:
        try:
            self.sup.queue.release(run.task.id, run.token)
        except LeaseLost:
            log.warning("task %s: lease lost before it could be handed back", run.task.id)

    def _drop_outputs(self, task: Task) -> None:
        try:
            self.sup.storage.delete_prefix(f"tasks/{task.id}/{task.attempt}/")
        except Exception:
            log.exception("task %s: could not delete the outputs of attempt %d", task.id,
                          task.attempt)
