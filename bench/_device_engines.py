"""One child of the device check: each named diffusers engine, end to end, through its real
engine class, on a random pipeline saved with ``save_pretrained``.

Per engine: build the pipeline (``_device_pipelines``), then try the options in order, best
first (on CUDA: bf16, ``quantize = "fp8"``, an attention backend, ``compile = true``; then
plain bf16 if that failed, so that a broken option is told apart from a broken engine). Each
try constructs the engine with the options dict, ``load()``s it and ``run()``s one request
twice (the first run pays any compile; the second is the steady one), then decodes what it
wrote (the MP4 with PyAV, the PNG with Pillow) and checks the pixel size, the frame count, the
fps, the soundtrack asked for and that the pixels are not all one value. The results go to
``--json`` after every engine, so a child killed at its time limit keeps what it finished.

    python bench/_device_engines.py --engines zimage,sdxl --size tiny --device cpu \\
        --work /tmp/fc-device --json /tmp/fc-device/engines.json

``bench/device_check.py`` starts these children; run alone, this is for debugging one engine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

ENGINES = ("wan_i2v", "wan_vace", "ltx2", "zimage", "flux", "sdxl")
# The options a deployment on a GPU runs with (docs/gpu-engines.md): float8 denoisers, cuDNN
# attention (works without network access, takes LTX-2's masks), compiled blocks. No warm-up
# at load: the check's first run pays the compile, so compile seconds = first − second run.
RECOMMENDED_CUDA: dict[str, Any] = {"dtype": "bfloat16", "quantize": "fp8",
                                    "fp8_granularity": "row",
                                    "attention_backend": "_native_cudnn", "compile": True,
                                    "warmup": []}
# The dry run's: the same path on the CPU, compiled with dynamo's eager backend (the same
# full-graph and recompile rules, no inductor); float8 needs a Hopper-class GPU.
RECOMMENDED_CPU: dict[str, Any] = {"dtype": "float32", "attention_backend": "native",
                                   "compile": True, "compile_backend": "eager", "warmup": []}
PLAIN: dict[str, Any] = {}


@dataclass(frozen=True)
class Request:
    """What one engine is asked for: a kind, a size, a clip, the options of its model."""

    kind: str                            # video | image
    width: int
    height: int
    frames: int = 1                      # frames_total at fps (video)
    fps: int = 24
    roles: tuple[str, ...] = ()          # input images, by role
    audio: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def requests(size: str) -> dict[str, Request]:
    """Per engine, the request of the check at ``size``: 480p video (1 s: 25 frames at 24
    fps, generated natively at 16 fps by Wan) and 1024² images for ``small``; the engine
    tests' sizes for ``tiny``. Steps: each engine's fewest that it accepts without a
    distilled LoRA (Wan), or its distilled recipe (LTX-2, Z-Image-Turbo, schnell, Turbo)."""
    small = size == "small"
    video = (864, 480, 25) if small else (64, 48, 13)
    ltx = (864, 480, 25) if small else (96, 64, 17)
    image = 1024 if small else 128
    return {
        "wan_i2v": Request("video", *video, roles=("first_frame",), options={"steps": 10}),
        "wan_vace": Request("video", *video, roles=("reference_image",),
                            options={"steps": 10}),
        "ltx2": Request("video", *ltx, roles=("first_frame",), audio=True,
                        options={"distilled": True}),
        "zimage": Request("image", image, image),
        "flux": Request("image", image, image, options={"variant": "schnell"}),
        "sdxl": Request("image", image, image, options={"variant": "turbo"}),
    }


# -- one try --------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One set of options on one engine: what happened and what it measured."""

    label: str
    options: dict[str, Any]
    dropped: list[str] = field(default_factory=list)   # options this framecast lacks
    ok: bool = False
    error: str | None = None
    load_s: float | None = None
    run_s: list[float] = field(default_factory=list)    # wall seconds per run
    steps: int | None = None
    s_per_step: float | None = None                     # median, steady run
    compile_s: float | None = None                      # first run over the steady one
    resident_gb: float | None = None                    # allocated after load
    peak_gb: float | None = None                        # peak over both runs
    checks: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def s_per_output(self) -> float | None:
        """The steady run's wall seconds (request in, file written)."""
        return self.run_s[-1] if self.run_s else None


class Warnings(logging.Handler):
    """Collects framecast's and diffusers' warnings during a try (a fallback says why)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message, bounded."""
        if len(self.messages) < 20:
            self.messages.append(f"{record.name}: {record.getMessage()}"[:400])


def supported(options: dict[str, Any], engine_cls: Any) -> tuple[dict[str, Any], list[str]]:
    """``options`` less the keys this framecast's engine does not know (older or newer
    framecast), and those keys."""
    from framecast.engines._diffusers import DiffusersOptions

    known = {f.name for f in fields(DiffusersOptions)} | set(engine_cls.extra_option_keys)
    if getattr(engine_cls, "variants", None):
        known.add("variant")
    kept = {k: v for k, v in options.items() if k in known}
    return kept, sorted(set(options) - set(kept))


def picture(width: int, height: int, seed: int) -> Any:
    """A textured RGB picture (gradients and noise) as a PIL image."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1),
                     (x + y) * 255 // max(1, width + height - 2)], axis=-1)
    noise = rng.integers(0, 48, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def spec_and_inputs(name: str, request: Request, work: Path) -> tuple[Any, Any]:
    """A resolved spec (as the service resolves one) and its decoded input images."""
    from framecast.core.spec import ImageInput, ImageSpec, VideoSpec
    from framecast.engines.base import EngineInputs, InputImage

    work.mkdir(parents=True, exist_ok=True)
    images = [InputImage(role, picture(640, 480, n)) for n, role in enumerate(request.roles)]
    inputs = EngineInputs(images=images, work_dir=work)
    if request.kind == "image":
        return ImageSpec(model=f"check-{name}", prompt="a red robot with a cat",
                         width=request.width, height=request.height,
                         size=f"{request.width}x{request.height}", seed=7,
                         watermark=False), inputs
    return VideoSpec(model=f"check-{name}", prompt="a red robot and a cat dance",
                     width=request.width, height=request.height, fps=request.fps,
                     frames_total=request.frames, seed=7, generate_audio=request.audio,
                     images=[ImageInput(role=role, url="data:") for role in request.roles]
                     ), inputs


def check_output(request: Request, outputs: Any) -> dict[str, Any]:
    """Decode what the engine wrote and compare it with the request: ``expected``, ``got``
    and ``ok``, plus the pixels' spread (a constant picture means NaNs or a black decode)."""
    import numpy as np

    main = outputs.files[0]
    expected: dict[str, Any] = {"width": request.width, "height": request.height}
    if request.kind == "video":
        import av

        expected.update(frames=request.frames, fps=request.fps, audio=request.audio)
        with av.open(str(main.path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            got = {"width": stream.codec_context.width, "height": stream.codec_context.height,
                   "frames": len(frames), "fps": round(float(rate)) if rate else 0,
                   "audio": bool(container.streams.audio)}
        pixels = np.stack(frames) if frames else np.zeros((1, 1, 1, 3), np.uint8)
    else:
        from PIL import Image

        with Image.open(main.path) as image:
            pixels = np.asarray(image.convert("RGB"))
        got = {"width": pixels.shape[1], "height": pixels.shape[0]}
    spread = float(pixels.std())
    ok = got == expected and spread > 1.0
    return {"file": main.name, "expected": expected, "got": got,
            "pixel_std": round(spread, 2), "ok": ok}


def attempt(name: str, request: Request, weights: Path, label: str, options: dict[str, Any],
            device: str, work: Path) -> Attempt:
    """Load the engine with ``options`` and run the request twice; never raises."""
    import torch

    from framecast.engines.base import engine_class

    cls = engine_class(name)
    kept, dropped = supported({**options, **request.options}, cls)
    result = Attempt(label, kept, dropped)
    handler = Warnings()
    loggers = [logging.getLogger(n) for n in ("framecast", "diffusers", "torchao")]
    for logger in loggers:
        logger.addHandler(handler)
    cuda = device.startswith("cuda")
    engine = None
    try:
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        engine = cls({"weights": str(weights), "model": f"check-{name}", "device": device,
                      **kept})
        began = time.perf_counter()
        engine.load()
        if cuda:
            torch.cuda.synchronize()
            result.resident_gb = torch.cuda.memory_allocated() / 1e9
        result.load_s = time.perf_counter() - began
        for run in range(2):
            spec, inputs = spec_and_inputs(name, request, work / f"{label}-{run}")
            stamps: list[float] = []

            def progress(step: int, total: int, stamps: list[float] = stamps) -> None:
                if cuda:
                    torch.cuda.synchronize()    # a step's time, not its launch's
                stamps.append(time.perf_counter())

            began = time.perf_counter()
            outputs = engine.run(spec, inputs, progress, lambda: False)
            result.run_s.append(time.perf_counter() - began)
            result.steps = len(stamps)
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            if gaps:
                result.s_per_step = statistics.median(gaps)
            result.checks = check_output(request, outputs)
            result.info = {k: v for k, v in outputs.info.items()
                           if isinstance(v, (str, int, float, bool))}
        if cuda:
            result.peak_gb = torch.cuda.max_memory_allocated() / 1e9
        if kept.get("compile"):
            result.compile_s = max(0.0, result.run_s[0] - result.run_s[1])
        result.ok = bool(result.checks.get("ok"))
        if not result.ok:
            result.error = f"output check failed: {result.checks}"
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        result.error = f"{type(exc).__name__}: {lines[0] if lines else ''}"[:600]
        result.warnings.append(traceback.format_exc(limit=6)[-2000:])
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        result.warnings[:0] = handler.messages
        engine = None
        if cuda:
            torch.cuda.empty_cache()
    return result


# -- one engine -----------------------------------------------------------------------------


def check_engine(name: str, size: str, device: str, work: Path) -> dict[str, Any]:
    """Build the engine's pipeline, try the recommended options, and plain ones if those
    failed; the engine's result."""
    from _device_pipelines import build

    request = requests(size)[name]
    out: dict[str, Any] = {"engine": name, "size": size, "request": asdict(request)}
    began = time.perf_counter()
    try:
        weights = build(name, work / name / "weights", size)
    except Exception as exc:
        out.update(status="fail", reason=f"building the random pipeline failed: "
                                         f"{type(exc).__name__}: {exc}"[:600], attempts=[])
        return out
    out["build_s"] = time.perf_counter() - began
    out["weights_mb"] = sum(p.stat().st_size for p in weights.rglob("*") if p.is_file()) / 1e6
    recommended = RECOMMENDED_CUDA if device.startswith("cuda") else RECOMMENDED_CPU
    tries = [attempt(name, request, weights, "recommended", recommended, device,
                     work / name)]
    if not tries[0].ok:
        tries.append(attempt(name, request, weights, "plain", PLAIN, device, work / name))
    out["attempts"] = [{**asdict(t), "s_per_output": t.s_per_output} for t in tries]
    if tries[0].ok:
        out.update(status="pass", reason=None)
    elif tries[-1].ok:
        out.update(status="fail", reason=f"the recommended options failed ({tries[0].error}); "
                                         f"plain {recommended['dtype']} passed")
    else:
        out.update(status="fail", reason=tries[-1].error)
    return out


def environment(device: str) -> dict[str, Any]:
    """Versions and the device, as this child sees them; and the third-party packages the
    engines imported (what the wheelhouse must bring where the machine lacks them)."""
    import importlib.metadata as metadata

    import torch

    out: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device)
        out.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                   memory_gib=round(props.total_memory / 2**30, 1))
    for package in ("diffusers", "torchao", "transformers", "av", "opencv-python-headless",
                    "pydantic", "numpy", "pillow", "huggingface-hub", "accelerate"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    stdlib = set(sys.stdlib_module_names)
    out["imported"] = sorted({m.split(".")[0] for m in list(sys.modules)
                              if not m.startswith("_") and m.split(".")[0] not in stdlib})
    return out


def main(argv: list[str] | None = None) -> int:
    """Check each engine of ``--engines`` in turn, writing ``--json`` after each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--size", choices=("tiny", "small"), default="small")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.device == "cpu":
        torch.set_num_threads(1)    # tiny models gain nothing from more on shared cores
    results: dict[str, Any] = {"engines": []}
    for name in [n.strip() for n in args.engines.split(",") if n.strip()]:
        began = time.perf_counter()
        print(f"{name}: checking ({args.size}, {args.device}) ...", file=sys.stderr, flush=True)
        result = check_engine(name, args.size, args.device, args.work)
        result["seconds"] = time.perf_counter() - began
        results["engines"].append(result)
        results["environment"] = environment(args.device)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"{name}: {result['status']} ({result['seconds']:.0f} s)"
              f"{'' if result['status'] == 'pass' else ': ' + str(result['reason'])[:300]}",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
