"""Tiny, randomly initialised text-to-image pipelines (Z-Image, FLUX.1, SDXL) for CPU tests.

They follow the diffusers fast tests (research/engines-performance.md §5.1) with two changes:
the tokenizers and text encoders are built locally (no hub), and every VAE downsamples 8×
like the real ones, so the engines meet the real size rules (multiples of 16 for Z-Image and
FLUX, 8 for SDXL) and a 512×512 request costs a 64×64 latent, not a 512×512 one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.engines.support.tiny import local_tokenizer, save_pipeline

VOCAB = 1000
# Four VAE levels: a spatial factor of 8, as in every real checkpoint here.
VAE_BLOCKS = (4, 8, 8, 8)


def _vae(latent_channels: int, **extra: Any) -> Any:
    """An ``AutoencoderKL`` with the real 8× factor and almost no channels."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=VAE_BLOCKS, layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * len(VAE_BLOCKS),
        up_block_types=["UpDecoderBlock2D"] * len(VAE_BLOCKS),
        latent_channels=latent_channels, norm_num_groups=4, sample_size=64,
        # no attention in the mid block: at 1000×600 it would be a 9,000-token attention
        mid_block_add_attention=False, **extra)


def _clip_text(with_projection: bool = False) -> Any:
    """A 2-layer CLIP text encoder over the local CLIP-style vocabulary (eos = pad = 1)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    config = CLIPTextConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4,
                            num_hidden_layers=2, vocab_size=VOCAB, projection_dim=32,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1,
                            max_position_embeddings=77)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(config).eval()


def build_zimage(folder: Path) -> Path:
    """A tiny ``ZImagePipeline`` (S3-DiT with 2 layers, Qwen3 text encoder) saved in ``folder``."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(0)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=2,
        n_refiner_layers=1, n_heads=2, n_kv_heads=2, norm_eps=1e-5, qk_norm=True,
        cap_feat_dim=16, rope_theta=256.0, t_scale=1000.0, axes_dims=[8, 4, 4],
        # room for 128 patches a side: 2048 px at the 8× VAE and 2× patches
        axes_lens=[256, 128, 128])
    # the pad tokens start as torch.empty, which can hold NaNs
    with torch.no_grad():
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    vae = _vae(16, scaling_factor=0.3611, shift_factor=0.1159)
    torch.manual_seed(0)
    text_encoder = Qwen3Model(Qwen3Config(
        hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, head_dim=8, vocab_size=VOCAB, max_position_embeddings=512)).eval()
    pipe = ZImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                          text_encoder=text_encoder, tokenizer=local_tokenizer("qwen"),
                          transformer=transformer)
    return save_pipeline(pipe, folder)


def build_flux(folder: Path, pipeline: str = "FluxPipeline") -> Path:
    """A tiny ``FluxPipeline`` (one double and one single block, guidance embedding as in
    FLUX.1-dev; CLIP + T5 encoders) saved in ``folder``; ``pipeline`` names another class on
    the same components (``FluxKontextPipeline``: FLUX.1 Kontext)."""
    import diffusers
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8], guidance_embeds=True)
    vae = _vae(4, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
               scaling_factor=1.5035)
    text_encoder = _clip_text()
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0)).eval()
    pipe = getattr(diffusers, pipeline)(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
        tokenizer=local_tokenizer("clip"), text_encoder_2=text_encoder_2,
        tokenizer_2=local_tokenizer("t5"), transformer=transformer)
    return save_pipeline(pipe, folder)


def build_flux_kontext(folder: Path) -> Path:
    """A tiny ``FluxKontextPipeline`` (FLUX.1 Kontext: FLUX.1's components, an edit
    pipeline that takes a reference image) saved in ``folder``."""
    return build_flux(folder, "FluxKontextPipeline")


def build_sdxl(folder: Path) -> Path:
    """A tiny ``StableDiffusionXLPipeline`` (2-level UNet, two CLIP encoders, Euler
    scheduler) saved in ``folder``."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        # 6 time ids × 8 + the pooled projection of text_encoder_2 (32)
        projection_class_embeddings_input_dim=80, cross_attention_dim=64, norm_num_groups=1)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                       beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")
    vae = _vae(4, scaling_factor=0.13025)
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=_clip_text(), text_encoder_2=_clip_text(with_projection=True),
        tokenizer=local_tokenizer("clip"), tokenizer_2=local_tokenizer("clip"), unet=unet,
        scheduler=scheduler)
    return save_pipeline(pipe, folder)


BUILDERS = {"zimage": build_zimage, "flux": build_flux, "sdxl": build_sdxl}
