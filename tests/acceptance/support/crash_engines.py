"""A test engine for the crash tests, loaded by the server through the registry's
``module:Class`` hook (``tests/acceptance`` is on the server's ``PYTHONPATH``):

* ``StubbornEngine`` starts a grandchild that ignores SIGTERM, writes its pid, then sleeps
  without ever checking ``cancelled()``: only killing the engine child's whole process group
  (SIGTERM, then SIGKILL) stops it. It is how a GPU engine stuck in one long kernel behaves.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines.base import (
    CancelledFn,
    Capabilities,
    Engine,
    EngineInputs,
    EngineOutputs,
    ProgressFn,
)
from framecast.engines.testing import write_placeholder_outputs

STUBBORN_SLEEP_S = 120.0
# the grandchild: ignore SIGTERM, so only the SIGKILL to the group can end it
_GRANDCHILD = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               f"time.sleep({STUBBORN_SLEEP_S})")


class StubbornEngine(Engine):
    """Ignores cancel; leaves a SIGTERM-proof grandchild in its process group."""

    name: ClassVar[str] = "stubborn"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"video"}))

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Start the grandchild, record its pid in ``options["pid_file"]``, then sleep."""
        grandchild = subprocess.Popen([sys.executable, "-c", _GRANDCHILD])
        Path(self.options["pid_file"]).write_text(str(grandchild.pid))
        progress(1, 100)
        time.sleep(STUBBORN_SLEEP_S)
        return EngineOutputs(files=write_placeholder_outputs(spec, inputs.work_dir),
                             seed=spec.seed or 0)
