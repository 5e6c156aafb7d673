"""Benchmark: the diffusers engines' GPU work at full model size, with random bf16 weights.

Random weights take exactly the time real ones take (the same shapes, the same kernels), so
nothing is downloaded: every model is built from its real config directly on the device and
filled with ``normal_(std=0.02)`` (small, so no inf/NaN slow paths).

**Wan2.2-I2V-A14B** (``--models wan22-a14b``, the headline). One 14B expert is built at the
real config (40 layers, d 5120, FFN 13824, 40 heads × 128, 36 input channels, 512 text
tokens). The two experts have the same cost per step; the boundary (0.9) only decides which
one runs, so one is timed. The real-size VAE (``AutoencoderKLWan`` default config) is timed
encoding the F-frame conditioning video (as ``WanImageToVideoPipeline`` does) and decoding
the latents; the real-size UMT5-XXL encoder is timed on 512 tokens, before the DiT is built.
Cases (``--resolutions``), each what the ``wan_i2v`` engine does for a 5 s Seedance video:

* ``480p-16fps``: 864×480, 81 frames generated at Wan's native 16 fps, flow-retimed to 121
  frames at 24 fps on the CPU (``framecast.engines._diffusers.retimed``), then H.264;
* ``720p-16fps``: the same at 1248×704 (both run by default).

The engine never generates 121 frames natively (Wan was trained on 81), so no case does.

Latent tokens = ((F−1)/4+1)·(H/16)·(W/16). Two configurations run in the same process:

* ``baseline``: plain diffusers defaults: bf16, default attention (torch SDPA), no compile,
  40 steps with classifier-free guidance (two forwards per step, as the pipeline runs them);
* ``fast``: torchao dynamic float8 (``Float8DynamicActivationFloat8WeightConfig`` through
  ``quantize_`` on the Linear layers, per-row scales and torchao's process-wide inductor
  tuning left off, as the engines' ``quantize = "fp8"``), the first
  attention backend that works of ``--attention-backends`` (``set_attention_backend``),
  ``compile_repeated_blocks(fullgraph=True)``, 4 steps without guidance (the step count of
  the LightX2V 4-step distilled LoRA).

**Z-Image-Turbo** (``--models zimage``): ``ZImageTransformer2DModel`` at its 6B config (dim
3840, 30 layers + 2+2 refiner layers, 30 heads, SwiGLU 10240) at 1024×1024 with a 512-token
caption, 9 steps without guidance in both configurations (bf16 vs fp8 + attention + compile),
plus the real-size Qwen3-4B text encoder (512 tokens) and Flux VAE decoder.

Reported per case and configuration: seconds per denoising step (CUDA events, median of
``--repeats`` after ``--warmup`` steps); compile seconds (the warm-up's wall time over that
many steady steps: what the first request at a new size pays); seconds per video or image
(steps·step + text encoding (twice with guidance) + VAE + retiming + uint8 conversion and
H.264); FLOPs per step from the research formula (research/engines-performance.md §7),
achieved TFLOP/s, model FLOPs utilisation against the H100's 989 TF/s dense BF16 peak, the
step's ratio to the 800 TF/s floor; the speed-up baseline/fast; and memory twice:

* ``DiT peak``: the timed expert alone plus one step's activations;
* ``engine resident / peak``: what the engine holds, measured with everything it keeps on the
  device built there (Wan2.2: both experts, in fp8 on the fast path, UMT5-XXL and the VAE;
  Z-Image: the DiT, Qwen3-4B and the VAE): ``memory_allocated`` after building, and
  ``max_memory_allocated`` over one step and one VAE decode at the case's size. Off CUDA the
  resident figure is computed from the modules' parameter and buffer bytes, and the peak is
  not known.

A missing attention backend, a failed fp8 or compile is shown as ``unavailable (reason)``
and the run goes on without it: when the compiled fast path fails at its first call, it tries
default attention + compile, then the backend without compile, then neither. Not included:
image preprocessing, host↔device copies of the result, loading weights. ``--time-budget-s``
skips, with a note, every stage that would start after the budget is spent (the device check
gives the bench what is left of its 9 minutes).

Run from the repository root on a CUDA machine (an H100 for the goal; about 6 minutes for
the default 480p and 720p cases of Wan plus Z-Image, most of it compiling;
``--models wan22-a14b --resolutions 480p-16fps --repeats 2`` for the headline alone, as
``bench/device_check.py`` runs it). ``HF_HUB_OFFLINE=1`` makes the hub-kernel backend fail
fast on a machine without network access instead of waiting on the hub:

    HF_HUB_OFFLINE=1 .venv/bin/python bench/gpu_engines.py --json bench-gpu.json
    .venv/bin/python bench/gpu_engines.py --tiny          # CPU smoke test of the same path
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PEAK_BF16_TFLOPS = 989.0      # H100 SXM dense BF16 (research §7)
PEAK_FP8_TFLOPS = 1979.0      # H100 SXM dense FP8
FLOOR_TFLOPS = 800.0          # achievable dense BF16 the research floor assumes
GOAL_VIDEO_S = 15.0           # 5 s 480p Wan2.2-I2V-A14B on one H100 ...
GOAL_SPEEDUP = 10.0           # ... and at least this much faster than the baseline
GUIDANCE = 3.5
WAN22_BOUNDARY_RATIO = 0.9
DEFAULT_BACKENDS = ("_flash_3_hub", "_flash_3", "flash", "_native_cudnn")
FP8_GRANULARITIES = ("row", "tensor")   # the engines' fp8_granularity (default row)
BASELINE_ATTENTION = "native (torch SDPA)"
MODELS = ("wan22-a14b", "zimage")
INIT_STD = 0.02

# -- model configs --------------------------------------------------------------------------

# Wan2.2-I2V-A14B-Diffusers transformer/config.json (each of the two experts)
WAN22_A14B_TRANSFORMER: dict[str, Any] = {
    "patch_size": (1, 2, 2), "num_attention_heads": 40, "attention_head_dim": 128,
    "in_channels": 36, "out_channels": 16, "text_dim": 4096, "freq_dim": 256,
    "ffn_dim": 13824, "num_layers": 40, "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None,
    "added_kv_proj_dim": None, "rope_max_seq_len": 1024, "pos_embed_seq_len": None,
}
WAN_TINY_TRANSFORMER: dict[str, Any] = {
    **WAN22_A14B_TRANSFORMER, "num_attention_heads": 2, "attention_head_dim": 16,
    "text_dim": 32, "freq_dim": 32, "ffn_dim": 64, "num_layers": 2, "rope_max_seq_len": 32,
}
WAN_VAE_TINY: dict[str, Any] = {"base_dim": 3, "z_dim": 16, "dim_mult": [1, 1, 1, 1],
                                "num_res_blocks": 1, "temperal_downsample": [False, True, True]}
# UMT5-XXL encoder (google/umt5-xxl, the Wan text encoder)
UMT5_XXL: dict[str, Any] = {"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240,
                            "num_layers": 24, "num_heads": 64, "feed_forward_proj": "gated-gelu",
                            "relative_attention_num_buckets": 32,
                            "relative_attention_max_distance": 128}
UMT5_TINY: dict[str, Any] = {**UMT5_XXL, "vocab_size": 1000, "d_model": 32, "d_kv": 8,
                             "d_ff": 64, "num_layers": 2, "num_heads": 4}
# Z-Image-Turbo transformer/config.json (defaults of ZImageTransformer2DModel in 0.42.1)
ZIMAGE_TRANSFORMER: dict[str, Any] = {
    "all_patch_size": (2,), "all_f_patch_size": (1,), "in_channels": 16, "dim": 3840,
    "n_layers": 30, "n_refiner_layers": 2, "n_heads": 30, "n_kv_heads": 30, "norm_eps": 1e-5,
    "qk_norm": True, "cap_feat_dim": 2560, "rope_theta": 256.0, "t_scale": 1000.0,
    "axes_dims": [32, 48, 48], "axes_lens": [1536, 512, 512],
}
ZIMAGE_TINY_TRANSFORMER: dict[str, Any] = {
    **ZIMAGE_TRANSFORMER, "dim": 32, "n_layers": 2, "n_refiner_layers": 1, "n_heads": 2,
    "n_kv_heads": 2, "cap_feat_dim": 16, "axes_dims": [8, 4, 4], "axes_lens": [64, 32, 32],
}
# Flux VAE (the Z-Image VAE)
FLUX_VAE: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 16,
    "block_out_channels": (128, 256, 512, 512), "layers_per_block": 2,
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4,
    "norm_num_groups": 32, "use_quant_conv": False, "use_post_quant_conv": False,
    "scaling_factor": 0.3611, "shift_factor": 0.1159,
}
FLUX_VAE_TINY: dict[str, Any] = {**FLUX_VAE, "block_out_channels": (8, 16), "layers_per_block": 1,
                                 "down_block_types": ("DownEncoderBlock2D",) * 2,
                                 "up_block_types": ("UpDecoderBlock2D",) * 2,
                                 "norm_num_groups": 4}
# Qwen3-4B (the Z-Image text encoder; the pipeline reads hidden_states[-2])
QWEN3_4B: dict[str, Any] = {"vocab_size": 151936, "hidden_size": 2560,
                            "intermediate_size": 9728, "num_hidden_layers": 36,
                            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                            "max_position_embeddings": 40960, "rope_theta": 1000000.0,
                            "tie_word_embeddings": True}
QWEN3_TINY: dict[str, Any] = {**QWEN3_4B, "vocab_size": 1000, "hidden_size": 16,
                              "intermediate_size": 32, "num_hidden_layers": 2,
                              "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8}


@dataclass(frozen=True)
class VideoCase:
    """One video size: generated ``frames`` at ``fps``, delivered as ``out_frames`` at 24 fps."""

    name: str
    width: int
    height: int
    frames: int
    fps: int
    out_frames: int = 121

    @property
    def latent_frames(self) -> int:
        """Latent frames (VAE temporal stride 4)."""
        return (self.frames - 1) // 4 + 1

    @property
    def tokens(self) -> int:
        """DiT tokens: VAE stride 4×8×8 then patch 1×2×2."""
        return self.latent_frames * (self.height // 16) * (self.width // 16)

    def tiny(self) -> VideoCase:
        """The same case scaled down (1/16 of the sides, 1/20 of the frame intervals)."""
        def snap(v: int) -> int:
            return max(16, round(v / 16 / 16) * 16)
        return VideoCase(self.name, snap(self.width), snap(self.height),
                         (self.frames - 1) // 20 + 1, self.fps, (self.out_frames - 1) // 20 + 1)


# What wan_i2v does for a 5 s video: 81 frames at 16 fps, retimed to 121 at 24 fps.
VIDEO_CASES = {c.name: c for c in (
    VideoCase("480p-16fps", 864, 480, 81, 16),
    VideoCase("720p-16fps", 1248, 704, 81, 16),
)}
# Cases an earlier version ran: 121 frames generated natively, which the engine never does.
DROPPED_CASES = {"480p": "480p-16fps", "720p": "720p-16fps"}
DEFAULT_RESOLUTIONS = tuple(VIDEO_CASES)
IMAGE_SIZE = (1024, 1024)
IMAGE_CAPTION_TOKENS = 512      # max_sequence_length: the upper bound on the caption
WAN_TEXT_TOKENS = 512


# -- FLOPs ----------------------------------------------------------------------------------


def wan_forward_flops(tokens: int, *, layers: int = 40, dim: int = 5120, ffn: int = 13824,
                      context: int = WAN_TEXT_TOKENS) -> float:
    """FLOPs of one Wan DiT forward (research §7): per layer self-attention QKVO 8·L·d²,
    cross-attention Q and O 4·L·d², FFN 4·L·d·f, attention 4·L²·d, cross-attention
    4·L·C·d (C = 512 text tokens for Wan2.2, which has no CLIP image tokens)."""
    n, d = float(tokens), float(dim)
    return layers * (8 * n * d * d + 4 * n * d * d + 4 * n * d * ffn + 4 * n * n * d
                     + 4 * n * context * d)


def zimage_forward_flops(image_tokens: int, caption_tokens: int, *, layers: int = 30,
                         refiner_layers: int = 2, dim: int = 3840) -> float:
    """FLOPs of one Z-Image DiT forward: single-stream blocks over image + caption tokens,
    each QKVO 8·L·d², SwiGLU FFN 6·L·d·h (h = 8d/3), attention 4·L²·d; plus the refiner
    blocks over the image tokens and over the caption tokens separately."""
    hidden = int(dim / 3 * 8)

    def block(n: float) -> float:
        return 8 * n * dim * dim + 6 * n * dim * hidden + 4 * n * n * dim
    return (layers * block(image_tokens + caption_tokens)
            + refiner_layers * (block(image_tokens) + block(caption_tokens)))


# -- environment ----------------------------------------------------------------------------


KNOWN_REASONS = (
    ("`kernels`", "needs the kernels package"),
    ("flash-attn", "needs flash-attn"),
    ("Flash Attention 3", "needs FA3 (flash_attn_interface)"),
    ("backend 'flash'", "needs flash-attn"),
    ("trusted kernel publisher", "hub kernel not trusted"),
    ("No available kernel", "no kernel for this device/dtype"),
    ("No viable backend", "no kernel for this device/dtype"),
    ("compute capability", "needs CUDA compute capability ≥ 8.9"),
    ("out of memory", "out of memory"),
)


def brief_reason(text: str, limit: int = 50) -> str:
    """A reason short enough for a table cell (the JSON and the notes keep it whole)."""
    for needle, summary in KNOWN_REASONS:
        if needle.lower() in text.lower():
            return summary
    return text if len(text) <= limit else text[:limit - 1] + "…"


def brief(label: str) -> str:
    """``label`` (``a; b unavailable (why); …``) with every reason shortened."""
    parts = []
    for part in label.split("; "):
        m = re.match(r"^(.*?)(unavailable|failed at full size) \((.*)\)$", part)
        parts.append(f"{m[1]}{m[2]} ({brief_reason(m[3])})" if m else part)
    return "; ".join(parts).replace("|", "/")


def reason(exc: BaseException, limit: int = 200) -> str:
    """A one-line, bounded description of why something failed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if text.endswith(":") and len(lines) > 1:     # "backend='inductor' raised:" + the cause
        text = f"{text} {lines[1]}"
    out = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return out if len(out) <= limit else out[:limit - 1] + "…"


@dataclass
class Env:
    """torch, the device and the dtype every model is built in."""

    torch: Any
    device: str
    tiny: bool
    repeats: int
    warmup: int
    compile_backend: str
    fp8_granularity: str = "row"
    deadline: float | None = None     # time.monotonic() past which no stage starts

    def out_of_time(self) -> bool:
        """Whether ``--time-budget-s`` is spent (no new stage starts then)."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def dtype(self) -> Any:
        """bfloat16, the engines' GPU dtype; float32 for a tiny run on the CPU (the engines'
        CPU dtype, and CPU bf16 convolutions are slow)."""
        return self.torch.float32 if self.tiny and not self.cuda else self.torch.bfloat16

    @property
    def dtype_name(self) -> str:
        """``bfloat16`` (or ``float32`` for a tiny CPU run)."""
        return str(self.dtype).removeprefix("torch.")

    @property
    def component_warmup(self) -> int:
        """Untimed calls before timing a text encoder or VAE (none in a tiny CPU run)."""
        return 0 if self.tiny and not self.cuda else 1

    @property
    def cuda(self) -> bool:
        """Whether the device is a CUDA device (CUDA-event timing, memory stats)."""
        return self.device.startswith("cuda")

    def sync(self) -> None:
        """Wait for the device."""
        if self.cuda:
            self.torch.cuda.synchronize()

    def free(self) -> None:
        """Release the device memory the last stage left behind (a no-op off CUDA, where a
        tiny run has nothing worth collecting)."""
        if self.cuda:
            gc.collect()
            self.torch.cuda.empty_cache()

    def reset_peak(self) -> None:
        """Start a new peak-memory window."""
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gb(self) -> float | None:
        """Peak device memory allocated since ``reset_peak`` (GB), None off CUDA."""
        if not self.cuda:
            return None
        return self.torch.cuda.max_memory_allocated() / 1e9

    def allocated_gb(self) -> float | None:
        """Device memory allocated now (GB), None off CUDA."""
        if not self.cuda:
            return None
        self.sync()
        return self.torch.cuda.memory_allocated() / 1e9

    def describe(self) -> str:
        """The device in words."""
        if self.cuda:
            props = self.torch.cuda.get_device_properties(self.device)
            return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
        return f"CPU ({os.cpu_count()} cores, {platform.machine()})"

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """Construct modules straight on the device in bf16 (a 14B model never exists in
        fp32 or on the host)."""
        old = self.torch.get_default_dtype()
        self.torch.set_default_dtype(self.dtype)
        try:
            with self.torch.device(self.device):
                yield
        finally:
            self.torch.set_default_dtype(old)

    def measure(self, fn: Callable[[], Any], *, warmup: int | None = None,
                repeats: int | None = None) -> list[float]:
        """Seconds per call of ``fn`` (CUDA events on a GPU, wall clock on the CPU) for
        ``repeats`` calls after ``warmup`` untimed ones."""
        torch = self.torch
        for _ in range(self.warmup if warmup is None else warmup):
            fn()
        self.sync()
        times: list[float] = []
        for _ in range(self.repeats if repeats is None else repeats):
            if self.cuda:
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1000.0)
            else:
                began = time.perf_counter()
                fn()
                times.append(time.perf_counter() - began)
        return times


def random_init_(module: Any, torch: Any, std: float = INIT_STD) -> int:
    """Refill every matrix (≥2-D parameter) of ``module`` with normal(0, std) in place;
    vectors (norm scales, biases) keep their library init. Returns the parameter count."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2 and p.is_floating_point():
                p.normal_(0.0, std)
    return sum(p.numel() for p in module.parameters())


def tensor_bytes(tensor: Any) -> int:
    """Bytes a tensor holds; a tensor subclass (torchao's float8 weights) counts its inner
    tensors (data and scales)."""
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if flatten is not None and type(tensor).__name__ not in ("Tensor", "Parameter"):
        names, _ = flatten()
        return sum(tensor_bytes(getattr(tensor, n)) for n in names)
    return tensor.numel() * tensor.element_size()


def module_bytes(*modules: Any) -> int:
    """Bytes of the parameters and buffers of ``modules`` (each tensor counted once)."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor_bytes(tensor)
    return total


def is_oom(exc: BaseException, torch: Any) -> bool:
    """Whether ``exc`` is a device out-of-memory error."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError",
                                                              None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


# -- results --------------------------------------------------------------------------------


@dataclass
class ConfigResult:
    """One configuration (baseline or fast) of one case."""

    name: str
    attention: str
    quantize: str
    compile: str
    steps: int
    forwards_per_step: int
    flops_per_step: float
    step_times_s: list[float] = field(default_factory=list)
    text_encodes: int = 1
    text_encode_s: float | None = None
    vae_encode_s: float | None = None
    vae_decode_s: float | None = None
    retime_s: float | None = None
    encode_s: float | None = None         # float frames -> uint8, then H.264 (host)
    warmup_s: float | None = None         # wall time of the warm-up calls
    compile_s: float | None = None        # warm-up over as many steady steps (compiled only)
    peak_gb: float | None = None          # the timed denoiser alone + one step
    engine_resident_gb: float | None = None
    engine_peak_gb: float | None = None
    engine_memory: str | None = None      # how the engine figures were obtained, or why not
    finite: bool | None = None
    error: str | None = None

    @property
    def s_per_step(self) -> float | None:
        """Median seconds per denoising step."""
        return statistics.median(self.step_times_s) if self.step_times_s else None

    @property
    def achieved_tflops(self) -> float | None:
        """FLOPs per step over seconds per step, in TFLOP/s."""
        s = self.s_per_step
        return self.flops_per_step / s / 1e12 if s else None

    @property
    def mfu(self) -> float | None:
        """Model FLOPs utilisation against the H100 dense BF16 peak."""
        tf = self.achieved_tflops
        return tf / PEAK_BF16_TFLOPS if tf is not None else None

    @property
    def floor_s_per_step(self) -> float:
        """The step at the 800 TF/s floor."""
        return self.flops_per_step / (FLOOR_TFLOPS * 1e12)

    @property
    def complete(self) -> bool:
        """Whether every component of the per-output time was measured."""
        return None not in (self.text_encode_s, self.vae_decode_s, self.vae_encode_s,
                            self.retime_s, self.encode_s)

    @property
    def s_per_output(self) -> float | None:
        """Steps·step + text encoding (per prompt encoded) + VAE + retiming + H.264;
        components that could not be measured count as 0 (``complete`` says so)."""
        s = self.s_per_step
        if s is None:
            return None
        return (self.steps * s + self.text_encodes * (self.text_encode_s or 0.0)
                + (self.vae_encode_s or 0.0) + (self.vae_decode_s or 0.0)
                + (self.retime_s or 0.0) + (self.encode_s or 0.0))

    def to_json(self) -> dict[str, Any]:
        """Fields plus the derived figures."""
        out = asdict(self)
        out.update(s_per_step=self.s_per_step, s_per_output=self.s_per_output,
                   achieved_tflops=self.achieved_tflops, mfu_vs_989=self.mfu,
                   floor_s_per_step_800=self.floor_s_per_step,
                   step_vs_floor=(self.s_per_step / self.floor_s_per_step
                                  if self.s_per_step else None),
                   complete=self.complete)
        return out


@dataclass
class CaseResult:
    """Both configurations of one model at one size."""

    model: str
    case: str
    width: int
    height: int
    frames: int
    fps: int
    tokens: int
    configs: dict[str, ConfigResult] = field(default_factory=dict)
    params: int | None = None        # the timed denoiser's parameters

    @property
    def speedup(self) -> float | None:
        """Baseline seconds per output over fast seconds per output."""
        base, fast = self.configs.get("baseline"), self.configs.get("fast")
        if base and fast and base.s_per_output and fast.s_per_output:
            return base.s_per_output / fast.s_per_output
        return None

    @property
    def step_speedup(self) -> float | None:
        """Baseline seconds per step over fast seconds per step."""
        base, fast = self.configs.get("baseline"), self.configs.get("fast")
        if base and fast and base.s_per_step and fast.s_per_step:
            return base.s_per_step / fast.s_per_step
        return None

    def to_json(self) -> dict[str, Any]:
        """The case with both configurations and the ratios."""
        return {"model": self.model, "case": self.case, "width": self.width,
                "height": self.height, "frames": self.frames, "fps": self.fps,
                "tokens": self.tokens, "params": self.params,
                "configs": {k: v.to_json() for k, v in self.configs.items()},
                "speedup": self.speedup, "step_speedup": self.step_speedup}


# -- the fast path --------------------------------------------------------------------------


@dataclass
class FastSetup:
    """What the fast path turned on, what it had to leave off (with why), and the states
    it may still fall back to: (use the chosen attention backend, use compile) pairs."""

    attention: str = BASELINE_ATTENTION
    chosen: str | None = None
    tried: list[str] = field(default_factory=list)
    quantize: str = "off"
    compile: str = "off"
    compiled: bool = False
    states: list[tuple[bool, bool]] = field(default_factory=list)

    def attention_label(self) -> str:
        """The backend in use, followed by the ones that were unavailable or failed."""
        return "; ".join([self.attention, *self.tried])


def fp8_config(granularity: str) -> Any:
    """The engines' float8 config (``framecast.engines._gpu.fp8_quantization_config``):
    dynamic float8 activations and weights, per-row (or per-tensor) scales, and torchao's
    process-wide inductor tuning (coordinate descent, longer compiles) left off."""
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        PerRow,
        PerTensor,
    )

    scale = PerRow() if granularity == "row" else PerTensor()
    return Float8DynamicActivationFloat8WeightConfig(granularity=scale,
                                                     set_inductor_config=False)


def apply_fp8(model: Any, setup: FastSetup, granularity: str = "row") -> None:
    """torchao dynamic float8 activations and weights on every Linear (the engines'
    ``quantize = "fp8"``); on failure the model stays bf16 and the reason is recorded."""
    try:
        from torchao.quantization import quantize_

        quantize_(model, fp8_config(granularity))
        setup.quantize = f"fp8 (torchao dynamic, per {granularity})"
    except Exception as exc:
        setup.quantize = f"unavailable ({reason(exc)})"


def probe_backend(env: Env, name: str, heads: int, head_dim: int) -> None:
    """Run the backend once on a small attention problem; raises when it cannot run."""
    from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

    torch = env.torch
    q = torch.randn(1, 256, heads, head_dim, device=env.device, dtype=env.dtype)
    with torch.no_grad():
        out = dispatch_attention_fn(q, q, q, backend=AttentionBackendName(name))
    env.sync()
    if tuple(out.shape) != tuple(q.shape):
        raise RuntimeError(f"unexpected output shape {tuple(out.shape)}")


def reset_attention(model: Any) -> None:
    """Back to diffusers' default attention (torch SDPA), for the model and process-wide."""
    with contextlib.suppress(Exception):
        model.reset_attention_backend()
    restore_active_backend()


def apply_attention(env: Env, model: Any, candidates: list[str], setup: FastSetup, *,
                    heads: int, head_dim: int) -> None:
    """Set the first backend of ``candidates`` that works (``set_attention_backend`` plus a
    small probe); the ones before it are listed as ``unavailable (reason)``."""
    for name in candidates:
        try:
            model.set_attention_backend(name)
            probe_backend(env, name, heads, head_dim)
        except Exception as exc:
            reset_attention(model)
            setup.tried.append(f"{name} unavailable ({reason(exc)})")
            continue
        setup.attention = setup.chosen = name
        return
    setup.attention = f"{BASELINE_ATTENTION} (no faster backend)"


def compile_label(env: Env) -> str:
    """How the fast path compiles."""
    return "repeated blocks, fullgraph" + (
        "" if env.compile_backend == "inductor" else f" ({env.compile_backend} backend)")


def compile_blocks(env: Env, model: Any) -> None:
    """``compile_repeated_blocks(fullgraph=True)`` with static shapes (each size compiles
    once, as a server that sees one size would); errors surface at the first call."""
    config = env.torch._dynamo.config
    for limit in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, limit):
            setattr(config, limit, max(64, getattr(config, limit)))
            break
    model.compile_repeated_blocks(fullgraph=True, dynamic=False, backend=env.compile_backend)


def apply_compile(env: Env, model: Any, setup: FastSetup) -> None:
    """Compile the repeated blocks, or record why not."""
    try:
        compile_blocks(env, model)
    except Exception as exc:
        setup.compile = f"unavailable ({reason(exc)})"
        return
    setup.compiled = True
    setup.compile = compile_label(env)


def uncompile(env: Env, model: Any) -> None:
    """Undo ``compile_repeated_blocks``: the blocks run eagerly again."""
    names = set(getattr(model, "_repeated_blocks", None) or ())
    for module in model.modules():
        if type(module).__name__ in names:
            module._compiled_call_impl = None
    env.torch._dynamo.reset()


def plan_fallbacks(setup: FastSetup) -> None:
    """The states to try, best first: backend + compile, default attention + compile,
    backend eager, default attention eager (only those that differ)."""
    states: list[tuple[bool, bool]] = []
    for state in ((True, True), (False, True), (True, False), (False, False)):
        state = (state[0] and setup.chosen is not None, state[1] and setup.compiled)
        if state not in states:
            states.append(state)
    setup.states = states


def fall_back(env: Env, model: Any, setup: FastSetup, exc: BaseException) -> bool:
    """After a failed fast-path call: record why, and move to the next state (compile or
    the attention backend left off). False when there is none left."""
    if not setup.states:
        return False
    use_backend, use_compile = setup.states.pop(0)
    why = reason(exc)
    if use_backend and use_compile:
        setup.tried.insert(0, f"{setup.chosen} with compile failed ({why})")
    elif use_compile:
        setup.compile = f"unavailable ({why})"
    elif use_backend:
        setup.tried.insert(0, f"{setup.chosen} failed at full size ({why})")
    if not setup.states:
        return False
    use_backend, use_compile = setup.states[0]
    if setup.compiled:
        uncompile(env, model)
        setup.compiled = False
    if use_backend:
        model.set_attention_backend(setup.chosen)
        setup.attention = str(setup.chosen)
    else:
        reset_attention(model)
        setup.attention = f"{BASELINE_ATTENTION} (fallback)" if setup.chosen else \
            setup.attention
    if use_compile:
        compile_blocks(env, model)
        setup.compiled = True
        setup.compile = compile_label(env)
    elif not setup.compile.startswith(("unavailable", "off")):
        setup.compile = f"unavailable ({why})"
    return True


_ACTIVE_BACKEND: list[Any] = []


def remember_active_backend() -> None:
    """Note diffusers' process-wide attention backend (``set_attention_backend`` changes it)."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    _ACTIVE_BACKEND[:] = [_AttentionBackendRegistry._active_backend]


def restore_active_backend() -> None:
    """Put diffusers' process-wide attention backend back to what it was at the start."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    if _ACTIVE_BACKEND:
        _AttentionBackendRegistry.set_active_backend(_ACTIVE_BACKEND[0])


# -- timing the denoiser --------------------------------------------------------------------


def time_steps(env: Env, model: Any, step: Callable[[], Any], result: ConfigResult,
               setup: FastSetup | None) -> None:
    """Warm up (falling back from compile / the attention backend when the fast path
    fails), then time ``step``; fills the step times, peak memory and finiteness."""
    torch = env.torch
    env.reset_peak()
    warmup = max(env.warmup, 2 if setup is not None and setup.compiled else 1)
    out = None
    began = time.perf_counter()
    while True:
        try:
            for _ in range(warmup):
                out = step()
            env.sync()
            break
        except Exception as exc:
            if is_oom(exc, torch) or setup is None or not fall_back(env, model, setup, exc):
                raise
            env.free()
    result.warmup_s = time.perf_counter() - began
    result.finite = bool(torch.isfinite(out).all()) if out is not None else None
    result.step_times_s = env.measure(step, warmup=0)
    result.peak_gb = env.peak_gb()
    if setup is not None and setup.compiled:
        # what compiling added: the warm-up beyond as many steady steps (a fallback's
        # failed attempts included, which a request at a new size would pay too)
        steady = warmup * statistics.median(result.step_times_s)
        result.compile_s = max(0.0, result.warmup_s - steady)
    if setup is not None:
        result.attention, result.compile = setup.attention_label(), setup.compile


def progress(message: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def run_config(env: Env, model: Any, make_step: Callable[[bool], Callable[[], Any]],
               result: ConfigResult, setup: FastSetup | None, label: str) -> None:
    """Time one configuration; an error (out of memory included) is recorded, not raised."""
    if env.out_of_time():
        result.error = "skipped: the --time-budget-s was spent"
        progress(f"  {label} {result.name}: skipped (time budget)")
        return
    began = time.perf_counter()
    try:
        time_steps(env, model, make_step(result.forwards_per_step == 2), result, setup)
    except Exception as exc:
        result.error = reason(exc, 200)
        if setup is not None:
            result.attention, result.compile = setup.attention_label(), setup.compile
    finally:
        env.free()
    outcome = (f"error: {result.error}" if result.error else
               f"{fmt(result.s_per_step, '.3f')} s/step")
    progress(f"  {label} {result.name}: {outcome} ({time.perf_counter() - began:.0f} s with "
             f"warm-up)")


def wan_stepper(env: Env, model: Any, case: VideoCase, config: dict[str, Any],
                context_tokens: int) -> Callable[[bool], Callable[[], Any]]:
    """A factory of one ``WanImageToVideoPipeline`` denoising step at ``case``: input =
    latents ⊕ (mask + image condition), one forward (or two with guidance), Euler update."""
    torch = env.torch
    shape = (1, 16, case.latent_frames, case.height // 8, case.width // 8)
    latents = torch.randn(*shape, device=env.device, dtype=torch.float32)
    condition = torch.randn(1, config["in_channels"] - 16, *shape[2:], device=env.device,
                            dtype=env.dtype)
    prompt = torch.randn(1, context_tokens, config["text_dim"], device=env.device,
                         dtype=env.dtype)
    negative = torch.randn_like(prompt)
    timestep = torch.full((1,), 900.0, device=env.device)

    def make(cfg: bool) -> Callable[[], Any]:
        def step() -> Any:
            with torch.no_grad():
                x = torch.cat([latents, condition], dim=1).to(env.dtype)
                with model.cache_context("cond"):
                    pred = model(hidden_states=x, timestep=timestep, encoder_hidden_states=prompt,
                                 return_dict=False)[0]
                if cfg:
                    with model.cache_context("uncond"):
                        uncond = model(hidden_states=x, timestep=timestep,
                                       encoder_hidden_states=negative, return_dict=False)[0]
                    pred = uncond + GUIDANCE * (pred - uncond)
                latents.sub_(1e-3 * pred.float())
            return pred
        return step
    return make


def zimage_stepper(env: Env, model: Any, size: tuple[int, int], config: dict[str, Any],
                   caption_tokens: int) -> Callable[[bool], Callable[[], Any]]:
    """A factory of one ``ZImagePipeline`` step without guidance at ``size``."""
    torch = env.torch
    width, height = size
    latents = torch.randn(1, config["in_channels"], height // 8, width // 8,
                          device=env.device, dtype=torch.float32)
    caption = torch.randn(caption_tokens, config["cap_feat_dim"], device=env.device,
                          dtype=env.dtype)
    timestep = torch.full((1,), 0.5, device=env.device)

    def make(cfg: bool) -> Callable[[], Any]:
        def step() -> Any:
            with torch.no_grad():
                x = list(latents.to(env.dtype).unsqueeze(2).unbind(dim=0))
                out = model(x, timestep, [caption], return_dict=False)[0]
                pred = -torch.stack([o.float() for o in out], dim=0).squeeze(2)
                latents.sub_(1e-3 * pred)
            return pred
        return step
    return make


# -- components (text encoders, VAEs, retiming) ---------------------------------------------


def time_text_encoder(env: Env, kind: str, tokens: int) -> float:
    """Median seconds to encode one prompt padded to ``tokens`` with the real-size (or
    tiny) UMT5-XXL (``umt5``) or Qwen3-4B (``qwen3``) encoder; the module is freed after."""
    torch = env.torch
    import transformers

    held: dict[str, Any] = {}
    if kind == "umt5":
        config = transformers.UMT5Config(**(UMT5_TINY if env.tiny else UMT5_XXL))
        with env.building():
            held["model"] = transformers.UMT5EncoderModel(config).eval()
    else:
        config = transformers.Qwen3Config(**(QWEN3_TINY if env.tiny else QWEN3_4B))
        with env.building():
            held["model"] = transformers.Qwen3Model(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, tokens), device=env.device)
    mask = torch.ones_like(ids)

    def encode() -> Any:
        with torch.no_grad():
            out = held["model"](ids, attention_mask=mask, output_hidden_states=kind == "qwen3")
            return out.last_hidden_state if kind == "umt5" else out.hidden_states[-2]
    try:
        return statistics.median(env.measure(encode, warmup=env.component_warmup))
    finally:
        held.clear()
        env.free()


def time_wan_vae(env: Env, cases: list[VideoCase]) -> dict[str, dict[str, Any]]:
    """Per case: seconds for the VAE to encode the F-frame conditioning video (first frame
    plus zeros, as the I2V pipeline does) and to decode the latents; real-size
    ``AutoencoderKLWan`` in bf16. An error is recorded per case."""
    torch = env.torch
    from diffusers import AutoencoderKLWan

    with env.building():
        vae = AutoencoderKLWan(**(WAN_VAE_TINY if env.tiny else {})).eval()
    out: dict[str, dict[str, Any]] = {}
    for case in cases:
        entry: dict[str, Any] = {"encode_s": None, "decode_s": None, "error": None}
        try:
            video = torch.zeros(1, 3, case.frames, case.height, case.width, device=env.device,
                                dtype=env.dtype)
            video[:, :, 0].uniform_(-1, 1)
            z = torch.randn(1, 16, case.latent_frames, case.height // 8, case.width // 8,
                            device=env.device, dtype=env.dtype)
            with torch.no_grad():
                entry["encode_s"] = statistics.median(env.measure(
                    lambda v=video: vae.encode(v).latent_dist.mode(),
                    warmup=env.component_warmup, repeats=1))
                video = None
                entry["decode_s"] = statistics.median(env.measure(
                    lambda z=z: vae.decode(z, return_dict=False)[0],
                    warmup=env.component_warmup, repeats=1))
        except Exception as exc:
            entry["error"] = reason(exc)
        env.free()
        out[case.name] = entry
    vae = None
    env.free()
    return out


def time_flux_vae_decode(env: Env, size: tuple[int, int]) -> float:
    """Seconds for the Flux VAE (the Z-Image VAE) to decode one ``size`` image in bf16."""
    torch = env.torch
    from diffusers import AutoencoderKL

    held: dict[str, Any] = {}
    with env.building():
        held["vae"] = AutoencoderKL(**(FLUX_VAE_TINY if env.tiny else FLUX_VAE)).eval()
    width, height = size
    z = torch.randn(1, 16, height // 8, width // 8, device=env.device, dtype=env.dtype)
    try:
        with torch.no_grad():
            return statistics.median(env.measure(
                lambda: held["vae"].decode(z, return_dict=False)[0],
                warmup=env.component_warmup, repeats=1))
    finally:
        held.clear()
        env.free()


def time_host_tail(case: VideoCase) -> tuple[float, float]:
    """Seconds of the engine's host work after decoding, as ``write_video`` does it: flow-
    retiming ``case.frames`` generated frames to ``case.out_frames`` (0 when the counts
    match), and turning the pipeline's float frames into uint8 plus H.264 at 24 fps."""
    import tempfile

    import numpy as np

    from framecast.engines._diffusers import retimed, to_uint8_frames
    from framecast.media.video import VideoWriter

    rng = np.random.default_rng(0)
    base = rng.random((case.height, case.width, 3), dtype=np.float32)
    generated = np.stack([np.roll(base, 2 * i, axis=1) for i in range(case.frames)])
    began = time.perf_counter()
    frames = to_uint8_frames(generated[None])      # output_type="np": (1, F, H, W, 3)
    convert_s = time.perf_counter() - began
    began = time.perf_counter()
    out = list(retimed(frames, case.out_frames))
    retime_s = time.perf_counter() - began
    assert len(out) == case.out_frames
    with tempfile.TemporaryDirectory() as work:
        began = time.perf_counter()
        with VideoWriter(Path(work) / "video.mp4", case.width, case.height, 24) as writer:
            for frame in out:
                writer.write(frame)
        encode_s = time.perf_counter() - began
    return retime_s, convert_s + encode_s


# -- what the whole engine holds ------------------------------------------------------------

# One probe of the engine's peak: the result to fill, one denoising step (its inputs made
# inside), and a VAE decode given the rest of the engine.
MemoryProbe = tuple[ConfigResult, Callable[[], Any], Callable[[dict[str, Any]], Any]]


def engine_memory(env: Env, model: Any, build_rest: Callable[[], dict[str, Any]], held: str,
                  probes: list[MemoryProbe]) -> None:
    """Fill each probe's ``engine_resident_gb`` and ``engine_peak_gb``: build the rest of
    what the engine keeps on the device (``build_rest``) beside the timed ``model``, read the
    allocated memory, then run one step and one VAE decode per probe with all of it resident.
    Failures (out of memory included) are recorded in ``engine_memory``, never raised."""
    live = [p for p in probes if not p[0].error]
    if not live:
        return
    if env.out_of_time():
        for result, _, _ in live:
            result.engine_memory = "skipped: the --time-budget-s was spent"
        return
    rest: dict[str, Any] = {}
    try:
        env.free()
        rest.update(build_rest())
        resident = env.allocated_gb()
        how = f"measured (memory_allocated, max_memory_allocated): {held}"
        if resident is None:
            resident = module_bytes(model, *rest.values()) / 1e9
            how = f"resident computed from parameter and buffer bytes (CPU): {held}"
        for result, step, decode in live:
            env.reset_peak()
            with env.torch.no_grad():
                step()
                decode(rest)
            env.sync()
            result.engine_resident_gb, result.engine_peak_gb = resident, env.peak_gb()
            result.engine_memory = how
    except Exception as exc:
        what = "out of memory" if is_oom(exc, env.torch) else "failed"
        for result, _, _ in live:
            if result.engine_peak_gb is None:
                result.engine_memory = f"{what} with the whole engine resident ({reason(exc)})"
    finally:
        rest.clear()
        env.free()
    progress(f"  engine memory: {live[0][0].name}: {fmt(live[0][0].engine_resident_gb, '.1f')} "
             f"GB resident, {fmt(live[0][0].engine_peak_gb, '.1f')} GB peak")


def quantized_like(env: Env, module: Any, setup: FastSetup | None) -> Any:
    """``module`` in float8 when the fast path's denoiser is (the rest of the engine is
    quantized as the engine quantizes every denoiser)."""
    if setup is not None and setup.quantize.startswith("fp8"):
        from torchao.quantization import quantize_

        quantize_(module, fp8_config(env.fp8_granularity))
    return module


def wan_engine_rest(env: Env, config: dict[str, Any],
                    setup: FastSetup | None) -> Callable[[], dict[str, Any]]:
    """A builder of what ``wan_i2v`` (Wan2.2-A14B, offload none) holds besides the timed
    expert: the second expert (same config; fp8 on the fast path), UMT5-XXL and the VAE."""
    def build() -> dict[str, Any]:
        import transformers
        from diffusers import AutoencoderKLWan, WanTransformer3DModel

        rest: dict[str, Any] = {}
        with env.building():
            rest["transformer_2"] = WanTransformer3DModel(**config).eval()
        quantized_like(env, rest["transformer_2"], setup)
        with env.building():
            umt5 = transformers.UMT5Config(**(UMT5_TINY if env.tiny else UMT5_XXL))
            rest["text_encoder"] = transformers.UMT5EncoderModel(umt5).eval()
            rest["vae"] = AutoencoderKLWan(**(WAN_VAE_TINY if env.tiny else {})).eval()
        return rest
    return build


def wan_decode(env: Env, case: VideoCase) -> Callable[[dict[str, Any]], Any]:
    """A VAE decode of ``case``'s latents with the engine's VAE."""
    def decode(rest: dict[str, Any]) -> Any:
        z = env.torch.randn(1, 16, case.latent_frames, case.height // 8, case.width // 8,
                            device=env.device, dtype=env.dtype)
        return rest["vae"].decode(z, return_dict=False)[0]
    return decode


def component(errors: list[str], what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, or None with ``what: unavailable (reason)`` noted."""
    try:
        return fn()
    except Exception as exc:
        errors.append(f"{what}: unavailable ({reason(exc)})")
        return None


# -- the models -----------------------------------------------------------------------------


def run_wan(env: Env, args: argparse.Namespace, notes: list[str]) -> list[CaseResult]:
    """Wan2.2-I2V-A14B: components first (freed), then one expert, baseline at every size,
    then the same weights switched to the fast path at every size."""
    torch = env.torch
    from diffusers import WanTransformer3DModel

    config = WAN_TINY_TRANSFORMER if env.tiny else WAN22_A14B_TRANSFORMER
    context = 16 if env.tiny else WAN_TEXT_TOKENS
    cases = [VIDEO_CASES[n].tiny() if env.tiny else VIDEO_CASES[n] for n in args.resolutions]
    base_steps, fast_steps = args.steps
    dim = config["num_attention_heads"] * config["attention_head_dim"]

    def flops(case: VideoCase) -> float:
        return wan_forward_flops(case.tokens, layers=config["num_layers"], dim=dim,
                                 ffn=config["ffn_dim"], context=context)

    text_s: float | None = None
    vae: dict[str, dict[str, Any]] | None = None
    tail: dict[str, tuple[float, float] | None] = {}
    if not args.dit_only and not env.out_of_time():
        text_s = component(notes, "UMT5-XXL text encoder",
                           lambda: time_text_encoder(env, "umt5", context))
        vae = component(notes, "Wan VAE", lambda: time_wan_vae(env, cases))
        for case in cases:
            tail[case.name] = component(notes, f"retime and H.264 {case.name}",
                                        lambda c=case: time_host_tail(c))
        for name, entry in (vae or {}).items():
            if entry["error"]:
                notes.append(f"Wan VAE at {name}: unavailable ({entry['error']})")

    results = [CaseResult("wan22-a14b", c.name, c.width, c.height, c.frames, c.fps, c.tokens)
               for c in cases]

    def components(result: ConfigResult, case: VideoCase) -> ConfigResult:
        if not args.dit_only:
            result.text_encode_s = text_s
            entry = (vae or {}).get(case.name) or {}
            result.vae_encode_s, result.vae_decode_s = entry.get("encode_s"), \
                entry.get("decode_s")
            result.retime_s, result.encode_s = tail.get(case.name) or (None, None)
        return result

    with env.building():
        model = WanTransformer3DModel(**config)
    params = random_init_(model, torch)
    model.eval()
    for res in results:
        res.params = params
    notes.append(f"Wan2.2-I2V-A14B: one expert built, {count(params)} parameters "
                 f"(the second expert, same size, runs below boundary "
                 f"{WAN22_BOUNDARY_RATIO}·1000; same cost per step).")
    for case, res in zip(cases, results, strict=True):
        res.configs["baseline"] = components(ConfigResult(
            "baseline", BASELINE_ATTENTION, f"off ({env.dtype_name})", "off", base_steps, 2,
            2 * flops(case), text_encodes=2), case)
        run_config(env, model, wan_stepper(env, model, case, config, context),
                   res.configs["baseline"], None, f"wan22-a14b {case.name}")
    held = "both experts, UMT5-XXL and the VAE on the device, as wan_i2v holds them"

    def probes(name: str) -> list[MemoryProbe]:
        # the step's inputs are made inside the probe, after the resident figure is read
        return [(res.configs[name],
                 lambda c=case, cfg=name == "baseline":
                     wan_stepper(env, model, c, config, context)(cfg)(),
                 wan_decode(env, case)) for case, res in zip(cases, results, strict=True)]
    engine_memory(env, model, wan_engine_rest(env, config, None), f"{held} (bf16)",
                  probes("baseline"))
    setup = make_fast(env, args, model, heads=config["num_attention_heads"],
                      head_dim=config["attention_head_dim"])
    for case, res in zip(cases, results, strict=True):
        res.configs["fast"] = components(ConfigResult(
            "fast", setup.attention_label(), setup.quantize, setup.compile, fast_steps, 1,
            flops(case), text_encodes=1), case)
        run_config(env, model, wan_stepper(env, model, case, config, context),
                   res.configs["fast"], setup, f"wan22-a14b {case.name}")
    engine_memory(env, model, wan_engine_rest(env, config, setup),
                  f"{held} (experts: {setup.quantize})", probes("fast"))
    finish_fast(env, model, setup, "wan22-a14b", notes)
    model = None        # free the expert (the probes above close over the name)
    env.free()
    return results


def run_zimage(env: Env, args: argparse.Namespace, notes: list[str]) -> list[CaseResult]:
    """Z-Image-Turbo at 1024×1024: text encoder and VAE decode, then the DiT in bf16 and
    on the fast path, both 9 steps without guidance."""
    torch = env.torch
    from diffusers import ZImageTransformer2DModel

    config = ZIMAGE_TINY_TRANSFORMER if env.tiny else ZIMAGE_TRANSFORMER
    size = (128, 128) if env.tiny else IMAGE_SIZE
    caption = 32 if env.tiny else IMAGE_CAPTION_TOKENS
    image_tokens = (size[0] // 16) * (size[1] // 16)
    flops = zimage_forward_flops(image_tokens, caption, layers=config["n_layers"],
                                 refiner_layers=config["n_refiner_layers"], dim=config["dim"])
    text_s = decode_s = None
    if not args.dit_only and not env.out_of_time():
        text_s = component(notes, "Qwen3-4B text encoder",
                           lambda: time_text_encoder(env, "qwen3", caption))
        decode_s = component(notes, "Flux VAE decode", lambda: time_flux_vae_decode(env, size))
    res = CaseResult("zimage", f"{size[0]}x{size[1]}", size[0], size[1], 1, 0,
                     image_tokens + caption)

    def components(result: ConfigResult) -> ConfigResult:
        if not args.dit_only:
            result.text_encode_s, result.vae_decode_s = text_s, decode_s
            result.vae_encode_s = result.retime_s = result.encode_s = 0.0
        return result

    def rest() -> dict[str, Any]:      # the engine quantizes the DiT only
        import transformers
        from diffusers import AutoencoderKL

        qwen = transformers.Qwen3Config(**(QWEN3_TINY if env.tiny else QWEN3_4B))
        with env.building():
            return {"text_encoder": transformers.Qwen3Model(qwen).eval(),
                    "vae": AutoencoderKL(**(FLUX_VAE_TINY if env.tiny else FLUX_VAE)).eval()}

    def decode(parts: dict[str, Any]) -> Any:
        z = torch.randn(1, 16, size[1] // 8, size[0] // 8, device=env.device, dtype=env.dtype)
        return parts["vae"].decode(z, return_dict=False)[0]

    held = "the DiT, Qwen3-4B and the Flux VAE on the device, as zimage holds them"

    with env.building():
        model = ZImageTransformer2DModel(**config)
    params = random_init_(model, torch)
    model.eval()
    res.params = params
    notes.append(f"Z-Image-Turbo: {count(params)} parameters, {image_tokens} image + "
                 f"{caption} caption tokens (the caption's maximum; shorter prompts cost less); "
                 f"{args.image_steps} steps are {args.image_steps} forwards in diffusers "
                 f"0.42.1's ZImagePipeline (its last sigma is 1/steps, not 0).")
    steps = args.image_steps
    res.configs["baseline"] = components(ConfigResult(
        "baseline", BASELINE_ATTENTION, f"off ({env.dtype_name})", "off", steps, 1, flops))
    make = zimage_stepper(env, model, size, config, caption)
    run_config(env, model, make, res.configs["baseline"], None, f"zimage {res.case}")
    engine_memory(env, model, rest, f"{held} (bf16)",
                  [(res.configs["baseline"], lambda: make(False)(), decode)])
    heads = config["n_heads"]
    setup = make_fast(env, args, model, heads=heads, head_dim=config["dim"] // heads)
    res.configs["fast"] = components(ConfigResult(
        "fast", setup.attention_label(), setup.quantize, setup.compile, steps, 1, flops))
    run_config(env, model, make, res.configs["fast"], setup, f"zimage {res.case}")
    engine_memory(env, model, rest, f"{held} (DiT: {setup.quantize})",
                  [(res.configs["fast"], lambda: make(False)(), decode)])
    finish_fast(env, model, setup, "zimage", notes)
    del model
    env.free()
    return [res]


def make_fast(env: Env, args: argparse.Namespace, model: Any, *, heads: int,
              head_dim: int) -> FastSetup:
    """Switch ``model`` to the fast path in the engines' order: fp8, attention, compile."""
    setup = FastSetup()
    if args.no_fp8:
        setup.quantize = "off (--no-fp8)"
    else:
        apply_fp8(model, setup, env.fp8_granularity)
    apply_attention(env, model, list(args.attention_backends), setup, heads=heads,
                    head_dim=head_dim)
    if args.no_compile:
        setup.compile = "off (--no-compile)"
    else:
        apply_compile(env, model, setup)
    plan_fallbacks(setup)
    return setup


def finish_fast(env: Env, model: Any, setup: FastSetup, name: str, notes: list[str]) -> None:
    """Note what the fast path ended up with (reasons in full), and leave no process-wide
    state behind for the next model: attention backend and compiled code."""
    notes.append(f"{name} fast path: attention {setup.attention_label()}; fp8: "
                 f"{setup.quantize}; compile: {setup.compile}.")
    with contextlib.suppress(Exception):
        model.reset_attention_backend()
    restore_active_backend()
    env.torch._dynamo.reset()


# -- report ---------------------------------------------------------------------------------


def count(params: int) -> str:
    """A parameter count in words."""
    return f"{params / 1e9:.2f}B" if params >= 1e8 else f"{params:,}"


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    """A number for the table, ``n/a`` when missing."""
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def short(text: str, limit: int = 70) -> str:
    """``text`` shortened for a table cell (the JSON has it whole)."""
    text = text.replace("|", "/")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def goal_checks(cases: list[CaseResult]) -> list[dict[str, Any]]:
    """The 480p goal, checked against every 480p Wan case of the run."""
    checks = []
    for case in cases:
        if case.model != "wan22-a14b" or not case.case.startswith("480p"):
            continue
        fast = case.configs.get("fast")
        seconds = fast.s_per_output if fast else None
        checks.append({"case": case.case, "frames": case.frames, "fps": case.fps,
                       "fast_s_per_video": seconds, "speedup": case.speedup,
                       "time_met": seconds is not None and seconds <= GOAL_VIDEO_S,
                       "speedup_met": case.speedup is not None
                       and case.speedup >= GOAL_SPEEDUP,
                       "complete": bool(fast and fast.complete)})
    return checks


def goal_lines(cases: list[CaseResult], tiny: bool) -> list[str]:
    """The goal and, per 480p Wan case, whether the fast path meets it."""
    lines = [f"Goal: 5 s 480p Wan2.2-I2V-A14B ≤ {GOAL_VIDEO_S:.0f} s per video on one H100 "
             f"and ≥ {GOAL_SPEEDUP:.0f}× the baseline."]
    if tiny:
        return [*lines, "- tiny run: the goal is not evaluated."]
    checks = goal_checks(cases)
    if not checks:
        return [*lines, "- no 480p Wan case in this run."]
    for c in checks:
        partial = "" if c["complete"] else " (some components not measured)"
        lines.append(f"- {c['case']} ({c['frames']} frames at {c['fps']} fps): "
                     f"{fmt(c['fast_s_per_video'], '.1f', ' s')} "
                     f"{'met' if c['time_met'] else 'NOT met'}, "
                     f"{fmt(c['speedup'], '.1f', '×')} "
                     f"{'met' if c['speedup_met'] else 'NOT met'}{partial}")
    return lines


def report(cases: list[CaseResult], notes: list[str], header: str, command: str,
           tiny: bool) -> str:
    """The markdown report: one row per case and configuration."""
    lines = [header, "",
             "| model | case | size | frames@fps | tokens | config | attention | fp8 | compile "
             "| steps×fwd | s/step | PFLOP/step | TF/s | MFU (989) | step / 800 TF/s floor "
             "| compile s | text s | VAE enc s | VAE dec s | retime s | H.264 s | s/output "
             "| speed-up | DiT peak GB | engine resident GB | engine peak GB |",
             "|---|---|---|---|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:"
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        for name, c in case.configs.items():
            step_s = c.s_per_step
            speed = "1.0×" if name == "baseline" else fmt(case.speedup, ".1f", "×")
            if name != "baseline" and case.step_speedup:
                speed += f" (step {case.step_speedup:.1f}×)"
            text = (None if c.text_encode_s is None
                    else c.text_encodes * c.text_encode_s)
            frames = f"{case.frames}@{case.fps}" if case.fps else "image"
            row = [case.model, case.case, f"{case.width}×{case.height}", frames,
                   f"{case.tokens:,}", name, brief(c.attention), brief(c.quantize),
                   brief(c.compile), f"{c.steps}×{c.forwards_per_step}",
                   fmt(step_s, ".3f"), f"{c.flops_per_step / 1e15:.3g}",
                   fmt(c.achieved_tflops, ".3g"), fmt(c.mfu, ".0%"),
                   fmt(step_s / c.floor_s_per_step if step_s else None, ".3g", "×"),
                   "off" if name == "baseline" else fmt(c.compile_s, ".1f"),
                   fmt(text, ".2f"), fmt(c.vae_encode_s, ".2f"), fmt(c.vae_decode_s, ".2f"),
                   fmt(c.retime_s, ".2f"), fmt(c.encode_s, ".2f"),
                   fmt(c.s_per_output, ".1f") + ("" if c.complete else "*"),
                   speed, fmt(c.peak_gb, ".1f"), fmt(c.engine_resident_gb, ".1f"),
                   fmt(c.engine_peak_gb, ".1f")]
            if c.error:
                row[10] = f"error ({short(c.error, 90)})"
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "s/output = steps × s/step + text encoding (×2 with guidance) + VAE encode + "
              "VAE decode + retiming (16 fps → 24 fps on the CPU) + uint8 conversion and "
              "H.264; * = some component not measured (counted as 0). compile s = the "
              "warm-up's wall time over as many steady steps, paid once per size. MFU is "
              f"against 989 TF/s dense BF16 (the FP8 peak is {PEAK_FP8_TFLOPS:.0f}); the floor "
              f"is the step at {FLOOR_TFLOPS:.0f} TF/s. DiT peak = the timed denoiser alone; "
              "engine resident / peak = everything the engine holds (see the notes).", ""]
    lines += goal_lines(cases, tiny)
    memory = sorted({f"{case.model} {name}: {c.engine_memory}" for case in cases
                     for name, c in case.configs.items() if c.engine_memory})
    if memory:
        lines += ["", "Engine memory:", *[f"- {m}" for m in memory]]
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------


def parse_list(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated list, checked against ``allowed``."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if allowed is not None and t not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of "
                                         f"{', '.join(allowed or ())}, got {text!r}")
    return items


def parse_resolutions(text: str) -> list[str]:
    """Video cases; a dropped case (121 native frames) is refused naming its replacement."""
    dropped = [t.strip() for t in text.split(",") if t.strip() in DROPPED_CASES]
    if dropped:
        raise argparse.ArgumentTypeError(
            "; ".join(f"{d!r} generated 121 frames natively, which wan_i2v never does (it "
                      f"generates 81 at 16 fps and retimes): use {DROPPED_CASES[d]!r}"
                      for d in dropped))
    return parse_list(text, tuple(VIDEO_CASES))


def parse_steps(text: str) -> tuple[int, int]:
    """``BASELINE,FAST`` denoising steps per video."""
    try:
        base, fast = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected BASELINE,FAST steps, got {text!r}") from exc
    if base < 1 or fast < 1:
        raise argparse.ArgumentTypeError("steps must be ≥ 1")
    return base, fast


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=lambda s: parse_list(s, MODELS), default=list(MODELS),
                        help=f"comma-separated, of {', '.join(MODELS)} (default: both)")
    parser.add_argument("--resolutions", type=parse_resolutions,
                        default=list(DEFAULT_RESOLUTIONS),
                        help=f"video cases, of {', '.join(VIDEO_CASES)} "
                             f"(default: {','.join(DEFAULT_RESOLUTIONS)})")
    parser.add_argument("--steps", type=parse_steps, default=(40, 4),
                        help="video denoising steps, baseline,fast (default: 40,4)")
    parser.add_argument("--image-steps", type=int, default=9,
                        help="Z-Image steps in both configurations (default: 9)")
    parser.add_argument("--device", default=None,
                        help="torch device (default: cuda; cpu with --tiny)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny models and sizes through the same code: a smoke test "
                             "that runs on the CPU in seconds")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed steps before timing (at least 2 when compiled)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed steps, median reported (default: 3; 2 with --tiny)")
    parser.add_argument("--attention-backends", type=parse_list, default=list(DEFAULT_BACKENDS),
                        help="fast-path attention backends to try, in order (default: "
                             f"{','.join(DEFAULT_BACKENDS)})")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend of the fast path (default: inductor; "
                             "eager with --tiny, which still traces with fullgraph)")
    parser.add_argument("--no-compile", action="store_true", help="fast path without compile")
    parser.add_argument("--no-fp8", action="store_true", help="fast path without fp8")
    parser.add_argument("--fp8-granularity", choices=FP8_GRANULARITIES, default="row",
                        help="float8 scales per row or per tensor (default: row, as the "
                             "engines' fp8_granularity)")
    parser.add_argument("--time-budget-s", type=float, default=None,
                        help="start no stage after this many seconds; what is left is "
                             "reported as skipped (default: no budget)")
    parser.add_argument("--dit-only", action="store_true",
                        help="time only the denoisers (no text encoder, VAE, retiming)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the models, print the report; the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/gpu_engines.py",
                                                *argv])
    device = args.device or ("cpu" if args.tiny else "cuda")
    try:
        import torch
    except ImportError:
        print("bench/gpu_engines.py needs torch and diffusers: pip install -e '.[diffusers]'",
              file=sys.stderr)
        return 2
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"bench/gpu_engines.py needs a CUDA GPU (torch {torch.__version__} sees none); "
              "run with --tiny for a CPU smoke test of the same code.", file=sys.stderr)
        return 2
    if not device.startswith("cuda") and not args.tiny:
        print(f"full-size models on {device} would take hours: use a CUDA device, or --tiny.",
              file=sys.stderr)
        return 2
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    import diffusers

    try:
        import torchao
        torchao_version = torchao.__version__
    except ImportError:
        torchao_version = "not installed"
    repeats = args.repeats if args.repeats is not None else (2 if args.tiny else 3)
    env = Env(torch=torch, device=device, tiny=args.tiny, repeats=max(1, repeats),
              warmup=max(0, args.warmup),
              compile_backend=args.compile_backend or ("eager" if args.tiny else "inductor"),
              fp8_granularity=args.fp8_granularity,
              deadline=(None if args.time_budget_s is None
                        else time.monotonic() + args.time_budget_s))
    torch.manual_seed(0)
    remember_active_backend()
    notes: list[str] = []
    cases: list[CaseResult] = []
    began = time.perf_counter()
    runners = {"wan22-a14b": run_wan, "zimage": run_zimage}
    for name in args.models:
        if env.out_of_time():
            notes.append(f"{name}: skipped (the --time-budget-s was spent)")
            continue
        print(f"{name}: running on {env.describe()} ...", file=sys.stderr)
        try:
            cases += runners[name](env, args, notes)
        except Exception as exc:
            if is_oom(exc, torch):
                notes.append(f"{name}: unavailable (out of memory: {reason(exc)})")
            else:
                notes.append(f"{name}: failed ({reason(exc, 200)})")
        env.free()
    header = (f"GPU engines, random {env.dtype_name} weights"
              f"{' (TINY configs: a smoke test)' * args.tiny}: "
              f"{env.describe()}, torch {torch.__version__}, diffusers {diffusers.__version__}, "
              f"torchao {torchao_version}, Python {platform.python_version()}; "
              f"median of {env.repeats} timed step(s) after warm-up; "
              f"{time.perf_counter() - began:.0f} s in all.")
    print(report(cases, notes, header, command, args.tiny))
    if args.json:
        data = {"command": command, "device": env.describe(), "tiny": args.tiny,
                "torch": torch.__version__, "diffusers": diffusers.__version__,
                "torchao": torchao_version, "peak_bf16_tflops": PEAK_BF16_TFLOPS,
                "floor_tflops": FLOOR_TFLOPS, "time_budget_s": args.time_budget_s,
                "elapsed_s": time.perf_counter() - began,
                "goal": {"video_s": GOAL_VIDEO_S, "speedup": GOAL_SPEEDUP,
                         "checks": [] if args.tiny else goal_checks(cases)},
                "results": [c.to_json() for c in cases], "notes": notes}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2, default=str))
    return 0 if cases and all(not c.error for r in cases for c in r.configs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
