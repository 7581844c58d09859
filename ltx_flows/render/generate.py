"""Generate: one generation from a plan, and a plain shot's clip written from it.

The model code lives in one module per family, each read top to bottom: `models/ltxv.py` (LTX-Video through
LTXConditionPipeline) and `models/ltx2.py` (LTX-2, picture and sound, through LTX2ConditionPipeline, or
LTX2InContextPipeline for a shot with a control). Every keyword argument their pipeline calls receive is in the
plan (`RenderPlan.calls`, made by `recipes.pipeline_calls`). Models are loaded and kept by `models/loading.py`.

Each generation is announced on the progress log (`progress.generation`) as it starts, with the memory settings
it runs under, after the device's lock is taken.
"""

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..files import write_array_atomic
from ..layout import audio_latents_path
from ..media.audio import Audio
from ..media.write import write_clip
from ..models import ltx2, ltx2_voice, ltxv
from ..models.adapters import look_adapters
from ..models.checkpoints import resolve_lora
from ..models.loading import MODELS, pick_device
from ..plan.memory import MemorySettings, memory_steps
from ..plan.planner import RenderPlan, ShotPlan
from ..plan.recipes import PipelineCall, pipeline_calls
from ..storyboard.models import ModelConfig, OutputConfig
from . import progress
from .sound import clip_sound, stage_sound
from .voice import voice_line
from .controls import control_frames, ensure_control_video, reference_downscale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """A rendered shot: uint8 frames shaped (frames, height, width, 3), and its sound (LTX-2 only).

    `audio_latents` (LTX-2 only): the sound's final latents, float32 (audio_tokens, channels * mel_bins), packed
    and normalized as `ltx2.AudioCondition` takes them, so later generations can continue or keep this sound.
    """

    frames: np.ndarray
    audio: Audio | None
    audio_latents: np.ndarray | None = None


@dataclass(frozen=True)
class PreparedControl:
    """A shot's control, resolved once per shot: its control video, IC-LoRA file and downscale factor."""

    video: Path
    lora: Path
    downscale: int


def prepare_control(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> PreparedControl | None:
    """The shot's control video, IC-LoRA file and downscale factor, resolved once per shot; None without a control."""
    if shot.control is None:
        return None
    video = ensure_control_video(plan, shot, film_dir, device=pick_device(plan.model.device))
    return PreparedControl(video=video, lora=resolve_lora(shot.control.lora), downscale=reference_downscale(shot.control))


def control_slice(control: PreparedControl | None, start: int, count: int) -> ltx2.Control | None:
    """Control frames [start, start + count) of the shot with its IC-LoRA, or None without a control."""
    if control is None:
        return None
    return ltx2.Control(frames=control_frames(control.video, start, count), lora=control.lora, downscale=control.downscale)


@dataclass(frozen=True)
class Models:
    """A plan's loaded pipeline, two-pass its latent upsampler pipeline, with frame-rate upscaling its temporal one."""

    pipe: object
    upsampler: object | None
    temporal: object | None = None


def load_models(plan: RenderPlan, shot: ShotPlan) -> Models:
    """The pipeline (and, two-pass, the upsampler) for a shot, saying so on the progress display first: a first
    load (and a tiny twin's first build) takes a while, and a loaded model returns at once."""
    twin = " (its tiny twin is built on first use)" if plan.model.checkpoint == "tiny" else ""
    progress.phase(plan.name, f"loading model {plan.model.checkpoint}{twin}", shot.id)
    pipe = MODELS.pipeline(plan.model)
    upscaler = next((call.upscaler for call in plan.calls if call.upscaler), None)
    return Models(pipe, MODELS.upsampler(plan.model, plan.upsampler, pipe) if plan.model.two_pass else None,
                  MODELS.temporal_upscaler(plan.model, upscaler, pipe) if upscaler else None)


def generate_shot(
    pipe,
    shot: ShotPlan,
    model: ModelConfig,
    output: OutputConfig,
    upsample_pipe=None,
    control: ltx2.Control | None = None,
    memory: MemorySettings | None = None,
    tail: tuple[np.ndarray, float] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    held: list[ltxv.Held] | None = None,
    audio_condition: "ltx2.AudioCondition | None" = None,
    calls: list[PipelineCall] | None = None,
    storyboard: str | None = None,
    voice: "ltx2_voice.VoiceLine | None" = None,
    temporal_pipe=None,
) -> Clip:
    """Render one shot, or one segment of a long take given as a shot (see `long_take.segment_as_shot`).

    Two-pass needs `upsample_pipe`; `control` is the shot's (or segment's) control frames and IC-LoRA;
    `memory` defaults to the storyboard's settings; `tail` is (the take's last frames so far, strength) for a
    segment that continues them; `on_step(done, total)` is called after each denoising step of every pass; `held` are
    a retake's frames held clean around its window; `audio_condition` (LTX-2) audio tokens to hold while the rest of
    the sound is generated. `calls`: the plan's pipeline calls (made from `model` and `output` when not given);
    `storyboard`: the name the progress event carries. `voice` (LTX-2): a line whose tokens are held (encoded with
    the model's own audio VAE once it is placed), so the picture is generated to it. `temporal_pipe`: the temporal
    upscaler the plan's frame-rate calls use.
    """
    memory = memory or memory_steps(model)[0]
    # A CPU generator gives the same noise on every device.
    generator = torch.Generator(device="cpu").manual_seed(shot.seed)
    device = pick_device(model.device)
    calls = calls if calls is not None else pipeline_calls(model, output)
    continued = ltxv.Tail(frames=tail[0], strength=tail[1]) if tail is not None else None
    with MODELS.device_locks[device]:
        MODELS.place(pipe, model, memory, device)
        if voice is not None and model.family == "ltx2":
            audio_condition = ltx2_voice.voice_condition(pipe, voice, shot.frames, output.fps, also=audio_condition)
        progress.generation(storyboard, shot.id, {
            "content_hash": shot.content_hash, "prompt": shot.prompt, "memory": asdict(memory), "frames": shot.frames,
            "held": [{"at": run.at, "frames": len(run.frames)} for run in held or []],
            "audio_held": int((audio_condition.hold > 0).sum()) if audio_condition is not None else 0,
            **({"loras": [{"file": lora.file, "strength": lora.strength} for lora in shot.loras]} if shot.loras else {}),
        })
        if model.family == "ltx2":
            stage2 = next((call.lora for call in calls if call.step in ("refine", "retime")), None)
            rendered = ltx2.generate(
                pipe, shot, calls, generator=generator, upsample_pipe=upsample_pipe, temporal_pipe=temporal_pipe,
                control=control, tail=continued,
                held=held, audio_condition=audio_condition, stage2_lora=resolve_lora(stage2) if stage2 else None,
                looks=tuple(look_adapters(shot.loras)), on_step=on_step,
            )
            frames, audio, audio_latents = rendered.frames, rendered.audio, rendered.audio_latents.numpy()
        else:
            if audio_condition is not None:
                raise ValueError(f"shot {shot.id}: LTX-Video makes no sound, so it takes no audio condition")
            frames = ltxv.generate(
                pipe, shot, calls, width=output.width, height=output.height, generator=generator,
                upsample_pipe=upsample_pipe, temporal_pipe=temporal_pipe, tail=continued, held=held, on_step=on_step,
            )
            audio = audio_latents = None
    return Clip(frames=(np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8), audio=audio,
                audio_latents=audio_latents)


def render_plain(
    plan: RenderPlan,
    shot: ShotPlan,
    film_dir: Path,
    memory: MemorySettings | None = None,
    control: PreparedControl | None = None,
    on_step: Callable[[int, int], None] | None = None,
    as_stage: bool = False,
) -> Path:
    """Generate a shot that fits one window and write its clip (atomically) under `film_dir`; returns the clip
    path. Its LTX-2 sound latents lie beside the clip. `as_stage`: the shot's own render that retakes build on,
    which carries its sound before its line (`sound.stage_sound`)."""
    frames = control_slice(control, 0, shot.frames)
    models = load_models(plan, shot)
    start = time.perf_counter()
    rendered = generate_shot(models.pipe, shot, plan.model, plan.output, models.upsampler, frames, memory,
                             on_step=on_step, calls=plan.calls, storyboard=plan.name,
                             voice=voice_line(shot, plan.output.fps), temporal_pipe=models.temporal)
    generated = time.perf_counter()
    clip = film_dir / shot.clip
    clip.parent.mkdir(parents=True, exist_ok=True)
    progress.phase(plan.name, "encoding", shot.id)
    write_clip(rendered.frames, clip, fps=plan.output.fps, crf=plan.output.crf, audio=(stage_sound if as_stage else clip_sound)(plan, shot, rendered.audio))
    if rendered.audio_latents is not None:
        # Beside the clip, so a later generation (a retake) can hold this shot's sound around what it changes.
        write_array_atomic(rendered.audio_latents, audio_latents_path(clip))
    log.info(
        "Shot %s: model %s, %d frames generated in %.1fs, encoded in %.1fs",
        shot.id, plan.model.checkpoint, len(rendered.frames), generated - start, time.perf_counter() - generated,
    )
    return clip


def generate_window(
    plan: RenderPlan,
    shot: ShotPlan,
    window: ShotPlan,
    start: int,
    film_dir: Path,
    held: list[ltxv.Held],
    memory: MemorySettings | None = None,
    on_step: Callable[[int, int], None] | None = None,
    audio_condition: "ltx2.AudioCondition | None" = None,
    voice: "ltx2_voice.VoiceLine | None" = None,
) -> Clip:
    """Generate `window` (a retake's clip, given as a shot of its own) that starts at frame `start` of `shot`,
    with `held` frames (and LTX-2 sound) as conditions and the slice of the shot's control under it."""
    control = control_slice(prepare_control(plan, shot, film_dir), start, window.frames)
    models = load_models(plan, shot)
    return generate_shot(models.pipe, window, plan.model, plan.output, models.upsampler, control, memory,
                         on_step=on_step, held=held, audio_condition=audio_condition, calls=plan.calls,
                         storyboard=plan.name, voice=voice, temporal_pipe=models.temporal)

