"""Work dirs: each worker's own, locked while it lives; what a dead one left (kill -9) is
swept when a worker starts and when an attempt begins; a live one's is never touched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from framecast.worker.workdirs import WorkDirs

HOLDER = """
import sys, time
from pathlib import Path
from framecast.worker.workdirs import WorkDirs
dirs = WorkDirs(Path(sys.argv[1]))
dirs.open()
attempt = dirs.attempt_dir("cgt-killed", 1)
(attempt / "inputs").mkdir(parents=True)
(attempt / "inputs" / "0-first_frame").write_bytes(b"photo")
(attempt / "video.mp4").write_bytes(b"partial")
print(dirs.owner, flush=True)
time.sleep(60)
"""


def test_a_live_worker_keeps_its_dir_and_a_dead_ones_is_swept(tmp_path: Path) -> None:
    root = tmp_path / "work"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        owner = holder.stdout.readline().strip()
        assert (root / owner / "cgt-killed" / "1" / "video.mp4").exists()
        # while it lives, a new worker's sweep leaves its files alone
        mine = WorkDirs(root)
        mine.open()
        assert (root / owner / "cgt-killed" / "1" / "video.mp4").exists()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        # leftovers of older layouts (no lock at all) go too; a live worker's never
        (root / "cgt-old" / "1").mkdir(parents=True)
        assert mine.sweep() == 3           # the dead dir, its lock file, cgt-old
        assert sorted(p.name for p in root.iterdir()) == sorted([mine.owner,
                                                                 f"{mine.owner}.lock"])
        mine.close()
        assert not any(root.iterdir())
    finally:
        holder.kill()
        holder.wait()


def test_two_workers_on_one_data_dir_never_sweep_each_other(tmp_path: Path) -> None:
    root = tmp_path / "work"
    first, second = WorkDirs(root), WorkDirs(root)
    first.open()
    (first.attempt_dir("cgt-a", 1)).mkdir(parents=True)
    second.open()
    time.sleep(0.01)
    assert second.sweep() == 0 and first.sweep() == 0
    assert first.attempt_dir("cgt-a", 1).is_dir() and second.mine.is_dir()
    second.close()
    first.close()
