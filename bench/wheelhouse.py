"""The wheelhouse of the device check: the wheels ``bench/device_check.py`` installs on the
lent GPU machine, which has no network.

That machine (CPython 3.12, x86-64, PyTorch 2.11 for CUDA 13) already holds torch,
transformers, accelerate, peft, safetensors, tokenizers, huggingface-hub, numpy, Pillow,
opencv-python-headless, requests, regex, filelock and sentencepiece (the device README's
KINDS.md lists its packages). What the diffusers engines and framecast import beyond those is
listed in :data:`WHEELS`; this script downloads exactly those wheels, each without its
dependencies, for CPython 3.12 on manylinux x86-64, into ``.whl/`` (ignored by git), removes
any other wheel there (two versions of one package stop the offline install), and checks the
total against the budget: the working tree and the wheels travel together, 64 MiB at most.

    python3 bench/wheelhouse.py              # downloads into .whl/ and prints the sizes
    python3 bench/wheelhouse.py --check      # only measures what .whl/ holds

Versions come from pyproject.toml where it pins the package (diffusers, torchao, av, pydantic,
ftfy); the rest are pinned here to what those need. torchao 0.18.0 is the release whose
C++ extensions are built for torch 2.11 and later (its ``__init__`` checks for 2.11.0), the
device's torch.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = ROOT / ".whl"
BUDGET_MIB = 60.0            # the wheels' share of the 64 MiB that travels with a call
TRAVEL_LIMIT_MIB = 64.0      # working tree + carried paths, per device call
MIB = 2**20
PYTHON_VERSION = "3.12"
# pip matches a manylinux tag's glibc version exactly: every tag the machine's glibc allows
# that a wheel here uses (torchao: 2_24/2_28, av: 2_28, pydantic-core and wcwidth: 2_17).
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


@dataclass(frozen=True)
class Wheel:
    """One package the device machine lacks: its name, a version (None: pyproject's pin),
    and why the check needs it."""

    name: str
    version: str | None
    why: str


WHEELS: tuple[Wheel, ...] = (
    Wheel("diffusers", None, "the six engines' pipelines"),
    Wheel("torchao", None, "quantize = \"fp8\" (float8 weights and activations)"),
    Wheel("av", None, "PyAV: framecast's H.264 encoding, and the check's decoding"),
    Wheel("pydantic", None, "framecast.core.spec (VideoSpec, ImageSpec)"),
    Wheel("pydantic-core", "2.50.4", "pydantic 2.14.3 requires exactly this"),
    Wheel("typing-inspection", "0.4.5", "pydantic's"),
    Wheel("annotated-types", "0.8.0", "pydantic's"),
    Wheel("typing-extensions", "4.16.0", "pydantic 2.14.3 needs >= 4.16.0 (the machine's "
                                         "version is not known)"),
    Wheel("ftfy", None, "the Wan pipelines clean prompts with ftfy.fix_text"),
    Wheel("wcwidth", "0.9.4", "ftfy's"),
)


def normalized(name: str) -> str:
    """A distribution name as wheels spell it (``pydantic-core`` -> ``pydantic_core``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def pyproject_pins(path: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``name==version`` pins of pyproject.toml (dependencies and every extra), by
    normalized name."""
    project = tomllib.loads(path.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*==\s*([^\s;]+)\s*",
                             requirement)
        if match:
            pins[normalized(match[1])] = match[2]
    return pins


def requirements(wheels: tuple[Wheel, ...] = WHEELS) -> list[str]:
    """``name==version`` for every wheel, versions from pyproject.toml where it pins one."""
    pins = pyproject_pins()
    out = []
    for wheel in wheels:
        version = wheel.version or pins.get(normalized(wheel.name))
        if version is None:
            raise SystemExit(f"bench/wheelhouse.py: no version for {wheel.name}: pin it in "
                             f"pyproject.toml or in WHEELS")
        out.append(f"{wheel.name}=={version}")
    return out


def download(dest: Path, pins: list[str]) -> None:
    """``pip download`` the pinned wheels, no dependencies, for the device's Python and
    platform."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", PYTHON_VERSION,
               "--implementation", "cp", "--dest", str(dest)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run([*command, *pins], check=True)


def wheel_files(dest: Path, pins: list[str]) -> tuple[dict[str, Path], list[Path]]:
    """The wheel of each pin found in ``dest`` (by normalized name), and the other wheels
    there (stale versions, unrelated packages)."""
    wanted = {normalized(p.split("==")[0]): p.split("==")[1] for p in pins}
    found: dict[str, Path] = {}
    others: list[Path] = []
    for path in sorted(dest.glob("*.whl")):
        name, version = path.name.split("-")[:2]
        if wanted.get(normalized(name)) == version:
            found[normalized(name)] = path
        else:
            others.append(path)
    return found, others


def tree_bytes() -> int:
    """What travels besides the wheels: tracked files and untracked files git does not
    ignore (0 when git is not there)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=ROOT, check=True,
                                capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    total = 0
    for name in listed.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file():
            total += path.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    """Download (unless ``--check``), then print each wheel's size and the totals; the exit
    status is 1 when a wheel is missing or the wheels are over budget."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                        help="the wheel folder (default: .whl/, ignored by git)")
    parser.add_argument("--check", action="store_true", help="measure only, download nothing")
    parser.add_argument("--budget-mib", type=float, default=BUDGET_MIB,
                        help=f"most MiB the wheels may take (default: {BUDGET_MIB:g})")
    args = parser.parse_args(argv)
    pins = requirements()
    if not args.check:
        download(args.dest, pins)
    found, others = wheel_files(args.dest, pins)
    for path in others:                      # one version of each, nothing else
        if not args.check:
            path.unlink()
            print(f"removed {path.name} (not in the wheelhouse)")
    why = {normalized(w.name): w.why for w in WHEELS}
    total = 0
    for pin in pins:
        key = normalized(pin.split("==")[0])
        path = found.get(key)
        size = path.stat().st_size if path else 0
        total += size
        print(f"{size / MIB:7.2f} MiB  {path.name if path else pin + ' MISSING'}  "
              f"({why[key]})")
    tree = tree_bytes()
    print(f"{total / MIB:7.2f} MiB  in {len(found)} wheels in {args.dest} "
          f"(budget {args.budget_mib:g} MiB)")
    print(f"{(total + tree) / MIB:7.2f} MiB  with the working tree ({tree / MIB:.2f} MiB), "
          f"of the {TRAVEL_LIMIT_MIB:g} MiB a device call carries")
    missing = [p for p in pins if normalized(p.split("==")[0]) not in found]
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    if total > args.budget_mib * MIB or total + tree > TRAVEL_LIMIT_MIB * MIB:
        print("over budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
