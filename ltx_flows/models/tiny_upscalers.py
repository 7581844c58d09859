"""Tiny twins of Lightricks' temporal upscalers, written as the published files are: one `.safetensors` in the
original layout (the latent upsampler's own tensor names, its config as JSON in the file's metadata), so
`frame_rate.load_temporal_upscaler` reads a twin exactly as it reads the real file. Random weights: noise."""

import json
from pathlib import Path

# Toy sizes: GroupNorm needs 32 | mid_channels.
TINY_MID_CHANNELS = 32
TINY_BLOCKS = 1


def save_temporal_upscaler(family: str, latent_channels: int, path: Path, seed: int) -> None:
    """A random x2 temporal latent upsampler for latents of `latent_channels`, saved at `path`."""
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
    import torch
    from safetensors.torch import save_file

    config = {"in_channels": latent_channels, "mid_channels": TINY_MID_CHANNELS, "num_blocks_per_stage": TINY_BLOCKS,
              "dims": 3, "spatial_upsample": False, "temporal_upsample": True}
    torch.manual_seed(seed)
    model = (LTXLatentUpsamplerModel if family == "ltxv" else LTX2LatentUpsamplerModel)(**config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": json.dumps({"_class_name": "LatentUpsampler", **config})})
