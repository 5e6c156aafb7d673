"""The diffusers engines on tiny, randomly initialised pipelines (``support/tiny*.py``), on
the CPU.

These tests need the ``framecast[diffusers]`` extra (torch, diffusers, transformers), which
``make test`` installs and asks for (``FRAMECAST_REQUIRE_DIFFUSERS=1``). Run elsewhere without
the extra, they are skipped, saying so.

The acceptance helpers (``tests.acceptance.support.server``: a real ``framecast serve``
process) serve these tests too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
# nothing in these tests may reach the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

MISSING = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (or, under ``FRAMECAST_REQUIRE_DIFFUSERS=1``, fail) without the extra."""
    if not MISSING:
        return
    reason = (f"the diffusers extra is not installed ({', '.join(MISSING)} missing): "
              f"pip install -e '.[diffusers]'")
    if os.environ.get("FRAMECAST_REQUIRE_DIFFUSERS") == "1":
        raise pytest.UsageError(reason)
    for item in items:
        if str(HERE) in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without torch the test modules cannot even be imported: collect none of them."""
    if MISSING and collection_path.suffix == ".py" and collection_path.name.startswith("test_") \
            and os.environ.get("FRAMECAST_REQUIRE_DIFFUSERS") != "1":
        return True
    return None


# One torch thread: the tiny models gain nothing from more, and on shared cores idle OpenMP
# threads spinning cost several times the work itself.
TORCH_THREADS = 1


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run torch on ``TORCH_THREADS`` threads for a module that asks for it
    (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    yield
    torch.set_num_threads(before)


class StopLoad(Exception):
    """Raised by the ``pretrained_calls`` spy once it has seen the arguments."""


@pytest.fixture
def pretrained_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``FluxPipeline.from_pretrained`` replaced by a spy that records its keyword arguments
    (and the path, as ``path``) and stops the load there with ``StopLoad``."""
    from diffusers import FluxPipeline

    seen: list[dict[str, Any]] = []

    def spy(cls: Any, path: str, **kwargs: Any) -> Any:
        seen.append({"path": path, **kwargs})
        raise StopLoad()

    monkeypatch.setattr(FluxPipeline, "from_pretrained", classmethod(spy))
    return seen
