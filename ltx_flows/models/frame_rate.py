"""Frame-rate upscaling inside a generation: the published temporal upscaler, and a shot seen at a lower rate.

A generation of N frames at the film's rate, with the plan's frame-rate calls (`recipes._retime_calls`), is made
at 1/2 (1/4) of the rate and doubled in time once per x2 round: its first passes run over the same seconds with
(N' - 1) / factor + 1 frames, where N' >= N is the next frame count the rounds can reach (8 x factor x n + 1), and
the result is cut back to N frames. Keyframes, a long take's tail and a retake's held frames are placed at the
lower rate for the first passes (every factor-th frame) and at their own frames in each round's refine, so what
the plan pins is pinned at the film's rate.

The temporal upscalers are published only as single .safetensors files in Lightricks' original layout (no
diffusers-format repo): `load_temporal_upscaler` loads one as diffusers' conversion scripts load a latent upsampler,
the file's tensors into LTXLatentUpsamplerModel / LTX2LatentUpsamplerModel (`temporal_upsample=True`, the sizes
read off the weights), strictly, and wraps it in the family's latent upsample pipeline over the model's VAE.
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..plan.planner import ShotPlan
from ..plan.recipes import PipelineCall
from ..storyboard.frames import TEMPORAL_COMPRESSION, ltx2_anchor_frame, ltx2_latent_index

RETIME_STEPS = ("upsample_time", "retime")


@dataclass(frozen=True)
class Retiming:
    """A generation's frame-rate rounds: `factor` (2 or 4), the `frames` the plan asks for at the film's rate, and
    `padded` (>= frames) the rounds make before the cut."""

    factor: int
    frames: int
    padded: int

    def frames_at(self, divisor: int) -> int:
        """The generation's frame count at 1/`divisor` of the film's rate."""
        return (self.padded - 1) // divisor + 1


def split_calls(calls: list[PipelineCall]) -> tuple[list[PipelineCall], list[tuple[PipelineCall, PipelineCall]]]:
    """(the passes before frame-rate upscaling, its rounds as (upsample_time, retime) pairs)."""
    passes = [call for call in calls if call.step not in RETIME_STEPS]
    timed = [call for call in calls if call.step in RETIME_STEPS]
    return passes, list(zip(timed[0::2], timed[1::2]))


def retiming(rounds: list, frames: int) -> Retiming | None:
    """The rounds' retiming of a generation of `frames` frames, or None without rounds."""
    if not rounds:
        return None
    factor = 2 ** len(rounds)
    step = TEMPORAL_COMPRESSION * factor
    return Retiming(factor=factor, frames=frames, padded=-(-(frames - 1) // step) * step + 1)


def shot_at(shot: ShotPlan, timing: Retiming, divisor: int) -> ShotPlan:
    """`shot` as a generation at 1/`divisor` of the film's rate: its frames, keyframes at the nearest frames."""
    frames = timing.frames_at(divisor)
    keyframes = []
    for keyframe in shot.keyframes:
        frame = min(round(keyframe.frame / divisor), frames - 1)
        latent_index = ltx2_latent_index(frame, frames) if keyframe.latent_index is not None else None
        keyframes.append(keyframe.model_copy(update={
            "frame": frame, "latent_index": latent_index,
            "model_frame": ltx2_anchor_frame(latent_index) if latent_index is not None else frame}))
    return shot.model_copy(update={"frames": frames, "keyframes": keyframes})


def tail_at(tail, divisor: int):
    """A long take's tail (`ltxv.Tail`) at 1/`divisor` of the rate: every divisor-th frame."""
    return replace(tail, frames=tail.frames[::divisor]) if tail is not None else None


def held_at(held: list | None, divisor: int) -> list | None:
    """A retake's held runs (`ltxv.Held`) at 1/`divisor` of the rate."""
    return [replace(run, frames=run.frames[::divisor], at=round(run.at / divisor)) for run in held] if held else held


def video_at(frames: np.ndarray, divisor: int, count: int) -> np.ndarray:
    """A control video at 1/`divisor` of the film's rate, `count` frames long: every divisor-th frame, the last one
    held over the padding the rounds cut off again."""
    sampled = frames[::divisor][:count]
    return np.concatenate([sampled, np.repeat(sampled[-1:], count - len(sampled), axis=0)]) if len(sampled) < count else sampled


def fit_tokens(latents: torch.Tensor, tokens: int) -> torch.Tensor:
    """(tokens', features) cut or padded with zeros to `tokens` rows: the same seconds at a rate whose frame count
    rounds to one audio token more or less."""
    fitted = torch.zeros(tokens, latents.shape[1], dtype=latents.dtype)
    fitted[: min(tokens, len(latents))] = latents[:tokens]
    return fitted


def cut_frames(frames: np.ndarray, timing: Retiming | None) -> np.ndarray:
    return frames[: timing.frames] if timing is not None else frames


def _sizes_from_weights(state: dict[str, torch.Tensor]) -> dict:
    """The sizes of a latent upsampler read off its tensors (as diffusers' conversion scripts state them)."""
    conv = state["initial_conv.weight"]
    blocks = {key.split(".")[1] for key in state if key.startswith("res_blocks.")}
    return {"in_channels": conv.shape[1], "mid_channels": conv.shape[0], "num_blocks_per_stage": len(blocks),
            "dims": conv.dim() - 2}


def load_temporal_upscaler(family: str, file: Path, vae, dtype: torch.dtype):
    """The published temporal upscaler `file` as the family's latent upsample pipeline over `vae`."""
    from diffusers import LTX2LatentUpsamplePipeline, LTXLatentUpsamplePipeline
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as opened:
        state = {key: opened.get_tensor(key) for key in opened.keys()}
        metadata = opened.metadata() or {}
    if "initial_conv.weight" not in state:
        raise ValueError(f"{file}: not a latent upsampler in Lightricks' layout (no `initial_conv.weight`)")
    stated = json.loads(metadata["config"]) if "config" in metadata else {}
    structure = {**_sizes_from_weights(state), "spatial_upsample": False, "temporal_upsample": True}
    if stated and (not stated.get("temporal_upsample", True) or stated.get("spatial_upsample", False)):
        raise ValueError(f"{file}: its config says it is not a temporal-only upsampler ({stated})")
    model_class, pipeline_class = ((LTXLatentUpsamplerModel, LTXLatentUpsamplePipeline) if family == "ltxv"
                                   else (LTX2LatentUpsamplerModel, LTX2LatentUpsamplePipeline))
    model = model_class(**structure)
    try:
        # `assign`: the parameters become the file's tensors in `dtype` (no `to(dtype)`, which diffusers warns about)
        model.load_state_dict({key: value.to(dtype) for key, value in state.items()}, strict=True, assign=True)
    except RuntimeError as error:
        raise ValueError(f"{file}: its tensors do not fit a temporal {model_class.__name__}: {error}") from error
    return pipeline_class(vae=vae, latent_upsampler=model.eval())
