"""Random diffusers pipelines for the device check, one per engine, at two sizes, saved with
``save_pretrained`` so that each engine loads them exactly as it loads real weights.

* ``tiny``: the dry run on the CPU; the dimensions of the engine tests' pipelines
  (``tests/engines/support/``), so a dry run costs seconds per engine.
* ``small``: the device run; the real models' layouts (two Wan experts, VACE layers, LTX-2's
  audio branch, the real VAE strides and patch sizes) with attention heads of 64–128 (the
  real models' head size, which decides which attention kernels run), widths that are
  multiples of 16 (what float8 matrix products need), a few layers, and outputs at real
  sizes (480p video, 1024² images). Small enough to build in seconds and compile in under a
  minute, large enough that the fast path's kernels (cuDNN attention, float8 GEMMs, inductor)
  are the ones a real model runs.

The tokenizers are the tests' local ones (``tests.engines.support.tiny.local_tokenizer``):
nothing is fetched. Each builder is modelled on the matching test builder with its sizes made
parameters; the layouts are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.engines.support import tiny_vace_ltx2
from tests.engines.support.tiny import local_tokenizer, save_pipeline

SIZES = ("tiny", "small")
VOCAB = 1000


def _seeded() -> None:
    import torch

    torch.manual_seed(0)


def _umt5(small: bool) -> Any:
    """The Wan text encoder (UMT5), eval mode; its width is the transformer's ``text_dim``."""
    from transformers import UMT5Config, UMT5EncoderModel

    _seeded()
    dims = dict(d_model=256, d_kv=32, d_ff=512, num_heads=8) if small else \
        dict(d_model=32, d_kv=8, d_ff=37, num_heads=4)
    return UMT5EncoderModel(UMT5Config(vocab_size=VOCAB, num_layers=2,
                                       relative_attention_num_buckets=8, dropout_rate=0.0,
                                       **dims)).eval()


def _wan_vae(small: bool) -> Any:
    """Wan's VAE: 8× spatial, 4× temporal, 16 latent channels."""
    from diffusers import AutoencoderKLWan

    _seeded()
    if small:
        return AutoencoderKLWan(base_dim=32, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                                temperal_downsample=[False, True, True])
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def _wan_dims(small: bool) -> dict[str, Any]:
    """Transformer sizes shared by the Wan I2V experts and the VACE transformer."""
    if small:
        return dict(num_attention_heads=4, attention_head_dim=128, text_dim=256, ffn_dim=1024,
                    num_layers=2, rope_max_seq_len=1024)
    return dict(num_attention_heads=2, attention_head_dim=12, text_dim=32, ffn_dim=32,
                num_layers=2, rope_max_seq_len=1024)


def build_wan_i2v(folder: Path, small: bool) -> Path:
    """Wan2.2-I2V-A14B's layout: two experts switching at ``boundary_ratio``, no image
    encoder, UniPC with flow sigmas (as ``tests/engines/support/tiny_wan.py``'s ``a14b``)."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline, WanTransformer3DModel

    def expert() -> Any:
        _seeded()
        # in = 16 noise channels + 4 mask channels + 16 condition channels
        return WanTransformer3DModel(patch_size=(1, 2, 2), in_channels=36, out_channels=16,
                                     freq_dim=256, cross_attn_norm=True,
                                     qk_norm="rms_norm_across_heads", **_wan_dims(small))

    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=3.0)
    pipe = WanImageToVideoPipeline(tokenizer=local_tokenizer("t5"), text_encoder=_umt5(small),
                                   vae=_wan_vae(small), scheduler=scheduler,
                                   transformer=expert(), transformer_2=expert(),
                                   boundary_ratio=0.875)
    return save_pipeline(pipe, folder)


def build_wan_vace(folder: Path, small: bool) -> Path:
    """Wan2.1-VACE's layout: one transformer with VACE layers (as
    ``tests/engines/support/tiny_vace_ltx2.py``'s ``build_wan_vace``)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )

    dims = _wan_dims(small)
    dims["num_layers"] = 3
    _seeded()
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), in_channels=16, out_channels=16, freq_dim=256,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", vace_layers=[0, 2],
        # 2 × z_dim (inactive + reactive video latents) + 8 × 8 (the mask, folded by the stride)
        vace_in_channels=96, **dims)
    pipe = WanVACEPipeline(tokenizer=local_tokenizer("t5"), text_encoder=_umt5(small),
                           vae=_wan_vae(small), transformer=transformer,
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0))
    return save_pipeline(pipe, folder)


def build_ltx2(folder: Path, small: bool) -> Path:
    """LTX-2's condition pipeline with audio: the tests' builder, whose compression (32×
    spatial, 8× temporal) is already the real one; only the transformer's heads grow at
    ``small``."""
    return tiny_vace_ltx2.build_ltx2(folder, video_heads=(4, 64) if small else (2, 8),
                                     audio_heads=(2, 32) if small else (2, 4))


def _image_vae(small: bool, latent_channels: int, **extra: Any) -> Any:
    """An ``AutoencoderKL`` with the real 8× factor (four levels)."""
    from diffusers import AutoencoderKL

    blocks, groups = ((32, 64, 64, 64), 32) if small else ((4, 8, 8, 8), 4)
    _seeded()
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=blocks, layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=latent_channels, norm_num_groups=groups, sample_size=64,
        mid_block_add_attention=False, **extra)


def _clip_text(small: bool, with_projection: bool = False) -> Any:
    """A 2-layer CLIP text encoder over the local CLIP-style vocabulary (eos = pad = 1)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    hidden = 64 if small else 32
    _seeded()
    config = CLIPTextConfig(hidden_size=hidden, intermediate_size=2 * hidden,
                            num_attention_heads=4, num_hidden_layers=2, vocab_size=VOCAB,
                            projection_dim=hidden, bos_token_id=0, eos_token_id=1,
                            pad_token_id=1, max_position_embeddings=77)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(config).eval()


def build_zimage(folder: Path, small: bool) -> Path:
    """Z-Image's single-stream DiT with a Qwen3 text encoder (``tiny_images.build_zimage``)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    # heads × head size = dim; the rotary axes add up to the head size
    if small:
        dims = dict(dim=512, n_heads=4, n_kv_heads=4, cap_feat_dim=256,
                    axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512])
        text = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=64)
    else:
        dims = dict(dim=32, n_heads=2, n_kv_heads=2, cap_feat_dim=16, axes_dims=[8, 4, 4],
                    axes_lens=[256, 128, 128])
        text = dict(hidden_size=16, intermediate_size=16, num_attention_heads=2,
                    num_key_value_heads=2, head_dim=8)
    _seeded()
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, n_layers=2,
        n_refiner_layers=1, norm_eps=1e-5, qk_norm=True, rope_theta=256.0, t_scale=1000.0,
        **dims)
    with torch.no_grad():       # the pad tokens start as torch.empty, which can hold NaNs
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    vae = _image_vae(small, 16, scaling_factor=0.3611, shift_factor=0.1159)
    _seeded()
    text_encoder = Qwen3Model(Qwen3Config(num_hidden_layers=2, vocab_size=VOCAB,
                                          max_position_embeddings=512, **text)).eval()
    pipe = ZImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                          text_encoder=text_encoder, tokenizer=local_tokenizer("qwen"),
                          transformer=transformer)
    return save_pipeline(pipe, folder)


def build_flux(folder: Path, small: bool) -> Path:
    """FLUX.1's double- and single-stream blocks, guidance embedding, CLIP + T5
    (``tiny_images.build_flux``); at ``small`` the real 16 latent channels and rotary axes."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    latent = 16 if small else 4
    t5 = dict(d_model=256, d_kv=32, d_ff=512, num_heads=8) if small else \
        dict(d_model=32, d_kv=8, d_ff=37, num_heads=4)
    _seeded()
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4 * latent,      # latents are packed 2×2
        num_layers=1, num_single_layers=2 if small else 1,
        attention_head_dim=128 if small else 16, num_attention_heads=4 if small else 2,
        joint_attention_dim=t5["d_model"], pooled_projection_dim=64 if small else 32,
        axes_dims_rope=[16, 56, 56] if small else [4, 4, 8], guidance_embeds=True)
    vae = _image_vae(small, latent, use_quant_conv=False, use_post_quant_conv=False,
                     shift_factor=0.0609, scaling_factor=1.5035)
    text_encoder = _clip_text(small)
    _seeded()
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=VOCAB, num_layers=2,
                                             relative_attention_num_buckets=8,
                                             dropout_rate=0.0, **t5)).eval()
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                        text_encoder=text_encoder, tokenizer=local_tokenizer("clip"),
                        text_encoder_2=text_encoder_2, tokenizer_2=local_tokenizer("t5"),
                        transformer=transformer)
    return save_pipeline(pipe, folder)


def build_sdxl(folder: Path, small: bool) -> Path:
    """SDXL's UNet with text-time conditioning and two CLIP encoders
    (``tiny_images.build_sdxl``)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    hidden = 64 if small else 32            # each CLIP encoder's width
    _seeded()
    unet = UNet2DConditionModel(
        block_out_channels=(64, 128) if small else (4, 8), layers_per_block=1,
        sample_size=128 if small else 32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        # 6 time ids × 8 + the pooled projection of text_encoder_2
        projection_class_embeddings_input_dim=6 * 8 + hidden,
        cross_attention_dim=2 * hidden, norm_num_groups=32 if small else 1)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                       beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(
        vae=_image_vae(small, 4, scaling_factor=0.13025), text_encoder=_clip_text(small),
        text_encoder_2=_clip_text(small, with_projection=True),
        tokenizer=local_tokenizer("clip"), tokenizer_2=local_tokenizer("clip"), unet=unet,
        scheduler=scheduler)
    return save_pipeline(pipe, folder)


BUILDERS: dict[str, Callable[[Path, bool], Path]] = {
    "wan_i2v": build_wan_i2v, "wan_vace": build_wan_vace, "ltx2": build_ltx2,
    "zimage": build_zimage, "flux": build_flux, "sdxl": build_sdxl,
}


def build(engine: str, folder: Path, size: str) -> Path:
    """The random pipeline of ``engine`` at ``size`` (``tiny`` or ``small``), saved in
    ``folder``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    return BUILDERS[engine](folder, size == "small")
