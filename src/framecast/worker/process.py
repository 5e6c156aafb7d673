"""One engine child as the supervisor sees it: spawn, talk, kill its process group.

The child runs ``framecast.worker.child.main`` in a ``spawn``-context process and makes itself
a session and process-group leader before it says ``Ready``, so ``kill`` can take down the
child and anything it started (SIGTERM to the group, a short wait, then SIGKILL). A child
given a ``gpu`` sees only that device (``CUDA_VISIBLE_DEVICES``, set in the child: a spawned
process copies the parent's environment, which other threads may be spawning from).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from typing import Any

from framecast.core.errors import EngineFailed
from framecast.worker import child
from framecast.worker.messages import ChildState, FromChild, Ready, Shutdown, ToChild

log = logging.getLogger("framecast.worker")

START_TIMEOUT_S = 120.0   # spawning a child imports Pillow, pydantic and the engine module
TERM_WAIT_S = 1.0         # after SIGTERM to the group, how long before SIGKILL
SHUTDOWN_WAIT_S = 5.0     # an idle child asked to exit gets this long before it is killed


class ChildDied(Exception):
    """The child's pipe closed or the process exited; ``exit_description`` says how."""


def describe_exit(exitcode: int | None) -> str:
    """A user-facing sentence for a child's exit status."""
    if exitcode is None:
        return "engine process stopped responding"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        text = f"engine process exited with {exitcode} ({name})"
        if -exitcode == signal.SIGKILL:
            text += "; likely out of memory"
        return text
    return f"engine process exited with {exitcode}"


class EngineProcess:
    """A spawned engine child, its pipe and its state."""

    def __init__(self, *, warm_engines: int = 1, name: str = "framecast-engine",
                 gpu: str | None = None) -> None:
        self.state = ChildState.LOADING
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe(duplex=True)
        self.process = context.Process(target=child.main, args=(child_conn, warm_engines, gpu),
                                       name=name, daemon=True)
        self.process.start()
        child_conn.close()   # the child holds its end; EOF here now means it is gone
        self.pid: int = self.process.pid or 0

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Block until the child says ``Ready`` (``EngineFailed`` if it dies or hangs)."""
        try:
            message = self.recv(timeout_s)
        except ChildDied as exc:
            raise EngineFailed(f"engine process failed to start: {exc}") from exc
        if not isinstance(message, Ready):
            self.kill()
            raise EngineFailed(f"engine process did not start within {timeout_s:.0f} s")
        self.state = ChildState.READY

    def send(self, message: ToChild) -> None:
        """Send one message (``ChildDied`` when the pipe is closed)."""
        try:
            self.conn.send(message)
        except (OSError, EOFError, ValueError) as exc:
            raise ChildDied(self.exit_description()) from exc

    def recv(self, timeout_s: float) -> FromChild | None:
        """The next message, or None after ``timeout_s``; ``ChildDied`` on EOF."""
        try:
            if not self.conn.poll(timeout_s):
                return None
            message: Any = self.conn.recv()
        except (OSError, EOFError, ValueError) as exc:
            self.process.join(timeout=2.0)
            self.state = ChildState.DEFUNCT
            raise ChildDied(self.exit_description()) from exc
        return message

    def pending(self) -> bool:
        """Whether a message (or EOF) is waiting to be read."""
        try:
            return self.conn.poll(0)
        except (OSError, ValueError):
            return True

    def alive(self) -> bool:
        """Whether the process is still running and usable."""
        return self.state is not ChildState.DEFUNCT and self.process.is_alive()

    def exit_description(self) -> str:
        """How the process ended (``engine process exited with -9 (SIGKILL); ...``)."""
        return describe_exit(self.process.exitcode)

    def kill(self, term_wait_s: float = TERM_WAIT_S) -> None:
        """SIGTERM the child's process group, wait, then SIGKILL the group (anything it
        started included) and reap the child."""
        for sig, wait_s in ((signal.SIGTERM, term_wait_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass   # the group is already empty
            except PermissionError:
                self.process.kill()
            self.process.join(timeout=wait_s)
        self.state = ChildState.DEFUNCT
        self.conn.close()

    def shutdown(self) -> None:
        """Ask an idle child to exit; kill it if it does not."""
        if self.state is not ChildState.DEFUNCT and self.process.is_alive():
            try:
                self.conn.send(Shutdown())
                self.process.join(timeout=SHUTDOWN_WAIT_S)
            except (OSError, ValueError):
                pass
        self.kill()
        log.debug("engine process %d exited (%s)", self.pid, self.exit_description())
