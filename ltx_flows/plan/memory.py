"""Memory settings of a loaded pipeline, and the lower steps an out-of-memory retry walks down
(`models/loading.py` applies them to a pipeline).

Offload and VAE tiling trade speed for memory; they are not part of a shot's content hash
(see planner.py), so a clip rendered at a lower step is reused like any other.
"""

from dataclasses import dataclass, replace

from pydantic import BaseModel

from ..storyboard.models import ModelConfig

# diffusers' LTX VAE decodes in 512-pixel tiles with 448-pixel strides when tiling is on.
_DEFAULT_TILE = 512
_SMALL_TILE = 256


@dataclass(frozen=True)
class MemorySettings:
    cpu_offload: bool = False  # enable_model_cpu_offload(): each model visits the GPU only while it runs
    # enable_sequential_cpu_offload(): weights stream to the GPU layer by layer (what diffusers' LTX-2
    # examples use for the 19B model); the slowest and the smallest. Takes over from cpu_offload.
    sequential_offload: bool = False
    vae_tiling: bool = False  # decode the latents in spatial tiles
    vae_tile: int = _DEFAULT_TILE  # tile side in pixels: smaller tiles, smaller decode chunks
    vae_framewise: bool = False  # decode a few latent frames at a time
    # The transformer's weights stored in float8 (e4m3) and cast layer by layer to the pipeline's dtype as each
    # layer runs (diffusers' enable_layerwise_casting): half the bfloat16 weights' memory, at a small cost in
    # precision and speed, so a 13-22B transformer fits a 24 GB card with model offload before the far slower
    # sequential offload. Once on, it stays on for the loaded model (the bfloat16 weights are gone).
    fp8_storage: bool = False


def memory_steps(model: ModelConfig) -> list[MemorySettings]:
    """The storyboard's own settings, then each lower one, in the order retries use them."""
    start = MemorySettings(cpu_offload=model.cpu_offload, vae_tiling=model.vae_tiling)
    # Tiling first: it costs almost no speed. Model offload next: it costs speed but frees the most. Then fp8
    # weight storage (the transformer at half its size), then sequential offload (only the running layer on the
    # GPU), then smaller decode tiles, a few frames at a time. fp8 cannot be undone on a loaded model, so the
    # rungs below it keep it.
    ladder = [
        start,
        replace(start, vae_tiling=True),
        replace(start, vae_tiling=True, cpu_offload=True),
        replace(start, vae_tiling=True, cpu_offload=True, fp8_storage=True),
        MemorySettings(sequential_offload=True, vae_tiling=True, fp8_storage=True),
        MemorySettings(sequential_offload=True, vae_tiling=True, vae_tile=_SMALL_TILE, vae_framewise=True,
                       fp8_storage=True),
    ]
    return list(dict.fromkeys(ladder))  # a storyboard that already tiles or offloads skips those steps


def memory_for_attempt(model: ModelConfig, earlier_out_of_memory: int) -> MemorySettings:
    """Settings for a shot's next attempt: one step lower for each out-of-memory error it had."""
    steps = memory_steps(model)
    return steps[min(earlier_out_of_memory, len(steps) - 1)]


class VramEstimate(BaseModel):
    """A rough estimate of the GPU memory one shot needs (bfloat16 weights), per memory setting.

    Weights: the preset's parameter counts x 2 bytes. Activations: the shot's tokens x a 4096-wide working
    set per guidance branch. Decoding: the VAE decoder at 1/4 size (patch 4), ~128 channels, a few tensors
    live (tiling divides it). It is an
    estimate, not a measurement: a first run on the real card is the only proof.
    """

    note: str = "estimate"
    tokens: int
    resident_gb: float  # everything on the GPU
    model_offload_gb: float  # enable_model_cpu_offload: the largest model at a time
    fp8_offload_gb: float  # the fp8 rung: model offload with the transformer's weights in float8 (1 byte each)
    sequential_offload_gb: float  # enable_sequential_cpu_offload, tiled decode


def vram_estimate(width: int, height: int, frames: int, transformer_b: float, text_encoder_b: float,
                  guidance_branches: int) -> VramEstimate:
    """Estimate GPU memory for one shot of `frames` frames at `width` x `height` (see VramEstimate)."""
    tokens = (width // 32) * (height // 32) * ((frames - 1) // 8 + 1)
    activations = tokens * 4096 * 2 * 12 * guidance_branches / 1e9
    # The decoder works at 1/4 of the size (patch size 4) with ~128 channels, a few tensors at a time.
    decode = width * height * frames * 32 / 1e9
    transformer, text_encoder = transformer_b * 2, text_encoder_b * 2
    return VramEstimate(
        tokens=tokens,
        resident_gb=round(transformer + text_encoder + 1 + activations + decode, 1),
        model_offload_gb=round(max(transformer, text_encoder) + activations + decode, 1),
        fp8_offload_gb=round(max(transformer / 2, text_encoder) + activations + decode, 1),
        sequential_offload_gb=round(2 + activations + decode / 4, 1),
    )
