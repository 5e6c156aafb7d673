"""Tiny, randomly initialised ``WanImageToVideoPipeline`` folders for the ``wan_i2v`` tests.

Three layouts, as the real checkpoints have them (research/engines-performance.md §5.1/5.2;
the diffusers fast tests' dummy components with a local tokenizer and UMT5 encoder):

* ``a14b``: Wan2.2-I2V-A14B, two experts (``transformer`` + ``transformer_2``) switching at
  ``boundary_ratio``, no image encoder;
* ``wan21``: Wan2.1 FLF2V, one transformer fed CLIP image embeddings of the first and last
  frames (``flf=False``: Wan2.1 I2V, whose transformer has no positional embedding for a
  second image and so takes no last frame);
* ``ti2v-5b``: Wan2.2-TI2V-5B, one transformer, 48-channel patchified VAE, 16× spatial
  (32 with the 2×2 patch), ``expand_timesteps``.

Every folder is written with ``save_pretrained`` so the engine loads it exactly like real
weights. Nothing is fetched from the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.engines.support.tiny import local_tokenizer, save_pipeline

LAYOUTS = ("a14b", "wan21", "ti2v-5b")
TEXT_DIM = 32          # the UMT5 d_model, and the transformer's text_dim
CLIP_DIM = 4           # the CLIP vision hidden size, and the Wan2.1 transformer's image_dim
CLIP_SIZE = 32         # CLIP input pixels a side, one patch per pixel (+ the class token)
CLIP_TOKENS = CLIP_SIZE * CLIP_SIZE + 1


def _seeded() -> None:
    import torch

    torch.manual_seed(0)


def _text_stack() -> tuple[Any, Any]:
    """A local T5-style tokenizer and a tiny UMT5 encoder (in eval mode: no dropout)."""
    from transformers import UMT5Config, UMT5EncoderModel

    _seeded()
    encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=1000, d_model=TEXT_DIM, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0)).eval()
    return local_tokenizer("t5"), encoder


def _transformer(channels_in: int, channels_out: int, image_dim: int | None = None,
                 pos_embed_seq_len: int | None = None) -> Any:
    from diffusers import WanTransformer3DModel

    _seeded()
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
        in_channels=channels_in, out_channels=channels_out, text_dim=TEXT_DIM, freq_dim=256,
        ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024, image_dim=image_dim, pos_embed_seq_len=pos_embed_seq_len)


def _vae(layout: str) -> Any:
    from diffusers import AutoencoderKLWan

    _seeded()
    if layout == "ti2v-5b":
        return AutoencoderKLWan(
            base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True,
            patch_size=2, latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1],
            num_res_blocks=1, scale_factor_spatial=16, scale_factor_temporal=4,
            temperal_downsample=[False, True, True])
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def _scheduler() -> Any:
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                   flow_shift=3.0)


def tiny_wan_pipeline(layout: str = "a14b", *, flf: bool = True) -> Any:
    """A tiny random ``WanImageToVideoPipeline`` in one of :data:`LAYOUTS` (``flf``: the
    Wan2.1 transformer takes first + last frame embeddings)."""
    from diffusers import WanImageToVideoPipeline

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    tokenizer, text_encoder = _text_stack()
    parts: dict[str, Any] = {"tokenizer": tokenizer, "text_encoder": text_encoder,
                             "vae": _vae(layout), "scheduler": _scheduler()}
    if layout == "a14b":
        # in = 16 noise channels + 4 mask channels + 16 condition channels
        parts.update(transformer=_transformer(36, 16), transformer_2=_transformer(36, 16),
                     boundary_ratio=0.875)
    elif layout == "wan21":
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        _seeded()
        image_encoder = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=CLIP_DIM, projection_dim=CLIP_DIM, num_hidden_layers=2,
            num_attention_heads=2, image_size=CLIP_SIZE, intermediate_size=16,
            patch_size=1)).eval()
        transformer = _transformer(36, 16, image_dim=CLIP_DIM,
                                   pos_embed_seq_len=2 * CLIP_TOKENS if flf else None)
        parts.update(transformer=transformer, image_encoder=image_encoder,
                     image_processor=CLIPImageProcessor(crop_size=CLIP_SIZE, size=CLIP_SIZE))
    else:
        parts.update(transformer=_transformer(48, 48), expand_timesteps=True)
    return WanImageToVideoPipeline(**parts)


def save_tiny_wan(folder: Path, layout: str = "a14b", *, flf: bool = True) -> Path:
    """Build a tiny pipeline in ``layout`` and save it as a diffusers folder."""
    return save_pipeline(tiny_wan_pipeline(layout, flf=flf), folder)
