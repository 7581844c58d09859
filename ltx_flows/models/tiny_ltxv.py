"""Tiny LTX-Video models: the real diffusers and transformers classes at toy sizes, with random weights.

One builder per component, then the two models made of them: `checkpoint()`, the offline model
`checkpoint: tiny` names (LTX-Video 0.9.1's VAE layout), and `twin(generation)`, a published generation's
structure (its facts in storyboard/generations.py) at the same toy sizes. The VAE keeps the real 128 latent
channels and the real compression (32 x 32 spatial, 8 temporal), so token counts, shapes and pipeline code
paths match a real checkpoint while rendering on a CPU in well under a second.

Every build starts from seed 0 and draws its components in the same order, so the saved files are the same
on every build: tiny renders depend on them (bump the cache versions in checkpoints.py and twins.py when a
builder changes what it makes). torch, diffusers and transformers are imported inside the builders.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from ..storyboard.generations import Generation

TEXT_DIM = 32
HEADS, HEAD_DIM = 2, 16
LATENT_CHANNELS = 128  # the real VAE's, so latents have the real shape


@dataclass(frozen=True)
class TinyLtxv:
    pipeline: Any  # LTXConditionPipeline
    upsampler: Any  # LTXLatentUpsamplerModel


def tokenizer():
    """A T5 tokenizer over printable ASCII characters, built offline (no hub, no sentencepiece file).

    Every character is its own piece, so different prompts map to different ids. The layout follows T5:
    <pad>=0, </s>=1, <unk>=2, then the metaspace "▁" (a space) and the characters.
    """
    # In transformers 5.x `T5TokenizerFast` is an alias of `T5Tokenizer` (a `tokenizers` Unigram backend).
    # Building it from a `vocab` keeps the T5 pre-tokenizer and post-processor, so the saved tokenizer.json
    # reloads through `T5Tokenizer.from_pretrained` unchanged.
    from transformers import T5TokenizerFast

    chars = string.ascii_letters + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    vocab += [(c, -1.0) for c in chars]
    # Real LTX-Video checkpoints ship a T5 tokenizer with model_max_length 128.
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=128)


def text_encoder():
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=128,  # >= the tokenizer's
        d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=1, num_heads=4, relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",  # as in T5 v1.1, which LTX-Video uses
        dropout_rate=0.0,
    ))


def vae(structure: dict, sizes: dict):
    """The VAE with a checkpoint's `structure` and tiny `sizes` (widths and layers, which follow its block count)."""
    from diffusers import AutoencoderKLLTXVideo

    model = AutoencoderKLLTXVideo(**structure, **sizes)
    assert model.spatial_compression_ratio == 32, model.spatial_compression_ratio
    assert model.temporal_compression_ratio == 8, model.temporal_compression_ratio
    return model


def transformer(structure: dict):
    from diffusers import LTXVideoTransformer3DModel

    return LTXVideoTransformer3DModel(
        **structure, num_attention_heads=HEADS, attention_head_dim=HEAD_DIM,
        cross_attention_dim=HEADS * HEAD_DIM,  # must equal the inner dim
        num_layers=1, caption_channels=TEXT_DIM,
    )


def scheduler(config: dict):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**config)


def upsampler(structure: dict):
    """A 2x spatial latent upsampler; its GroupNorm needs 32 | mid_channels."""
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    return LTXLatentUpsamplerModel(**structure, mid_channels=32, num_blocks_per_stage=1)


def _build(vae_structure: dict, vae_sizes: dict, transformer_structure: dict, scheduler_config: dict,
           upsampler_structure: dict) -> TinyLtxv:
    import torch
    from diffusers import LTXConditionPipeline

    torch.manual_seed(0)  # same seed, same order: every build of a given version is identical
    encoder = text_encoder()
    video_vae = vae(vae_structure, vae_sizes)
    pipeline = LTXConditionPipeline(
        scheduler=scheduler(scheduler_config), vae=video_vae, text_encoder=encoder, tokenizer=tokenizer(),
        transformer=transformer(transformer_structure),
    )
    return TinyLtxv(pipeline, upsampler(upsampler_structure))


def checkpoint() -> TinyLtxv:
    """The model `checkpoint: tiny` names for the ltxv family: LTX-Video 0.9.1's VAE layout."""
    return _build(
        vae_structure=dict(
            in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
            # Real compression: patch 4 x 2^3 = 32 spatial, 1 x 2^3 = 8 temporal.
            spatio_temporal_scaling=(True, True, True, False),
            decoder_spatio_temporal_scaling=(True, True, True, False),
            decoder_inject_noise=(False, False, False, False, False),
            upsample_residual=(False, False, False, False),
            upsample_factor=(1, 1, 1, 1),
            # Real 0.9.1+ VAEs condition the decoder on a timestep, so `decode_timestep` /
            # `decode_noise_scale` take the same code path as on the real model.
            timestep_conditioning=True,
            patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
        ),
        vae_sizes=dict(block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                       layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1)),
        # LTX-Video patchifies in the VAE, not in the transformer.
        transformer_structure=dict(in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, patch_size=1,
                                   patch_size_t=1),
        # LTXConditionPipeline passes its own linear-quadratic `timesteps` and no `mu`, so dynamic shifting
        # must be off (the scheduler raises without `mu`); LTXPipeline's `mu` is then simply ignored. The shift
        # values are LTX-Video's own, used by LTXPipeline's `calculate_shift` should shifting be turned on.
        scheduler_config=dict(use_dynamic_shifting=False, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
                              max_image_seq_len=4096),
        upsampler_structure=dict(in_channels=LATENT_CHANNELS),
    )


def twin(generation: Generation) -> TinyLtxv:
    """The tiny twin of a published LTX-Video generation: its structural facts, the toy sizes."""
    def structure(name: str) -> dict:
        return dict(generation.components[name].structure)

    return _build(
        # The 0.9.5+ VAE: the compression ratios are structural facts, as with scaling in all four blocks
        # the VAE would otherwise compute 64x spatial and 16x temporal where the published ones compress 32x, 8x.
        vae_structure=structure("vae"),
        vae_sizes=dict(block_out_channels=(8, 16, 32, 64, 64), decoder_block_out_channels=(16, 32, 64),
                       layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1)),
        transformer_structure=structure("transformer"),
        scheduler_config=structure("scheduler"),
        upsampler_structure=dict(generation.upsampler.structure),
    )
