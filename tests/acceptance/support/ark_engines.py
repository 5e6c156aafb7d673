"""Test engines loaded by the acceptance server through the registry's ``module:Class`` hook
(``tests/acceptance`` is on the server's ``PYTHONPATH``):

* ``FailsEngine`` fails every task on purpose, so the Ark rendering of a failed task, DELETE
  of a failed task and a failed synchronous image can be checked quickly;
* ``TextOnlyImageEngine`` makes images but accepts no input image, so the image API's
  refusal of inputs an engine cannot use can be checked.
"""

from __future__ import annotations

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

FAILURE_MESSAGE = "the acceptance test engine fails on purpose"


class FailsEngine(Engine):
    """Raises in ``run`` after one progress report."""

    name: ClassVar[str] = "fails"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"video", "image"}),
        roles=frozenset({"first_frame", "last_frame", "reference_image"}),
        max_reference_images=4)

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Fail."""
        progress(1, 2)
        raise RuntimeError(FAILURE_MESSAGE)


class TextOnlyImageEngine(Engine):
    """Text-to-image only: declares no image roles; writes placeholder images."""

    name: ClassVar[str] = "text_only_image"
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"image"}))

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """Write a placeholder image of the spec's size."""
        files = write_placeholder_outputs(spec, inputs.work_dir)
        progress(1, 1)
        return EngineOutputs(files=files, seed=spec.seed or 0)
