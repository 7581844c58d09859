"""LTX-Video (0.9.5 - 0.9.8): a shot through diffusers' LTXConditionPipeline, one or two passes.

Reads top to bottom: loading the upsampler, conditions (keyframes, a long take's tail), one pass, two
passes. Every keyword argument a call receives beyond the shot's prompt, frames, conditions and tensors
comes from `recipes.pipeline_calls`, which `ltx-flows plan --json` prints.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from diffusers import LTXConditionPipeline, LTXLatentUpsamplePipeline
from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

from . import frame_rate
from ..media.read import fit_image
from ..plan.planner import ShotPlan
from ..plan.recipes import PipelineCall


@dataclass(frozen=True)
class Tail:
    """A long take's last frames so far, which the next segment continues from its frame 0."""

    frames: np.ndarray
    strength: float


@dataclass(frozen=True)
class Held:
    """Frames of a finished shot held clean at pixel frame `at` of the clip being generated: a retake's context on
    either side of its window (see `frames.retake_layout` for where they may go)."""

    frames: np.ndarray
    at: int


def check_scheduler(pipe: LTXConditionPipeline, checkpoint: str) -> None:
    """Refuse a checkpoint whose scheduler shifts by token count (LTX-Video 0.9.0 / 0.9.1 ship it so):
    LTXConditionPipeline never passes the `mu` that needs, and diffusers would fail deep in `set_timesteps`."""
    if pipe.scheduler.config.get("use_dynamic_shifting"):
        raise ValueError(
            f"{checkpoint}: its scheduler has dynamic shifting on (LTX-Video 0.9.0 / 0.9.1), which "
            "LTXConditionPipeline cannot drive (it never passes `mu`); use LTX-Video 0.9.5 or later"
        )


def load_upsampler(pipe: LTXConditionPipeline, path: str, subfolder: str | None, dtype: torch.dtype) -> LTXLatentUpsamplePipeline:
    """The latent upsampler over `pipe`'s VAE.

    `Lightricks/ltxv-spatial-upscaler-0.9.7` is a pipeline repo (the model is in `latent_upsampler/`);
    0.9.8's upsampler is a model at a repo root: `subfolder` says which.
    """
    model = LTXLatentUpsamplerModel.from_pretrained(path, subfolder=subfolder, dtype=dtype)
    return LTXLatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model)


def conditions(
    shot: ShotPlan, width: int, height: int, tail: Tail | None, held: list[Held] | None = None
) -> list[LTXVideoCondition] | None:
    """Keyframes at their pixel frames, for a long take's segment the frames it continues, at frame 0, and a retake's
    held frames where they are.

    Held frames at frame 0 replace the clip's first latents; elsewhere LTXConditionPipeline appends their first two
    latents as extra tokens at their position and lays the rest in place (from latent `frame_index` // 8 + 2).
    """
    found = [
        LTXVideoCondition(image=fit_image(k.image, width, height), frame_index=k.frame, strength=k.strength)
        for k in shot.keyframes
    ]
    for run in held or []:
        video = [fit_image(frame, width, height) for frame in run.frames]
        if len(video) == 1:
            found.append(LTXVideoCondition(image=video[0], frame_index=run.at))
        else:
            found.append(LTXVideoCondition(video=video, frame_index=run.at))
    if tail is not None:
        video = [fit_image(frame, width, height) for frame in tail.frames]
        found.insert(0, LTXVideoCondition(video=video, frame_index=0, strength=tail.strength))
    return found or None


def step_callback(on_step: Callable[[int, int], None] | None, total: int):
    """A `callback_on_step_end` that reports each denoising step to `on_step(done, total)`, across passes."""
    if on_step is None:
        return None
    done = 0

    def callback(pipe, step, timestep, callback_kwargs):
        nonlocal done
        done += 1
        on_step(min(done, total), total)
        return callback_kwargs

    return callback


def _run(pipe, call: PipelineCall, shot: ShotPlan, tail: Tail | None, held: list[Held] | None, generator: torch.Generator,
         callback, **tensors):
    kwargs = call.kwargs
    return pipe(
        conditions=conditions(shot, kwargs["width"], kwargs["height"], tail, held),
        prompt=shot.prompt, negative_prompt=shot.negative_prompt, num_frames=shot.frames, generator=generator,
        callback_on_step_end=callback, **kwargs, **tensors,
    ).frames


def generate(
    pipe: LTXConditionPipeline,
    shot: ShotPlan,
    calls: list[PipelineCall],
    *,
    width: int,
    height: int,
    generator: torch.Generator,
    upsample_pipe: LTXLatentUpsamplePipeline | None = None,
    temporal_pipe: LTXLatentUpsamplePipeline | None = None,
    tail: Tail | None = None,
    held: list[Held] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Render one shot: frames as float in [0, 1], (frames, height, width, 3) at the asked `width` x `height`.

    With frame-rate calls, `temporal_pipe` is the temporal upscaler: the passes run at the lower rate
    (`frame_rate.shot_at`), then each round doubles the latents in time and refines them at its own rate."""
    passes, rounds = frame_rate.split_calls(calls)
    timing = frame_rate.retiming(rounds, shot.frames)
    asked, asked_tail, asked_held = shot, tail, held
    if timing is not None:
        shot = frame_rate.shot_at(shot, timing, timing.factor)
        tail, held = frame_rate.tail_at(tail, timing.factor), frame_rate.held_at(held, timing.factor)
    callback = step_callback(on_step, sum(call.denoising_steps for call in calls))
    first = passes[0]
    if len(passes) == 1:  # one pass at the asked size (latents, with frame-rate rounds to come)
        video = _run(pipe, first, shot, tail, held, generator, callback)
    else:
        # Two passes (the documented 0.9.7/0.9.8 recipe): a first pass at 2/3 size, the latent upsampler (2x,
        # AdaIN toward the first pass), a short refine pass that re-noises the upsampled latents, then a resize
        # of the frames to the asked size.
        _, upsample, refine = passes
        latents = _run(pipe, first, shot, tail, held, generator, callback)
        upsampled = upsample_pipe(latents=latents, **upsample.kwargs).frames
        video = _run(pipe, refine, shot, tail, held, generator, _tone_mapped_at_end(callback, upsample_pipe, refine),
                     latents=upsampled)
    for number, (upsample_time, retime) in enumerate(rounds, start=1):
        # One frame-rate round: the temporal upscaler doubles the latents in time, then a refine at the doubled rate
        # with what the plan pins at 1/divisor of the film's rate (on the last round, at its own frames).
        divisor = timing.factor // 2**number
        upsampled = temporal_pipe(latents=video, **upsample_time.kwargs).frames
        video = _run(pipe, retime, frame_rate.shot_at(asked, timing, divisor), frame_rate.tail_at(asked_tail, divisor),
                     frame_rate.held_at(asked_held, divisor), generator,
                     _tone_mapped_at_end(callback, temporal_pipe, retime), latents=upsampled)
    return resize(frame_rate.cut_frames(video[0], timing), width, height)


def _tone_mapped_at_end(callback, upsample_pipe: LTXLatentUpsamplePipeline, call: PipelineCall):
    """`callback`, tone-mapping the final latents where `call` says so (0.9.8's last pass)."""
    if not call.tone_map_compression_ratio:
        return callback
    return tone_mapped(callback, upsample_pipe, call.tone_map_compression_ratio, call.denoising_steps - 1)


def tone_mapped(callback, upsample_pipe: LTXLatentUpsamplePipeline, ratio: float, last_step: int):
    """`callback` that also tone-maps the latents after the pass's last step, i.e. right before decoding, as
    Lightricks' pipeline_ltx_video.py does with `tone_map_compression_ratio` (elementwise, so on the packed,
    normalized latents as there; diffusers' own tone map is the upsample pipeline's `tone_map_latents`)."""

    def wrapped(pipe, step, timestep, callback_kwargs):
        if callback is not None:
            callback_kwargs = callback(pipe, step, timestep, callback_kwargs)
        if step == last_step:
            callback_kwargs["latents"] = upsample_pipe.tone_map_latents(callback_kwargs["latents"], ratio)
        return callback_kwargs

    return wrapped


def resize(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames (float, [0, 1]) resized to width x height (bilinear, as diffusers' docs do after the refine pass)."""
    if frames.shape[1:3] == (height, width):
        return frames
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    resized = torch.nn.functional.interpolate(video, size=(height, width), mode="bilinear", align_corners=False)
    return resized.permute(0, 2, 3, 1).numpy()
