"""Test engines loaded by the acceptance server through the registry's ``module:Class`` hook
(``tests/acceptance`` is on the server's ``PYTHONPATH``):

* ``FailsEngine`` fails every task on purpose, so the Ark rendering of a failed task, DELETE
  of a failed task and a failed synchronous image can be checked quickly;
* ``TextOnlyImageEngine`` makes images but accepts no input image, so the image API's
  refusal of inputs an engine cannot use can be checked;
* ``SlowSetEngine`` is the test card with a set's images ``SET_IMAGE_S`` apart, so a stream
  can be seen to deliver each image as it is made.
"""

from __future__ import annotations

import time
from typing import ClassVar

from framecast.core.spec import ImageSpec, VideoSpec
from framecast.engines.base import (
    CancelledFn,
    Capabilities,
    Engine,
    EngineInputs,
    EngineOutputs,
    OutputFileInfo,
    ProgressFn,
)
from framecast.engines.testcard import TestcardEngine
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


SET_IMAGE_S = 1.0


class SlowSetEngine(TestcardEngine):
    """The test card, each image of a set published, then ``SET_IMAGE_S`` before the next."""

    name: ClassVar[str] = "slow_set"

    def run(self, spec: VideoSpec | ImageSpec, inputs: EngineInputs, progress: ProgressFn,
            cancelled: CancelledFn) -> EngineOutputs:
        """The test card's images, slowly."""
        publish = inputs.publish

        def slowly(file: OutputFileInfo) -> None:
            if publish is not None:
                publish(file)
            time.sleep(SET_IMAGE_S)

        inputs.publish = slowly
        return super().run(spec, inputs, progress, cancelled)
