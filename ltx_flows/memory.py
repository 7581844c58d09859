"""Memory settings of a loaded pipeline, and the lower steps an out-of-memory retry walks down.

Offload and VAE tiling trade speed for memory; they are not part of a shot's content hash
(see plan.py), so a clip rendered at a lower step is reused like any other.
"""

from dataclasses import dataclass, replace

from .storyboard import ModelConfig

# diffusers' LTX VAE decodes in 512-pixel tiles with 448-pixel strides when tiling is on.
_DEFAULT_TILE = 512
_SMALL_TILE = 256


@dataclass(frozen=True)
class MemorySettings:
    cpu_offload: bool = False  # enable_model_cpu_offload(): each model visits the GPU only while it runs
    vae_tiling: bool = False  # decode the latents in spatial tiles
    vae_tile: int = _DEFAULT_TILE  # tile side in pixels: smaller tiles, smaller decode chunks
    vae_framewise: bool = False  # decode a few latent frames at a time


def memory_steps(model: ModelConfig) -> list[MemorySettings]:
    """The storyboard's own settings, then each lower one, in the order retries use them."""
    start = MemorySettings(cpu_offload=model.cpu_offload, vae_tiling=model.vae_tiling)
    # Tiling first: it costs almost no speed. Offload next: it costs speed but frees the most.
    ladder = [
        start,
        replace(start, vae_tiling=True),
        replace(start, vae_tiling=True, cpu_offload=True),
        MemorySettings(cpu_offload=True, vae_tiling=True, vae_tile=_SMALL_TILE, vae_framewise=True),
    ]
    return list(dict.fromkeys(ladder))  # a storyboard that already tiles or offloads skips those steps


def memory_for_attempt(model: ModelConfig, earlier_out_of_memory: int) -> MemorySettings:
    """Settings for a shot's next attempt: one step lower for each out-of-memory error it had."""
    steps = memory_steps(model)
    return steps[min(earlier_out_of_memory, len(steps) - 1)]


def apply_memory_settings(pipe, memory: MemorySettings, device: str) -> None:
    """Place a loaded diffusers pipeline on `device` with these memory settings."""
    if memory.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)  # moves everything to the CPU first
    else:
        pipe.remove_all_hooks()
        pipe.to(device)
    if memory.vae_tiling:
        stride = memory.vae_tile * 7 // 8  # the same overlap as diffusers' defaults
        pipe.vae.enable_tiling(
            tile_sample_min_height=memory.vae_tile,
            tile_sample_min_width=memory.vae_tile,
            tile_sample_stride_height=stride,
            tile_sample_stride_width=stride,
        )
    else:
        pipe.vae.disable_tiling()
    pipe.vae.use_framewise_decoding = memory.vae_framewise
