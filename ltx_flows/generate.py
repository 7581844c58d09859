"""Generate: render planned shots with diffusers' LTX pipelines.

`ltxv` (LTX-Video) renders through LTXConditionPipeline; `ltx2` (LTX-2, picture and sound)
through LTX2ConditionPipeline, or LTX2InContextPipeline for a shot with a control (`ltx2.py`).
With `two_pass`, a first pass at half size goes through the family's latent upsampler
(LTXLatentUpsamplePipeline / LTX2LatentUpsamplePipeline) and a short refine pass at full size.

One pipeline per checkpoint and settings is loaded per process and reused by every
shot; generation holds a per-device lock so one GPU never runs two shots at once.
"""

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
import transformers
from diffusers import (
    LTX2ConditionPipeline,
    LTX2LatentUpsamplePipeline,
    LTXConditionPipeline,
    LTXLatentUpsamplePipeline,
)
from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

from . import ltx2
from .checkpoints import MODEL_LOAD_LOCK, resolve_checkpoint, resolve_lora, resolve_upsampler
from .controls import control_frames, ensure_control_video, reference_downscale
from .media import Audio, fit_image, write_clip
from .plan import RenderPlan, ShotPlan
from .storyboard import ModelConfig, OutputConfig

log = logging.getLogger(__name__)

# Our own progress display and logs say what is happening; per-call tqdm bars only clutter them.
diffusers.utils.logging.disable_progress_bar()
transformers.utils.logging.disable_progress_bar()


class _QuietTimestepsWarning(logging.Filter):
    # LTXConditionPipeline passes its own timestep schedule on every call, and the scheduler
    # warns each time; with dynamic shifting off (as LTX checkpoints ship) the two agree.
    def filter(self, record: logging.LogRecord) -> bool:
        return "were passed without `sigmas`" not in record.getMessage()


logging.getLogger("diffusers.schedulers.scheduling_flow_match_euler_discrete").addFilter(_QuietTimestepsWarning())

_PIPELINES = {"ltxv": LTXConditionPipeline, "ltx2": LTX2ConditionPipeline}
_UPSAMPLERS = {
    "ltxv": (LTXLatentUpsamplePipeline, LTXLatentUpsamplerModel),
    "ltx2": (LTX2LatentUpsamplePipeline, LTX2LatentUpsamplerModel),
}

_pipelines: dict[tuple, LTXConditionPipeline | LTX2ConditionPipeline] = {}
_upsamplers: dict[tuple, LTXLatentUpsamplePipeline | LTX2LatentUpsamplePipeline] = {}
_device_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
# Every pipeline load in this process, in order: tests and benchmarks read it.
load_events: list[dict] = []


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(setting: str, device: str) -> torch.dtype:
    if setting == "auto":
        # bfloat16 is what LTX checkpoints are trained and shipped in; CPUs run float32 far faster.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, setting)


@dataclass(frozen=True)
class Clip:
    """A rendered shot: uint8 frames shaped (frames, height, width, 3), and its sound (LTX-2 only)."""

    frames: np.ndarray
    audio: Audio | None


def load_pipeline(model: ModelConfig) -> LTXConditionPipeline | LTX2ConditionPipeline:
    """The pipeline for these model settings, loaded once per process."""
    device = pick_device(model.device)
    dtype = pick_dtype(model.dtype, device)
    checkpoint = resolve_checkpoint(model.checkpoint, model.family)
    key = (model.family, checkpoint, str(dtype), device, model.cpu_offload, model.vae_tiling)
    with MODEL_LOAD_LOCK:
        if key in _pipelines:
            return _pipelines[key]
        log.info("Loading %s (%s, %s) ...", model.checkpoint, dtype, device)
        start = time.perf_counter()
        pipe = _PIPELINES[model.family].from_pretrained(checkpoint, dtype=dtype)
        if model.cpu_offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        if model.vae_tiling:
            pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=True)
        seconds = time.perf_counter() - start
        log.info("Loaded %s in %.1fs", model.checkpoint, seconds)
        load_events.append({"checkpoint": checkpoint, "dtype": str(dtype), "device": device, "seconds": seconds})
        _pipelines[key] = pipe
        return pipe


def load_upsampler(model: ModelConfig, upsampler: str, pipe) -> LTXLatentUpsamplePipeline | LTX2LatentUpsamplePipeline:
    """The latent upsampler pipeline for two-pass rendering, loaded once per process; it shares `pipe`'s VAE."""
    device = pick_device(model.device)
    dtype = pick_dtype(model.dtype, device)
    path, subfolder = resolve_upsampler(upsampler, model.family)
    key = (id(pipe), path, subfolder)
    with MODEL_LOAD_LOCK:
        if key not in _upsamplers:
            pipeline_class, model_class = _UPSAMPLERS[model.family]
            latent_upsampler = model_class.from_pretrained(path, subfolder=subfolder, dtype=dtype)
            upsample_pipe = pipeline_class(vae=pipe.vae, latent_upsampler=latent_upsampler)
            if model.cpu_offload and device.startswith("cuda"):
                upsample_pipe.enable_model_cpu_offload(device=device)
            else:
                upsample_pipe.to(device)
            upsample_pipe.set_progress_bar_config(disable=True)
            load_events.append({"checkpoint": path, "dtype": str(dtype), "device": device, "upsampler": True})
            _upsamplers[key] = upsample_pipe
        return _upsamplers[key]


def _ltxv_refine_schedule(sigmas: list[float]) -> tuple[list[float], float]:
    """Timesteps and `denoise_strength` that make LTXConditionPipeline re-noise to sigmas[0] and run `sigmas`.

    It re-noises supplied latents only through `denoise_strength < 1`, keeping the last int(steps x strength)
    steps of its schedule: put a full-noise step in front and keep all but it.
    """
    timesteps = [1000.0] + [1000.0 * sigma for sigma in sigmas]
    return timesteps, (len(sigmas) + 0.5) / len(timesteps)


def _generate_ltxv(pipe: LTXConditionPipeline, shot: ShotPlan, model: ModelConfig, output: OutputConfig,
                   generator: torch.Generator, upsample_pipe=None) -> np.ndarray:
    def conditions(width: int, height: int) -> list[LTXVideoCondition] | None:
        return [
            LTXVideoCondition(image=fit_image(k.image, width, height), frame_index=k.frame, strength=k.strength)
            for k in shot.keyframes
        ] or None

    common = {
        "prompt": shot.prompt,
        "negative_prompt": shot.negative_prompt,
        "num_frames": shot.frames,
        "frame_rate": output.fps,
        "guidance_scale": model.guidance_scale,
        "decode_timestep": model.decode_timestep,
        "decode_noise_scale": model.decode_noise_scale,
        "generator": generator,
    }
    # LTXConditionPipeline takes a custom schedule as timesteps (sigma x 1000).
    timesteps = [1000.0 * sigma for sigma in model.sigmas] if model.sigmas else None
    if not model.two_pass:
        return pipe(conditions=conditions(output.width, output.height), width=output.width, height=output.height,
                    num_inference_steps=model.steps, timesteps=timesteps, output_type="np", **common).frames[0]

    width, height = output.width // 2, output.height // 2
    latents = pipe(conditions=conditions(width, height), width=width, height=height, num_inference_steps=model.steps,
                   timesteps=timesteps, output_type="latent", **common).frames
    upsampled = upsample_pipe(latents=latents, output_type="latent").frames
    refine_timesteps, strength = _ltxv_refine_schedule(model.refine_sigmas)
    return pipe(conditions=conditions(output.width, output.height), width=output.width, height=output.height,
                latents=upsampled, denoise_strength=strength, timesteps=refine_timesteps,
                num_inference_steps=len(refine_timesteps), output_type="np", **common).frames[0]


def generate_shot(
    pipe: LTXConditionPipeline | LTX2ConditionPipeline,
    shot: ShotPlan,
    model: ModelConfig,
    output: OutputConfig,
    upsample_pipe: LTXLatentUpsamplePipeline | LTX2LatentUpsamplePipeline | None = None,
    control: tuple[np.ndarray, Path, int] | None = None,
) -> Clip:
    """Render one shot (two-pass needs `upsample_pipe`; `control` is (frames, IC-LoRA file, downscale factor))."""
    # A CPU generator gives the same noise on every device.
    generator = torch.Generator(device="cpu").manual_seed(shot.seed)
    device = str(pipe._execution_device)
    with _device_locks[device]:
        if model.family == "ltx2":
            frames, audio = ltx2.generate(
                pipe, shot, model, output, generator=generator, upsample_pipe=upsample_pipe, control=control
            )
        else:
            frames, audio = _generate_ltxv(pipe, shot, model, output, generator, upsample_pipe), None
    return Clip(frames=(np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8), audio=audio)


def render_shot(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> Path:
    """Generate a shot and write its clip (atomically) under `film_dir`; returns the clip path."""
    control = None
    if shot.control is not None:
        # Before the model loads: a control that cannot be made fails without touching the GPU.
        video = ensure_control_video(plan, shot, film_dir, device=pick_device(plan.model.device))
        control = (
            control_frames(video, 0, shot.frames), resolve_lora(shot.control.lora), reference_downscale(shot.control)
        )
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe) if plan.model.two_pass else None
    start = time.perf_counter()
    rendered = generate_shot(pipe, shot, plan.model, plan.output, upsample_pipe, control)
    generated = time.perf_counter()
    # Every clip of a film with generated sound carries a track, silent for a muted shot, so the film's
    # sound stays continuous across joins.
    audio = None
    if plan.audio == "generate":
        audio = Audio.silence() if shot.mute else rendered.audio
    clip = film_dir / shot.clip
    clip.parent.mkdir(parents=True, exist_ok=True)
    write_clip(rendered.frames, clip, fps=plan.output.fps, crf=plan.output.crf, audio=audio)
    log.info(
        "Shot %s: %d frames generated in %.1fs, encoded in %.1fs",
        shot.id, len(rendered.frames), generated - start, time.perf_counter() - generated,
    )
    return clip
