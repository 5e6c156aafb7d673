"""Which GPU each engine slot gets (``worker/gpus.py``), the engine's cancel grace and GPU
flag (``engines/base.py``), and how the worker reads them (``slot.cancel_grace``,
``runtime.gpu_engines``); no process is spawned."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from framecast.api.runtime import gpu_engines
from framecast.core.errors import ConfigError
from framecast.engines.base import DEFAULT_CANCEL_GRACE_S, Engine
from framecast.service.registry import ModelEntry, Registry
from framecast.worker.gpus import (
    parse_nvidia_smi,
    parse_visible_devices,
    slot_gpus,
    visible_gpus,
)
from framecast.worker.slot import cancel_grace

NVIDIA_SMI_L = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-11111111-aaaa-bbbb-cccc-000000000000)
GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-22222222-aaaa-bbbb-cccc-000000000000)
  MIG 3g.40gb     Device  0: (UUID: MIG-33333333-aaaa-bbbb-cccc-000000000000)
  MIG 3g.40gb     Device  1: (UUID: MIG-44444444-aaaa-bbbb-cccc-000000000000)
"""


class GpuEngine(Engine):
    """Runs on a GPU, waits long for a cancel (as the diffusers engines do)."""

    name: ClassVar[str] = "gpu_engine"
    gpu: ClassVar[bool] = True
    cancel_grace_s: ClassVar[float] = 60.0


class StrictEngine(Engine):
    """Refuses option keys it does not know, as ``DiffusersOptions.parse`` does."""

    name: ClassVar[str] = "strict"

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        if set(self.options) - {"steps"}:
            raise ConfigError(f"unknown keys {sorted(set(self.options) - {'steps'})}")


# ---- the GPUs a worker may use ----------------------------------------------------------------

@pytest.mark.parametrize(("value", "devices"), [
    ("0,1", ["0", "1"]),
    (" 2 , 3 ", ["2", "3"]),
    ("", []),
    ("1,-1,2", ["1"]),                       # CUDA ignores what follows an invalid index
    ("GPU-abc,MIG-def", ["GPU-abc", "MIG-def"]),
])
def test_cuda_visible_devices_is_read_as_cuda_reads_it(value: str, devices: list[str]) -> None:
    assert parse_visible_devices(value) == devices


def test_nvidia_smi_lists_whole_gpus_and_the_mig_instances_of_a_split_one() -> None:
    assert parse_nvidia_smi(NVIDIA_SMI_L) == [
        "GPU-11111111-aaaa-bbbb-cccc-000000000000",
        "MIG-33333333-aaaa-bbbb-cccc-000000000000",
        "MIG-44444444-aaaa-bbbb-cccc-000000000000"]
    assert parse_nvidia_smi("") == []


def test_the_parents_cuda_visible_devices_wins_over_nvidia_smi(tmp_path: Path) -> None:
    def smi() -> str:
        raise AssertionError("nvidia-smi must not run when the variable is set")

    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "4,5"}, smi, tmp_path) == ["4", "5"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, smi, tmp_path) == []


def test_without_the_variable_nvidia_smi_then_the_driver_are_asked(tmp_path: Path) -> None:
    assert visible_gpus({}, lambda: NVIDIA_SMI_L, tmp_path)[0].startswith("GPU-1111")
    (tmp_path / "0000:1a:00.0").mkdir()
    (tmp_path / "0000:3d:00.0").mkdir()
    assert visible_gpus({}, lambda: None, tmp_path) == ["0", "1"]
    assert visible_gpus({}, lambda: None, tmp_path / "absent") == []


# ---- one GPU per slot -------------------------------------------------------------------------

def never() -> list[str]:
    raise AssertionError("the GPUs need not be listed here")


def test_one_slot_or_no_gpu_engine_leaves_every_child_as_today() -> None:
    assert slot_gpus(1, {"wan_i2v"}, discover=never) == [None]
    assert slot_gpus(4, set(), discover=never) == [None] * 4


def test_a_machine_without_a_gpu_runs_any_number_of_slots_as_today() -> None:
    assert slot_gpus(3, {"wan_i2v"}, discover=list) == [None, None, None]


def test_each_slot_gets_its_own_gpu() -> None:
    assert slot_gpus(2, {"wan_i2v"}, discover=lambda: ["2", "3"]) == ["2", "3"]
    assert slot_gpus(2, {"wan_i2v"}, discover=lambda: ["0", "1", "2"]) == ["0", "1"]


def test_more_slots_than_gpus_is_refused_naming_slots_and_the_sharing_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        slot_gpus(3, {"wan_i2v", "ltx2"}, discover=lambda: ["0", "1"])
    message = str(caught.value)
    assert "--slots 3" in message and "ltx2, wan_i2v" in message and "2 GPUs (0, 1)" in message
    assert "--slots 2 or fewer" in message and "FRAMECAST_GPU_SLOTS_PER_DEVICE=2" in message


def test_an_explicit_setting_lets_slots_share_a_gpu() -> None:
    assert slot_gpus(2, {"zimage"}, per_device=2, discover=lambda: ["0"]) == ["0", "0"]
    assert slot_gpus(4, {"zimage"}, per_device=2, discover=lambda: ["0", "1"]) == [
        "0", "0", "1", "1"]
    with pytest.raises(ConfigError, match="--slots 3"):
        slot_gpus(3, {"zimage"}, per_device=2, discover=lambda: ["0"])


def test_the_gpu_engines_are_the_registrys_entries_that_run_on_a_gpu() -> None:
    gpu = f"{__name__}:GpuEngine"
    registry = Registry([
        ModelEntry(id="big", kind="video", engine=gpu),
        ModelEntry(id="cpu-only", kind="video", engine=f"{__name__}:StrictEngine"),
        ModelEntry(id="motion", kind="video", engine="motion"),
        ModelEntry(id="broken", kind="video", engine="no_such_engine"),
    ])
    assert gpu_engines(registry, registry.engines()) == {gpu}
    assert gpu_engines(registry, {"motion"}) == set()
    pinned = Registry([ModelEntry(id="big", kind="video", engine=gpu,
                                  options={"device": "cpu"})])
    assert gpu_engines(pinned, pinned.engines()) == set()


# ---- the cancel grace -------------------------------------------------------------------------

def test_an_engines_grace_is_its_class_unless_the_model_says_otherwise() -> None:
    assert Engine.cancel_grace_for() == DEFAULT_CANCEL_GRACE_S == 2.0
    assert GpuEngine.cancel_grace_for({}) == 60.0
    assert GpuEngine.cancel_grace_for({"cancel_grace_s": 90}) == 90.0
    assert GpuEngine.cancel_grace_for({"cancel_grace_s": 0}) == 0.0


@pytest.mark.parametrize("bad", [-1, 3601, "60", True, float("nan"), float("inf"), None])
def test_a_bad_grace_is_a_config_error_naming_the_option(bad: object) -> None:
    with pytest.raises(ConfigError, match="cancel_grace_s"):
        GpuEngine.cancel_grace_for({"cancel_grace_s": bad})
    with pytest.raises(ConfigError, match="cancel_grace_s"):
        GpuEngine({"cancel_grace_s": bad})


def test_the_grace_option_never_reaches_an_engine_that_refuses_unknown_keys() -> None:
    engine = StrictEngine({"steps": 4, "cancel_grace_s": 30})
    assert engine.options == {"steps": 4}


def test_the_slot_waits_the_engines_grace_and_at_least_the_workers() -> None:
    gpu = f"{__name__}:GpuEngine"
    assert cancel_grace(gpu, {}, floor_s=2.0) == 60.0
    assert cancel_grace(gpu, {"cancel_grace_s": 5}, floor_s=2.0) == 5.0
    assert cancel_grace(gpu, {"cancel_grace_s": 0.5}, floor_s=2.0) == 2.0
    assert cancel_grace("motion", {}, floor_s=2.0) == 2.0
    assert cancel_grace("motion", {}, floor_s=0.5) == DEFAULT_CANCEL_GRACE_S
    assert cancel_grace("no_such_engine", {}, floor_s=1.5) == 1.5
    assert cancel_grace(gpu, {"cancel_grace_s": "x"}, floor_s=1.5) == 1.5


def test_an_engine_runs_on_a_gpu_only_when_its_class_says_so_and_no_cpu_device() -> None:
    assert not Engine.uses_gpu()
    assert GpuEngine.uses_gpu() and GpuEngine.uses_gpu({"device": "cuda"})
    assert not GpuEngine.uses_gpu({"device": "cpu"})


# ---- the worker refuses to start --------------------------------------------------------------

def test_the_worker_command_refuses_more_gpu_slots_than_gpus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from framecast.cli import app

    config = tmp_path / "framecast.toml"
    config.write_text(f'[[models]]\nid = "big"\nkind = "video"\nengine = "{__name__}:GpuEngine"\n')
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    for name in ("FRAMECAST_CONFIG", "FRAMECAST_DATABASE_URL", "FRAMECAST_STORAGE_URL",
                 "FRAMECAST_GPU_SLOTS_PER_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["worker", "--slots", "2", "--config", str(config),
                                      "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2, result.output
    assert "framecast worker: --slots 2" in result.output
    assert "FRAMECAST_GPU_SLOTS_PER_DEVICE=2" in result.output
