"""LTX-2: video and sound in one pass through diffusers' LTX2ConditionPipeline, and LTX2InContextPipeline
for shots with a control (an IC-LoRA reading a reference video).

Keyframes are LTX2VideoConditions at latent indices (the plan converts the storyboard's frames, see
`frames.ltx2_latent_index`). A control is an LTX2ReferenceCondition with the IC-LoRA active; shots
without one run with every LoRA off, so a control never leaks into the next shot. Every keyword argument
beyond the shot's prompt, frames, conditions and tensors (guidance, STG, modality guidance, schedules) comes
from `recipes.pipeline_calls`, which `ltx-flows plan --json` prints.

Reads top to bottom: the in-context pipeline and LoRAs, the scheduler for given sigmas, loading the
upsampler, conditions, one pass, two passes.
"""

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import diffusers
import numpy as np
import torch
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    LTX2ConditionPipeline,
    LTX2InContextPipeline,
    LTX2LatentUpsamplePipeline,
)
from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition
from PIL import Image

from .checkpoints import MODEL_LOAD_LOCK
from .ltxv import Held, Tail, step_callback
from .media import Audio, fit_image
from .plan import ShotPlan
from .recipes import PipelineCall

_in_context: dict[int, LTX2InContextPipeline] = {}


def in_context_pipeline(pipe: LTX2ConditionPipeline) -> LTX2InContextPipeline:
    """The IC-LoRA pipeline over the same (already loaded) components as `pipe`."""
    with MODEL_LOAD_LOCK:
        if id(pipe) not in _in_context:
            # from_pipe casts every component to `dtype` (float32 unless told), and warns about float32-only
            # modules while doing so even when there are none.
            verbosity = diffusers.utils.logging.get_verbosity()
            diffusers.utils.logging.set_verbosity_error()
            try:
                in_context = LTX2InContextPipeline.from_pipe(pipe, dtype=pipe.transformer.dtype)
            finally:
                diffusers.utils.logging.set_verbosity(verbosity)
            in_context.set_progress_bar_config(disable=True)
            _in_context[id(pipe)] = in_context
        return _in_context[id(pipe)]


def forget(pipe: LTX2ConditionPipeline) -> None:
    """Drop the in-context pipeline built over `pipe` (when the batch moves to another model)."""
    with MODEL_LOAD_LOCK:
        _in_context.pop(id(pipe), None)


def activate_lora(pipe, lora: Path | None) -> None:
    """Make `lora` the only active LoRA of the (shared) transformer, loading it on first use; None turns all off."""
    loaded = pipe.get_list_adapters().get("transformer", [])
    if lora is None:
        if loaded:
            pipe.disable_lora()
        return
    name = "ic_" + hashlib.sha256(str(lora).encode()).hexdigest()[:12]
    if name not in loaded:
        with MODEL_LOAD_LOCK:  # PEFT builds the LoRA's layers
            pipe.load_lora_weights(str(lora), adapter_name=name)
    pipe.enable_lora()
    pipe.set_adapters([name], [1.0])


@contextmanager
def sigmas_as_given(pipe, sigmas: list[float] | None):
    """Within this, `pipe` uses `sigmas` exactly as given.

    LTX-2's scheduler shifts any schedule toward high noise by the token count; a distilled schedule (and
    the refine schedule) must run unshifted, so an unshifted copy stands in for the call (as in diffusers'
    two-stage LTX-2 example).
    """
    if sigmas is None:
        yield
        return
    original = pipe.scheduler
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(
        original.config, use_dynamic_shifting=False, shift_terminal=None
    )
    try:
        yield
    finally:
        pipe.scheduler = original


@dataclass(frozen=True)
class Control:
    """A shot's control for its IC-LoRA: the control video's frames (for this shot or segment), the LoRA file,
    and how much smaller than the shot the LoRA reads it."""

    frames: np.ndarray
    lora: Path
    downscale: int


def load_upsampler(pipe: LTX2ConditionPipeline, path: str, subfolder: str | None, dtype: torch.dtype) -> LTX2LatentUpsamplePipeline:
    """The latent upsampler over `pipe`'s VAE (LTX-2 repos ship it in `latent_upsampler/`)."""
    model = LTX2LatentUpsamplerModel.from_pretrained(path, subfolder=subfolder, dtype=dtype)
    return LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model)


def _conditions(
    shot: ShotPlan, width: int, height: int, tail: Tail | None, held: list[Held] | None = None
) -> list[LTX2VideoCondition] | None:
    """Keyframes at their latent indices, for a long take's segment the frames it continues, at index 0, and a
    retake's held frames at their latent indices.

    At index 0 held frames replace the clip's first latents; at index k >= 1 LTX2ConditionPipeline appends all their
    latents as clean extra tokens from pixel frame 8(k - 1) + 1 (the plan puts them there).
    """
    found = [
        LTX2VideoCondition(frames=fit_image(k.image, width, height), index=k.latent_index, strength=k.strength)
        for k in shot.keyframes
    ]
    for run in held or []:
        index = 0 if run.at == 0 else (run.at - 1) // 8 + 1
        found.append(LTX2VideoCondition(frames=[fit_image(f, width, height) for f in run.frames], index=index))
    if tail is not None:
        frames = [fit_image(f, width, height) for f in tail.frames]
        found.insert(0, LTX2VideoCondition(frames=frames, index=0, strength=tail.strength))
    return found or None


def generate(
    pipe: LTX2ConditionPipeline,
    shot: ShotPlan,
    calls: list[PipelineCall],
    *,
    generator: torch.Generator,
    upsample_pipe: LTX2LatentUpsamplePipeline | None = None,
    control: Control | None = None,
    tail: Tail | None = None,
    held: list[Held] | None = None,
    stage2_lora: Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, Audio]:
    """Render one LTX-2 shot: (frames as float in [0, 1], its sound).

    `calls` are the shot's pipeline calls (`recipes.pipeline_calls`); `stage2_lora` the LoRA the refine pass
    runs with (the dev presets' distilled LoRA).
    """
    callback = step_callback(on_step, sum(call.denoising_steps for call in calls))
    first = calls[0]
    kwargs = dict(first.kwargs, prompt=shot.prompt, negative_prompt=shot.negative_prompt, num_frames=shot.frames,
                  generator=generator, callback_on_step_end=callback,
                  conditions=_conditions(shot, first.kwargs["width"], first.kwargs["height"], tail, held))
    if control is not None:
        runner = in_context_pipeline(pipe)
        activate_lora(runner, control.lora)
        # The pipeline fits the reference to (height / factor, width / factor) itself.
        kwargs["reference_conditions"] = [
            LTX2ReferenceCondition(frames=[Image.fromarray(f) for f in control.frames], strength=shot.control.strength)
        ]
        kwargs["reference_downscale_factor"] = control.downscale
    else:
        runner = pipe
        activate_lora(pipe, None)

    with sigmas_as_given(runner, first.kwargs.get("sigmas")):
        if len(calls) == 1:
            video, audio = runner(**kwargs, return_dict=False)
            return video[0], _audio(pipe, audio)
        video_latents, audio_latents = runner(**kwargs, return_dict=False)

    # Two-pass: upsample the latents 2x, then a short refine at full size. As in Lightricks' two-stage
    # pipelines, the refine pass runs without the control's IC-LoRA or reference, with the stage-2 LoRA if any.
    _, upsample, refine = calls
    activate_lora(pipe, stage2_lora)
    upsampled = upsample_pipe(latents=video_latents, return_dict=False, **upsample.kwargs)[0]
    kwargs = dict(refine.kwargs, prompt=shot.prompt, negative_prompt=shot.negative_prompt, num_frames=shot.frames,
                  generator=generator, callback_on_step_end=callback, latents=upsampled, audio_latents=audio_latents,
                  conditions=_conditions(shot, refine.kwargs["width"], refine.kwargs["height"], tail, held))
    with sigmas_as_given(pipe, refine.kwargs["sigmas"]):
        video, audio = pipe(**kwargs, return_dict=False)
    activate_lora(pipe, None)
    return video[0], _audio(pipe, audio)


def _audio(pipe: LTX2ConditionPipeline, audio: torch.Tensor) -> Audio:
    return Audio(audio[0].float().cpu().numpy(), pipe.vocoder.config.output_sampling_rate)
