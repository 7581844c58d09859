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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

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
from .media import Audio, ClipWriter, fit_image, read_frames, write_clip
from .memory import MemorySettings, apply_memory_settings, memory_steps
from .plan import RenderPlan, SegmentPlan, ShotPlan
from .seams import colour_stats, crossfade, match_colour
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
_applied_memory: dict[int, MemorySettings] = {}  # id(pipeline) -> its current settings
# Every pipeline load and every generation call in this process, in order: tests and benchmarks read them.
load_events: list[dict] = []
generation_events: list[dict] = []
# Called with (shot, memory settings) before each generation; tests use it to inject failures.
generation_hooks: list[Callable[[ShotPlan, MemorySettings], None]] = []

# Segments are cached near-lossless (or at the output's crf when that is lower), so
# encoding them once more into the shot clip loses nothing visible.
SEGMENT_CRF = 12


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
    """The pipeline for these model settings, loaded once per process.

    Memory settings (offload, tiling) are applied per generation, so an out-of-memory retry
    lowers them on the loaded pipeline instead of loading a second copy.
    """
    device = pick_device(model.device)
    dtype = pick_dtype(model.dtype, device)
    checkpoint = resolve_checkpoint(model.checkpoint, model.family)
    key = (model.family, checkpoint, str(dtype), device)
    with MODEL_LOAD_LOCK:
        if key in _pipelines:
            return _pipelines[key]
        log.info("Loading %s (%s, %s) ...", model.checkpoint, dtype, device)
        start = time.perf_counter()
        # Loaded on the CPU and placed by the memory settings, so an offloaded model never has to fit the GPU whole.
        pipe = _PIPELINES[model.family].from_pretrained(checkpoint, dtype=dtype)
        memory = memory_steps(model)[0]
        apply_memory_settings(pipe, memory, device)
        _applied_memory[id(pipe)] = memory
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
                   generator: torch.Generator, upsample_pipe=None, tail: tuple[np.ndarray, float] | None = None,
                   callback=None) -> np.ndarray:
    def conditions(width: int, height: int) -> list[LTXVideoCondition] | None:
        found = [
            LTXVideoCondition(image=fit_image(k.image, width, height), frame_index=k.frame, strength=k.strength)
            for k in shot.keyframes
        ]
        if tail is not None:  # a long take's segment continues the frames before it
            frames, strength = tail
            video = [fit_image(frame, width, height) for frame in frames]
            found.insert(0, LTXVideoCondition(video=video, frame_index=0, strength=strength))
        return found or None

    common = {
        "prompt": shot.prompt,
        "negative_prompt": shot.negative_prompt,
        "num_frames": shot.frames,
        "frame_rate": output.fps,
        "guidance_scale": model.guidance_scale,
        "decode_timestep": model.decode_timestep,
        "decode_noise_scale": model.decode_noise_scale,
        "generator": generator,
        "callback_on_step_end": callback,
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


def step_callback(on_step: Callable[[int, int], None] | None, total: int):
    """diffusers' `callback_on_step_end` calling `on_step(done, total)`, counting steps across passes."""
    if on_step is None:
        return None
    done = 0

    def callback(pipe, step, timestep, callback_kwargs) -> dict:
        nonlocal done
        done += 1
        on_step(min(done, total), total)
        return {}

    return callback


def generate_shot(
    pipe: LTXConditionPipeline | LTX2ConditionPipeline,
    shot: ShotPlan,
    model: ModelConfig,
    output: OutputConfig,
    upsample_pipe: LTXLatentUpsamplePipeline | LTX2LatentUpsamplePipeline | None = None,
    control: tuple[np.ndarray, Path, int] | None = None,
    memory: MemorySettings | None = None,
    tail: tuple[np.ndarray, float] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Clip:
    """Render one shot, or one segment of a long take given as a shot (see `_segment_as_shot`).

    Two-pass needs `upsample_pipe`; `control` is (frames, IC-LoRA file, downscale factor); `memory`
    defaults to the storyboard's settings; `tail` is (the take's last frames so far, strength) for
    a segment that continues them.
    """
    memory = memory or memory_steps(model)[0]
    # A CPU generator gives the same noise on every device.
    generator = torch.Generator(device="cpu").manual_seed(shot.seed)
    device = pick_device(model.device)
    with _device_locks[device]:
        if _applied_memory.get(id(pipe)) != memory:
            log.info("Memory settings for %s: %s", model.checkpoint, memory)
            apply_memory_settings(pipe, memory, device)
            _applied_memory[id(pipe)] = memory
        for hook in generation_hooks:
            hook(shot, memory)
        generation_events.append({"shot": shot.id, "content_hash": shot.content_hash, "memory": asdict(memory)})
        callback = step_callback(on_step, model.steps + (len(model.refine_sigmas) if model.two_pass else 0))
        if model.family == "ltx2":
            frames, audio = ltx2.generate(
                pipe, shot, model, output, generator=generator, upsample_pipe=upsample_pipe, control=control, tail=tail,
                callback=callback,
            )
        else:
            frames, audio = _generate_ltxv(pipe, shot, model, output, generator, upsample_pipe, tail, callback), None
    return Clip(frames=(np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8), audio=audio)


def render_shot(
    plan: RenderPlan, shot: ShotPlan, film_dir: Path, memory: MemorySettings | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate a shot and write its clip (atomically) under `film_dir`; returns the clip path.

    `on_step(done, total)` is called after each denoising step."""
    # Before the model loads: a control that cannot be made fails without touching the GPU.
    control = _prepare_control(plan, shot, film_dir)
    if shot.segments:
        return render_long_take(plan, shot, film_dir, memory, control, on_step=on_step)
    control = _control_slice(control, 0, shot.frames)
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe) if plan.model.two_pass else None
    start = time.perf_counter()
    rendered = generate_shot(pipe, shot, plan.model, plan.output, upsample_pipe, control, memory, on_step=on_step)
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
        "Shot %s: model %s, %d frames generated in %.1fs, encoded in %.1fs",
        shot.id, plan.model.checkpoint, len(rendered.frames), generated - start, time.perf_counter() - generated,
    )
    return clip


def _prepare_control(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> tuple[Path, Path, int] | None:
    """(the shot's control video, its IC-LoRA file, downscale factor), resolved once per shot; None without a control."""
    if shot.control is None:
        return None
    video = ensure_control_video(plan, shot, film_dir, device=pick_device(plan.model.device))
    return video, resolve_lora(shot.control.lora), reference_downscale(shot.control)


def _control_slice(control: tuple[Path, Path, int] | None, start: int, count: int) -> tuple[np.ndarray, Path, int] | None:
    """(control frames [start, start + count) of the shot, IC-LoRA file, downscale factor), or None without a control."""
    if control is None:
        return None
    video, lora, factor = control
    return control_frames(video, start, count), lora, factor


def _segment_as_shot(shot: ShotPlan, segment: SegmentPlan) -> ShotPlan:
    # A segment renders like a shot of its own: its prompt, seed, length and local keyframes.
    return shot.model_copy(update={
        "prompt": segment.prompt, "seed": segment.seed, "frames": segment.frames, "keyframes": segment.keyframes,
        "content_hash": segment.content_hash, "segments": [],
    })


def render_long_take(
    plan: RenderPlan,
    shot: ShotPlan,
    film_dir: Path,
    memory: MemorySettings | None = None,
    control: tuple[Path, Path, int] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Path:
    """Render a long take segment by segment into one clip; returns the clip path.

    Each segment is cached under `film_dir` as it finishes (its file name holds its chained
    hash), so a re-run renders only the segments that are missing or changed. The clip is
    written as segments come in: memory holds one segment and the take's tail, however long
    the take is.
    """
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe) if plan.model.two_pass else None
    output, overlap = plan.output, shot.overlap
    # Long takes carry no generated sound yet (validation allows only muted ones): a silent
    # track keeps the film's sound continuous across the take.
    audio = Audio.silence() if plan.audio == "generate" else None
    reference = None  # the first segment's colours, which later segments are pulled toward
    tail = None  # the take's last `overlap` frames: not written yet, the next segment blends over them
    clip = film_dir / shot.clip
    with ClipWriter(clip, width=output.width, height=output.height, fps=output.fps, crf=output.crf, audio=audio) as writer:
        for segment in shot.segments:
            label = f"segment {segment.index + 1}/{len(shot.segments)} of {shot.id}"
            cached = film_dir / segment.cache
            if cached.is_file():
                log.info("%s: cached in %s", label, segment.cache)
            else:
                start = time.perf_counter()
                condition = (tail, segment.condition.strength) if tail is not None else None
                frames = generate_shot(
                    pipe, _segment_as_shot(shot, segment), plan.model, output, upsample_pipe,
                    _control_slice(control, segment.start, segment.frames), memory, condition, on_step=on_step,
                ).frames
                if reference is not None:
                    match_colour(frames, reference)
                write_clip(frames, cached, fps=output.fps, crf=min(output.crf, SEGMENT_CRF))
                log.info("%s: %d frames in %.1fs", label, len(frames), time.perf_counter() - start)
            # Always continue from the cached frames, so a resumed take is the same as one rendered in one go.
            frames = read_frames(cached)
            if len(frames) != segment.frames:
                raise RuntimeError(f"{cached} has {len(frames)} frames, the plan says {segment.frames}; delete it to re-render")
            if reference is None:
                reference = colour_stats(frames)
            if tail is not None:
                frames[:overlap] = crossfade(tail, frames[:overlap])
            if segment is shot.segments[-1]:
                writer.write(frames)
            else:
                writer.write(frames[:-overlap])
                tail = frames[-overlap:].copy()  # a copy, so the rest of the segment can be freed
        if writer.frames_written != shot.frames:
            raise RuntimeError(f"long take {shot.id} came to {writer.frames_written} frames, the plan says {shot.frames}")
    _remove_stale_segments(shot, film_dir)
    return clip


def _remove_stale_segments(shot: ShotPlan, film_dir: Path) -> None:
    # Segments of earlier versions of this take (other prompts, seeds, sizes) would pile up night after night.
    current = {Path(segment.cache).name for segment in shot.segments}
    for path in (film_dir / Path(shot.segments[0].cache).parent).iterdir():
        if path.name not in current:
            path.unlink()
