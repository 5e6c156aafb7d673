"""Which GPU each engine slot's child may use, found without importing torch.

With several slots and an engine that runs on a GPU, every child would otherwise load its own
copy of the model onto ``cuda:0``. ``slot_gpus`` gives slot *n* the GPU
``visible[n // per_device]``; the child sets ``CUDA_VISIBLE_DEVICES`` to it before anything
can initialise CUDA (``worker/child.py``). More slots than GPUs × ``per_device`` is refused,
naming ``--slots``. One slot, no GPU engine, or no GPU at all: nothing changes (a single slot
keeps every GPU, e.g. for a model spread over several).

The GPUs the worker may use are, in this order: the parent's ``CUDA_VISIBLE_DEVICES`` (its
entries as they are; empty means none), the devices ``nvidia-smi -L`` lists (MIG instances
by UUID where a GPU is split, else the GPU's UUID), or the count of
``/proc/driver/nvidia/gpus`` (by index).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from framecast.core.errors import ConfigError

log = logging.getLogger("framecast.worker")

NVIDIA_SMI_TIMEOUT_S = 10.0
NVIDIA_PROC_DIR = Path("/proc/driver/nvidia/gpus")
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
SHARE_SETTING = "FRAMECAST_GPU_SLOTS_PER_DEVICE"

_GPU_LINE = re.compile(r"^GPU (\d+):.*?\(UUID: (GPU-[^)\s]+)\)")
_MIG_LINE = re.compile(r"^\s+MIG .*?\(UUID: (MIG-[^)\s]+)\)")


def parse_visible_devices(value: str) -> list[str]:
    """The devices a ``CUDA_VISIBLE_DEVICES`` value names, as CUDA reads it: entries up to
    the first negative index (CUDA ignores the rest); ``""`` names none."""
    devices = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or (entry.lstrip("-").isdigit() and int(entry) < 0):
            break
        devices.append(entry)
    return devices


def parse_nvidia_smi(listing: str) -> list[str]:
    """The devices in ``nvidia-smi -L`` output: each GPU's UUID, or, for a GPU split into
    MIG instances, the instances' UUIDs."""
    devices: list[str] = []
    gpu: str | None = None
    migs: list[str] = []
    for line in listing.splitlines():
        if match := _GPU_LINE.match(line):
            if gpu is not None:
                devices.extend(migs or [gpu])
            gpu, migs = match.group(2), []
        elif (match := _MIG_LINE.match(line)) and gpu is not None:
            migs.append(match.group(1))
    if gpu is not None:
        devices.extend(migs or [gpu])
    return devices


def _nvidia_smi() -> str | None:
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                              timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def visible_gpus(environ: Mapping[str, str] | None = None,
                 nvidia_smi: Callable[[], str | None] = _nvidia_smi,
                 proc_dir: Path = NVIDIA_PROC_DIR) -> list[str]:
    """The GPUs this worker may hand to its slots (see the module docstring for where they
    come from); ``[]`` on a machine without one."""
    environ = os.environ if environ is None else environ
    if VISIBLE_ENV in environ:
        return parse_visible_devices(environ[VISIBLE_ENV])
    listing = nvidia_smi()
    if listing is not None:
        devices = parse_nvidia_smi(listing)
        if devices:
            return devices
    try:
        return [str(n) for n in range(sum(1 for _ in proc_dir.iterdir()))]
    except OSError:
        return []


def slot_gpus(slots: int, gpu_engines: Collection[str], *, per_device: int = 1,
              discover: Callable[[], list[str]] = visible_gpus) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` of each slot's child (None: leave it as it is).
    ``ConfigError`` when more than ``per_device`` slots would share a GPU."""
    if slots <= 1 or not gpu_engines:
        return [None] * max(1, slots)
    gpus = discover()
    if not gpus:
        return [None] * slots
    per_device = max(1, per_device)
    if slots > len(gpus) * per_device:
        found = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''} ({', '.join(gpus)})"
        raise ConfigError(
            f"--slots {slots} (FRAMECAST_SLOTS) would run the GPU engine(s) "
            f"{', '.join(sorted(gpu_engines))} on {found} at {per_device} slot(s) per GPU: "
            f"each slot loads its own copy of the model. Use --slots "
            f"{len(gpus) * per_device} or fewer, make more GPUs visible "
            f"({VISIBLE_ENV}), or set {SHARE_SETTING}={-(-slots // len(gpus))} to let "
            f"slots share a GPU when the models fit together")
    plan: list[str | None] = [gpus[n // per_device] for n in range(slots)]
    log.info("engine slots on GPUs: %s", ", ".join(f"slot {n} → {gpu}"
                                                   for n, gpu in enumerate(plan)))
    return plan
