"""The diffusers engines' fast path, made safe: attention backends checked before the weights
load, ``torch.compile`` that falls back to eager instead of failing a task, float8 weights
quantised on the device, and a compile cache that outlives the process.

Every function imports torch and diffusers lazily (this module is imported by the engines,
which the API process imports without torch). Each choice here comes from the GPU review
(research/gpu-review-2026-12.md), with the library lines behind it:

* dynamo's default recompile limit (8) with ``fullgraph=True`` raises
  ``FailOnRecompileLimitHit`` instead of falling back: LTX-2 without distillation builds 5
  graphs on its first request and failed on its second size; Wan2.2 with per-expert and
  static-camera LoRAs on its 7th variant. The limit is raised to 64 and any dynamo or
  inductor error during a call switches the pipeline to eager for the child's life.
* hub-kernel attention backends (``_flash_3_hub``, ...) need the ``kernels`` package and a
  download; a backend that cannot run here falls back to PyTorch's native attention with a
  warning, decided before the weights are read (a failed load is not cached, so failing
  after ``from_pretrained`` re-read 40–70 GB per task).
* backends that take no attention mask (flash, sage, ...) fail at the first step of a
  pipeline that passes one (LTX-2 always does): such an engine refuses them in its options.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framecast.core.errors import ConfigError

log = logging.getLogger(__name__)

NATIVE_BACKEND = "native"
# Backends whose kernels refuse an ``attn_mask`` (diffusers' attention_dispatch raises
# "`attn_mask` is not supported for ..." in each of these).
MASKLESS_BACKENDS = frozenset({
    "flash", "flash_hub", "flash_4_hub", "_flash_3", "_flash_3_hub", "aiter_fa2_hub",
    "_native_flash", "_native_xla", "sage", "sage_hub", "sage_blackwell_hub",
    "_sage_qk_int8_pv_fp8_cuda", "_sage_qk_int8_pv_fp8_cuda_sm90",
    "_sage_qk_int8_pv_fp16_cuda", "_sage_qk_int8_pv_fp16_triton",
})
# Safe defaults: enough recompiles for every size × frame count × adapter set a deployment
# serves (LTX-2: 17 graphs over 5 sizes in the review), and torch's own dynamic-shape rule.
RECOMPILE_LIMIT = 64
FP8_GRANULARITIES = ("row", "tensor")
COMPILE_BACKENDS = ("inductor", "eager", "aot_eager")


def attention_backend_names() -> list[str]:
    """Every attention backend name this diffusers knows."""
    dispatch = importlib.import_module("diffusers.models.attention_dispatch")
    return sorted(b.value for b in dispatch.AttentionBackendName)


def check_backend_name(name: str, *, engine: str, needs_mask: bool) -> None:
    """Refuse, at configuration time, a backend name diffusers does not know or one the
    engine's pipeline cannot use (it passes attention masks); ``ConfigError`` names both."""
    where = f"engine {engine} options: attention_backend"
    if needs_mask and name in MASKLESS_BACKENDS:
        raise ConfigError(f"{where} {name!r} takes no attention mask, and this engine's "
                          f"pipeline passes one at every step; use native, _native_cudnn, "
                          f"_native_efficient, flex or xformers")
    try:
        known = attention_backend_names()
    except ImportError:       # no diffusers here (the API process): the child checks again
        return
    if name not in known:
        raise ConfigError(f"{where} {name!r} is not a diffusers attention backend (known: "
                          f"{', '.join(known)})")


def usable_backend(name: str) -> tuple[str, str | None]:
    """``(backend, why_not)``: ``name`` when it can run in this process, else the native
    backend and the reason. Checked before loading weights: the package a backend needs, and
    for hub kernels that the kernel is already in the local cache (nothing is downloaded)."""
    dispatch = importlib.import_module("diffusers.models.attention_dispatch")
    backend = dispatch.AttentionBackendName(name)
    try:
        dispatch._check_attention_backend_requirements(backend)
        if backend in getattr(dispatch, "_HUB_KERNELS_REGISTRY", {}):
            with _offline_hub():
                dispatch._maybe_download_kernel_for_backend(backend)
    except Exception as exc:   # any reason at all means: not usable here
        reason = f"{name} cannot run here ({type(exc).__name__}: {exc})"
        log.warning("attention backend %s; using %s attention instead", reason, NATIVE_BACKEND)
        return NATIVE_BACKEND, reason
    return name, None


@contextmanager
def _offline_hub() -> Iterator[None]:
    """Hub lookups read the local cache only while inside (the server downloads nothing).
    diffusers' attention dispatch copied the flag when it was imported, so its copy is set
    too: otherwise it would ask the Hub whether the kernel's publisher is trusted."""
    constants = importlib.import_module("huggingface_hub.constants")
    dispatch = importlib.import_module("diffusers.models.attention_dispatch")
    old_env, old_flag = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
    old_dispatch = getattr(dispatch, "HF_HUB_OFFLINE", None)
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    dispatch.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old_flag
        dispatch.HF_HUB_OFFLINE = old_dispatch
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env


def set_backend(denoisers: list[Any], name: str) -> None:
    """Put the denoisers' attention on ``name`` and only them: diffusers'
    ``set_attention_backend`` also makes it the process-wide default, which every other
    module (the VAE, an image encoder) would then inherit; that default is restored."""
    dispatch = importlib.import_module("diffusers.models.attention_dispatch")
    registry = dispatch._AttentionBackendRegistry
    before = registry._active_backend
    try:
        for denoiser in denoisers:
            denoiser.set_attention_backend(name)
    finally:
        registry.set_active_backend(before)


def use_compile_cache(directory: str | None) -> Path:
    """Point inductor's on-disk cache (compiled kernels, FX graphs, autotuning) at
    ``directory`` (default: ``$TORCHINDUCTOR_CACHE_DIR``, else ``~/.cache/framecast/inductor``)
    so a restarted child compiles from the cache instead of from scratch."""
    path = Path(directory or os.environ.get("TORCHINDUCTOR_CACHE_DIR")
                or Path.home() / ".cache" / "framecast" / "inductor").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
    return path


def compile_denoisers(denoisers: list[Any], *, backend: str, dynamic: bool | None,
                      recompile_limit: int) -> None:
    """``torch.compile`` each denoiser's repeated blocks (regional compilation; the whole
    module when it declares none), full-graph, with room for ``recompile_limit`` variants."""
    dynamo = importlib.import_module("torch._dynamo")
    dynamo.config.recompile_limit = max(int(dynamo.config.recompile_limit), recompile_limit)
    dynamo.config.accumulated_recompile_limit = max(
        int(dynamo.config.accumulated_recompile_limit), recompile_limit * 16)
    kwargs: dict[str, Any] = {"fullgraph": True, "backend": backend, "dynamic": dynamic}
    for denoiser in denoisers:
        if hasattr(denoiser, "compile_repeated_blocks") and \
                getattr(denoiser, "_repeated_blocks", None):
            denoiser.compile_repeated_blocks(**kwargs)
        else:
            denoiser.compile(**kwargs)


def uncompile(denoisers: list[Any]) -> None:
    """Undo ``compile_denoisers``: every module calls its eager forward again, and dynamo
    forgets its graphs and guards."""
    for denoiser in denoisers:
        for module in denoiser.modules():
            if getattr(module, "_compiled_call_impl", None) is not None:
                module._compiled_call_impl = None
    importlib.import_module("torch._dynamo").reset()


def is_compile_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from torch.compile (dynamo or inductor), not from the model."""
    exc_module = importlib.import_module("torch._dynamo.exc")
    kinds = (exc_module.TorchDynamoException,
             getattr(exc_module, "FailOnRecompileLimitHit", exc_module.TorchDynamoException))
    return isinstance(exc, kinds)


def fp8_config(granularity: str = "row") -> Any:
    """torchao's dynamic-float8 config: float8 weights and activations, scaled per output
    row (``row``) or per tensor; torchao's process-wide inductor tuning left off."""
    try:
        quant_api = importlib.import_module("torchao.quantization")
    except ImportError as exc:
        raise ConfigError("quantize = \"fp8\" needs torchao: pip install "
                          "'framecast[diffusers]'") from exc
    scale = quant_api.PerRow() if granularity == "row" else quant_api.PerTensor()
    return quant_api.Float8DynamicActivationFloat8WeightConfig(granularity=scale,
                                                               set_inductor_config=False)


def quantize_fp8(module: Any, *, granularity: str = "row") -> None:
    """Put ``module``'s Linear weights in float8 where it lies (on the GPU: seconds)."""
    quant_api = importlib.import_module("torchao.quantization")
    quant_api.quantize_(module, fp8_config(granularity))


def fp8_quantization_config(denoisers: list[str], *, granularity: str = "row") -> Any:
    """A diffusers ``PipelineQuantizationConfig`` putting the denoisers' Linear weights in
    float8 with dynamic float8 activations (torchao; Hopper and newer). ``row`` scales per
    output row, which keeps outliers in one row from flattening the rest (torchao's default,
    per tensor, is ``tensor``). torchao's inductor tuning (coordinate descent, which it
    would switch on for the whole process and which lengthens every compile) stays off."""
    diffusers = importlib.import_module("diffusers")
    quant = diffusers.TorchAoConfig(fp8_config(granularity))
    return diffusers.PipelineQuantizationConfig(
        quant_mapping={name: quant for name in denoisers})
