"""The worker's private scratch space: ``{work_root}/{owner}/{task_id}/{attempt}/``.

Each supervisor owns one directory under the work root and holds an exclusive ``flock`` on
``{owner}.lock`` for as long as it lives. The kernel drops the lock when the process dies,
however it dies (kill -9, power loss on a persistent volume), so ``sweep`` can tell a dead
worker's directory from a live one's and remove it: at start, and whenever a task's attempt
begins. Several workers may share one data directory; none ever deletes another live one's
files. Nothing here is shared between machines: inputs come from the blob store and outputs
go back to it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
from pathlib import Path

log = logging.getLogger("framecast.worker")


class WorkDirs:
    """One supervisor's directory under ``root``, locked while the supervisor lives."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.owner = f"{os.getpid()}-{secrets.token_hex(3)}"
        self._lock_fd: int | None = None

    @property
    def mine(self) -> Path:
        """This supervisor's directory."""
        return self.root / self.owner

    def open(self) -> None:
        """Create and lock this supervisor's directory, then sweep the dead ones."""
        self.root.mkdir(parents=True, exist_ok=True)
        # locked under a hidden name first, so that no sweep ever sees it unlocked
        hidden = self.root / f".{self.owner}.lock"
        fd = os.open(hidden, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, self.root / f"{self.owner}.lock")
        self._lock_fd = fd
        self.mine.mkdir(exist_ok=True)
        self.sweep()

    def close(self) -> None:
        """Remove this supervisor's directory and release its lock."""
        shutil.rmtree(self.mine, ignore_errors=True)
        if self._lock_fd is not None:
            (self.root / f"{self.owner}.lock").unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def attempt_dir(self, task_id: str, attempt: int) -> Path:
        """Where one attempt of a task works (not created here)."""
        return self.mine / task_id / str(attempt)

    def sweep(self) -> int:
        """Remove every directory whose owner is dead (its lock can be taken), and anything
        else in the root that no live worker owns; returns how many entries went."""
        removed = 0
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return 0
        live = {self.owner}
        for lock in (e for e in entries if e.suffix == ".lock" and e.stem != self.owner):
            if _held(lock):
                live.add(lock.stem)
        for entry in entries:
            name = entry.stem if entry.suffix == ".lock" else entry.name
            if name in live or entry.name.startswith("."):
                continue
            if _held(self.root / f"{name}.lock"):   # a worker that started since the listing
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %d work dir(s) of dead attempts under %s", removed, self.root)
        return removed


def _held(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (its owner is alive). A lock file that cannot
    be opened (another user's) counts as held: only one that is gone, or unlocked, is dead."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
