"""LTX-2: video and sound in one pass through diffusers' LTX2ConditionPipeline, and LTX2InContextPipeline
for shots with a control (an IC-LoRA reading a reference video).

Keyframes are LTX2VideoConditions at latent indices (the plan converts the storyboard's frames, see
`frames.ltx2_latent_index`). A control is an LTX2ReferenceCondition with the IC-LoRA active; shots
without one run with every LoRA off, so a control never leaks into the next shot. Spatio-temporal and
modality guidance (STG) are off: classifier-free guidance is the only guidance used.
"""

import hashlib
from contextlib import contextmanager
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, LTX2ConditionPipeline, LTX2InContextPipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition
from PIL import Image

from .checkpoints import MODEL_LOAD_LOCK
from .media import Audio, fit_image
from .plan import ShotPlan
from .storyboard import ModelConfig, OutputConfig

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


def _guidance(model: ModelConfig) -> dict:
    # One guidance scale for picture and sound; STG and modality guidance off (see the module docstring).
    return {
        "guidance_scale": model.guidance_scale,
        "audio_guidance_scale": model.guidance_scale,
        "stg_scale": 0.0,
        "audio_stg_scale": 0.0,
        "modality_scale": 1.0,
        "audio_modality_scale": 1.0,
    }


def _conditions(
    shot: ShotPlan, width: int, height: int, tail: tuple[np.ndarray, float] | None
) -> list[LTX2VideoCondition] | None:
    """Keyframes at their latent indices, and for a long take's segment the frames it continues, at index 0."""
    found = [
        LTX2VideoCondition(frames=fit_image(k.image, width, height), index=k.latent_index, strength=k.strength)
        for k in shot.keyframes
    ]
    if tail is not None:
        frames, strength = tail
        found.insert(0, LTX2VideoCondition(frames=[fit_image(f, width, height) for f in frames], index=0, strength=strength))
    return found or None


def generate(
    pipe: LTX2ConditionPipeline,
    shot: ShotPlan,
    model: ModelConfig,
    output: OutputConfig,
    *,
    generator: torch.Generator,
    upsample_pipe=None,
    control: tuple[np.ndarray, Path, int] | None = None,
    tail: tuple[np.ndarray, float] | None = None,
    callback=None,
) -> tuple[np.ndarray, Audio]:
    """Render one LTX-2 shot: (frames as float in [0, 1], its sound).

    `control` is (the control video's frames, the IC-LoRA file, its reference downscale factor);
    `tail` is (the frames a long take's segment continues, strength).
    """
    width, height = output.width, output.height
    if model.two_pass:
        width, height = width // 2, height // 2
    common = {
        "prompt": shot.prompt,
        "negative_prompt": shot.negative_prompt,
        "num_frames": shot.frames,
        "frame_rate": output.fps,
        "generator": generator,
        "callback_on_step_end": callback,  # diffusers' per-step hook (generate.step_callback)
        **_guidance(model),
    }
    first = dict(common, width=width, height=height, num_inference_steps=model.steps, sigmas=model.sigmas)
    first["conditions"] = _conditions(shot, width, height, tail)

    if control is not None:
        frames, lora, factor = control
        runner = in_context_pipeline(pipe)
        activate_lora(runner, lora)
        # The pipeline fits the reference to (height / factor, width / factor) itself.
        first["reference_conditions"] = [
            LTX2ReferenceCondition(frames=[Image.fromarray(f) for f in frames], strength=shot.control.strength)
        ]
        first["reference_downscale_factor"] = factor
    else:
        runner = pipe
        activate_lora(pipe, None)

    with sigmas_as_given(runner, model.sigmas):
        if not model.two_pass:
            video, audio = runner(**first, output_type="np", return_dict=False)
            return video[0], _audio(pipe, audio)
        video_latents, audio_latents = runner(**first, output_type="latent", return_dict=False)

    # Two-pass: upsample the latents 2x, then a short refine at full size. As in Lightricks' two-stage
    # pipelines, the refine pass runs without the control's IC-LoRA or reference.
    activate_lora(pipe, None)
    upsampled = upsample_pipe(latents=video_latents, output_type="latent", return_dict=False)[0]
    refine = dict(
        common,
        width=output.width,
        height=output.height,
        latents=upsampled,
        audio_latents=audio_latents,
        sigmas=model.refine_sigmas,
        num_inference_steps=len(model.refine_sigmas),
        noise_scale=model.refine_sigmas[0],
        conditions=_conditions(shot, output.width, output.height, tail),
    )
    with sigmas_as_given(pipe, model.refine_sigmas):
        video, audio = pipe(**refine, output_type="np", return_dict=False)
    return video[0], _audio(pipe, audio)


def _audio(pipe: LTX2ConditionPipeline, audio: torch.Tensor) -> Audio:
    return Audio(audio[0].float().cpu().numpy(), pipe.vocoder.config.output_sampling_rate)
