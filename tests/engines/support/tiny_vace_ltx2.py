"""Tiny, randomly initialised ``WanVACEPipeline`` and ``LTX2ConditionPipeline`` folders for the
``wan_vace`` and ``ltx2`` engine tests (research/engines-performance.md §5.1–5.2), built
offline: local tokenizers, a locally configured UMT5 / Gemma-3 text encoder.

Both keep the real models' compression, so the frame and size rules the engines apply are the
real ones:

* Wan: VAE 8× spatial, 4× temporal, transformer patch 1×2×2 (4n+1 frames, sizes of 16). Even
  this VAE takes seconds per frame at a Seedance size on a CPU (3-channel 3-D convolutions at
  full resolution), so the end-to-end test keeps its clip to a few native frames.
* LTX-2: VAE 32× spatial, 8× temporal (patch 4, then spatial / temporal / 2× spatiotemporal
  downsampling), transformer patch 1 (8n+1 frames, sizes of 32): 864×480 is cheap. The audio
  VAE and vocoder run at 16 kHz (the real vocoder: 24 kHz); AAC takes both.

Below the builders: ``PipeSpy`` (records what a pipeline is called with and returns),
``picture`` and ``run_ark_task`` (one Ark video task over HTTP, polled to the end).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.engines.support.tiny import local_tokenizer, save_pipeline

# The Gemma text hidden size must equal the connectors' width (4 heads × 8).
LTX2_TEXT_HIDDEN = 32
LTX2_AUDIO_SAMPLE_RATE = 16000


def _umt5() -> Any:
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(vocab_size=1000, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                        relative_attention_num_buckets=8, dropout_rate=0.0)
    return UMT5EncoderModel(config).eval()


def build_wan_vace(folder: Path) -> Path:
    """A tiny Wan2.1-VACE pipeline (one transformer, two VACE layers) saved under ``folder``."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(0)
    text_encoder = _umt5()
    torch.manual_seed(0)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        # 1080p is 120 patches wide: the rotary table must reach that far
        rope_max_seq_len=256, vace_layers=[0, 2],
        # 2 × z_dim (inactive + reactive video latents) + 8 × 8 (the mask, folded by the VAE stride)
        vace_in_channels=96)
    pipe = WanVACEPipeline(tokenizer=local_tokenizer("t5"), text_encoder=text_encoder, vae=vae,
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                           transformer=transformer)
    return save_pipeline(pipe, folder)


def build_ltx2(folder: Path, *, video_heads: tuple[int, int] = (2, 8),
               audio_heads: tuple[int, int] = (2, 4)) -> Path:
    """A tiny LTX-2 condition pipeline (video + audio) saved under ``folder``; the
    transformer's attention is ``(heads, head size)`` for video and audio (the device check
    grows them, ``bench/_device_pipelines.py``)."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2ConditionPipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    torch.manual_seed(0)
    text_config = Gemma3TextConfig(
        vocab_size=1000, hidden_size=LTX2_TEXT_HIDDEN, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
        sliding_window=64)
    vision_config = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=28, patch_size=14)
    text_encoder = Gemma3ForConditionalGeneration(Gemma3Config(
        text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4)).eval()

    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1,
        num_attention_heads=video_heads[0], attention_head_dim=video_heads[1],
        cross_attention_dim=video_heads[0] * video_heads[1], audio_in_channels=4,
        audio_out_channels=4, audio_num_attention_heads=audio_heads[0],
        audio_attention_head_dim=audio_heads[1],
        audio_cross_attention_dim=audio_heads[0] * audio_heads[1], num_layers=2,
        qk_norm="rms_norm_across_heads", caption_channels=LTX2_TEXT_HIDDEN,
        rope_double_precision=False, rope_type="split")

    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=LTX2_TEXT_HIDDEN, text_proj_in_factor=text_config.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
        video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split")

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4,
        block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(False, False, False), upsample_factor=(1, 1, 1),
        timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True,
        decoder_causal=False, spatial_compression_ratio=32, temporal_compression_ratio=8)

    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None,
        in_channels=2, resolution=32, latent_channels=2, norm_type="pixel",
        causality_axis="height", dropout=0.0, mid_block_add_attention=False,
        sample_rate=LTX2_AUDIO_SAMPLE_RATE, mel_hop_length=160, is_causal=True, mel_bins=8)

    torch.manual_seed(0)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins,
        # 4 × 4 × 10 = the mel hop (160): a second of mel frames becomes a second of sound
        hidden_channels=32, out_channels=2, upsample_kernel_sizes=[8, 8, 20],
        upsample_factors=[4, 4, 10],
        resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
        output_sampling_rate=LTX2_AUDIO_SAMPLE_RATE)

    pipe = LTX2ConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
        text_encoder=text_encoder, tokenizer=local_tokenizer("t5", model_max_length=1024),
        connectors=connectors, transformer=transformer, vocoder=vocoder, audio_scheduler=None)
    return save_pipeline(pipe, folder)


# -- what the tests share -------------------------------------------------------------------


class PipeSpy:
    """Stands in for an engine's pipeline: records each call's keyword arguments and what
    the real pipeline returned (other attributes read through to it)."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.calls: list[dict[str, Any]] = []
        self.results: list[Any] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        self.results.append(self.pipe(**kwargs))
        return self.results[-1]

    def generated(self, index: int = -1) -> bytes:
        """The frames (and audio, when there is some) of one call's result, as bytes."""
        import numpy as np

        result = self.results[index]
        parts = [np.ascontiguousarray(result.frames).tobytes()]
        if getattr(result, "audio", None) is not None:
            parts.append(result.audio.detach().float().cpu().numpy().tobytes())
        return b"".join(parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


def picture(width: int, height: int, seed: int) -> Any:
    """A textured RGB test picture (the acceptance helpers' ``make_image``) as a PIL image."""
    import io

    from PIL import Image

    from tests.acceptance.support.server import make_image

    with Image.open(io.BytesIO(make_image(width, height, seed))) as img:
        return img.convert("RGB")


def run_ark_task(server: Any, body: dict[str, Any], timeout_s: float = 240.0) -> dict[str, Any]:
    """Create an Ark video task over HTTP, wait until it is terminal, return the task."""
    import time

    import httpx

    from tests.acceptance.support.server import API_KEY, TERMINAL

    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{server.base_url}/contents/generations/tasks"
    created = httpx.post(url, json=body, headers=headers, timeout=30.0)
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    deadline = time.monotonic() + timeout_s
    while True:
        task = httpx.get(f"{url}/{task_id}", headers=headers, timeout=30.0).json()
        if task["status"] in TERMINAL:
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']}:\n" \
                                            f"{server.log_tail()}"
        time.sleep(0.5)


def small_spec(model: str, size: tuple[int, int], frames: int,
               images: Sequence[tuple[str, int, int]] = (), **fields: object) -> Any:
    """A resolved ``VideoSpec`` small enough for the CPU (seed 7, 24 fps), with images given
    as (role, width, height)."""
    from framecast.core.spec import ImageInput, VideoSpec

    values: dict[str, object] = {"model": model, "prompt": "a robot dance", "width": size[0],
                                 "height": size[1], "frames_total": frames, "seed": 7}
    values.update(fields)
    return VideoSpec(images=[ImageInput(role=role, url="data:", width=w, height=h)
                             for role, w, h in images], **values)


def decoded_inputs(spec: Any, work_dir: Path) -> Any:
    """Decoded pictures for the spec's images, in order (``EngineInputs``)."""
    from framecast.engines.base import EngineInputs, InputImage

    return EngineInputs([InputImage(i.role, picture(i.width or 320, i.height or 320, n))
                         for n, i in enumerate(spec.images)], work_dir)
