"""A test engine for the native models endpoint, loaded through the registry's
``module:Class`` hook (``tests/acceptance`` is on the server's ``PYTHONPATH``):
``WeightsEngine`` declares that it needs weights, so ``weights_present`` has something to
check. It is never run."""

from __future__ import annotations

from typing import ClassVar

from framecast.engines.base import Capabilities, Engine


class WeightsEngine(Engine):
    """A video engine that needs weights (a stand-in for a diffusers engine)."""

    name: ClassVar[str] = "weights_stand_in"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"video"}), roles=frozenset({"first_frame"}), needs_weights=True,
        resolutions=frozenset({"480p", "720p"}))
