"""Model checkpoints: resolve what a storyboard names, and build a tiny offline LTX-Video checkpoint.

The tiny checkpoint has random weights but the real architecture classes and the real VAE compression
(32 x 32 spatial, 8 temporal), so token counts, shapes and pipeline code paths match a real LTX-Video 0.9.x
checkpoint while rendering on CPU in well under a second. It is saved with `save_pretrained`, so it loads
with `LTXConditionPipeline.from_pretrained(path)` exactly like a real checkpoint folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import string
import time
from pathlib import Path

from filelock import FileLock


logger = logging.getLogger(__name__)

# Bump when `build_tiny_ltxv` changes what it saves: the version is part of the cache folder name,
# so a stale build is never reused.
TINY_LTXV_VERSION = 1

_FAMILIES = ("ltxv",)


def cache_dir() -> Path:
    """Root folder for ltx-flows caches: `$LTX_FLOWS_CACHE`, else `~/.cache/ltx-flows`."""
    env = os.environ.get("LTX_FLOWS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ltx-flows"


def _tiny_tokenizer():
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


def build_tiny_ltxv(path: Path) -> None:
    """Build a tiny random-weight LTX-Video 0.9.x pipeline and save it to `path` (safetensors)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    # Same seed, same weights: every build of a given version is identical.
    torch.manual_seed(0)

    tokenizer = _tiny_tokenizer()
    text_dim = 32
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=128,  # >= len(tokenizer)
            d_model=text_dim,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",  # as in T5 v1.1, which LTX-Video uses
            dropout_rate=0.0,
        )
    )

    # Latent channels stay 128 as in the real VAE, so latents have the real shape; widths are tiny.
    latent_channels = 128
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        # Real compression: patch 4 x 2^3 = 32 spatial, 1 x 2^3 = 8 temporal.
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        # Real 0.9.1+ VAEs condition the decoder on a timestep, so `decode_timestep` /
        # `decode_noise_scale` take the same code path as on the real model.
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    assert vae.spatial_compression_ratio == 32, vae.spatial_compression_ratio
    assert vae.temporal_compression_ratio == 8, vae.temporal_compression_ratio

    heads, head_dim = 2, 16
    transformer = LTXVideoTransformer3DModel(
        in_channels=latent_channels,
        out_channels=latent_channels,
        patch_size=1,  # LTX-Video patchifies in the VAE, not in the transformer
        patch_size_t=1,
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        cross_attention_dim=heads * head_dim,  # must equal the inner dim
        num_layers=1,
        caption_channels=text_dim,
    )

    # LTXConditionPipeline passes its own linear-quadratic `timesteps` and no `mu`, so dynamic shifting
    # must be off (the scheduler raises without `mu`); LTXPipeline's `mu` is then simply ignored. The shift
    # values are LTX-Video's own, used by LTXPipeline's `calculate_shift` should shifting be turned on.
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=False,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
    )

    pipe = LTXConditionPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(path, safe_serialization=True)


def _checkpoint_dir(family: str) -> Path:
    if family not in _FAMILIES:
        raise ValueError(f"Unknown model family {family!r}: expected one of {', '.join(_FAMILIES)}.")
    return cache_dir() / "checkpoints" / f"tiny-{family}-v{TINY_LTXV_VERSION}"


def ensure_tiny_checkpoint(family: str = "ltxv") -> Path:
    """Return the tiny checkpoint folder for `family`, building it once if it is missing."""
    target = _checkpoint_dir(family)
    if (target / "model_index.json").is_file():
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time; a process that waited finds the finished folder and returns it.
    with FileLock(str(target) + ".lock"):
        if (target / "model_index.json").is_file():
            return target

        # Build beside the target and rename into place, so a failed or killed build never leaves a
        # half-written checkpoint under the final name (at worst a stray ".tmp-*" folder after a kill).
        tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        logger.info("Building tiny %s checkpoint at %s", family, target)
        start = time.perf_counter()
        try:
            build_tiny_ltxv(tmp)
            shutil.rmtree(target, ignore_errors=True)  # an incomplete folder from an older layout
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info("Built tiny %s checkpoint in %.1f s", family, time.perf_counter() - start)
    return target


def resolve_checkpoint(checkpoint: str, family: str = "ltxv") -> str:
    """Turn a storyboard's checkpoint into something `from_pretrained` accepts.

    "tiny" -> the cached tiny checkpoint (built on first use); an existing local folder -> its absolute
    path; anything else (a hub id) is returned unchanged, for a worker that has it cached or can reach the hub.
    """
    if checkpoint == "tiny":
        return str(ensure_tiny_checkpoint(family))
    local = Path(checkpoint).expanduser()
    if local.is_dir():
        return str(local.resolve())
    return checkpoint
