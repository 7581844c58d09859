"""Generate: render planned shots with LTX-Video through diffusers' LTXConditionPipeline.

One pipeline per checkpoint and settings is loaded per process and reused by every
shot; generation holds a per-device lock so one GPU never runs two shots at once.
A long take is rendered segment by segment (`render_long_take`), each segment
continuing the end of the take so far and cached on disk as it finishes.
"""

import logging
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import diffusers
import numpy as np
import torch
import transformers
from diffusers import LTXConditionPipeline
from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
from PIL import Image, ImageOps

from .checkpoints import resolve_checkpoint
from .media import ClipWriter, read_frames, write_clip
from .memory import MemorySettings, apply_memory_settings, memory_steps
from .plan import KeyframePlan, RenderPlan, SegmentPlan, ShotPlan
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

_pipelines: dict[tuple, LTXConditionPipeline] = {}
_load_lock = threading.Lock()
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


def load_pipeline(model: ModelConfig) -> LTXConditionPipeline:
    """The pipeline for these model settings, loaded once per process.

    Memory settings (offload, tiling) are applied per generation, so an out-of-memory retry
    lowers them on the loaded pipeline instead of loading a second copy.
    """
    device = pick_device(model.device)
    dtype = pick_dtype(model.dtype, device)
    checkpoint = resolve_checkpoint(model.checkpoint, model.family)
    key = (checkpoint, str(dtype), device)
    with _load_lock:
        if key in _pipelines:
            return _pipelines[key]
        log.info("Loading %s (%s, %s) ...", model.checkpoint, dtype, device)
        start = time.perf_counter()
        # Loaded on the CPU and placed by the memory settings, so an offloaded model never has to fit the GPU whole.
        pipe = LTXConditionPipeline.from_pretrained(checkpoint, dtype=dtype)
        memory = memory_steps(model)[0]
        apply_memory_settings(pipe, memory, device)
        _applied_memory[id(pipe)] = memory
        pipe.set_progress_bar_config(disable=True)
        seconds = time.perf_counter() - start
        log.info("Loaded %s in %.1fs", model.checkpoint, seconds)
        load_events.append({"checkpoint": checkpoint, "dtype": str(dtype), "device": device, "seconds": seconds})
        _pipelines[key] = pipe
        return pipe


def _fit_image(path: Path, width: int, height: int) -> Image.Image:
    # Crop to the output's aspect before resizing so keyframes are never stretched.
    with Image.open(path) as image:
        return ImageOps.fit(image.convert("RGB"), (width, height), method=Image.Resampling.LANCZOS)


def _keyframe_conditions(keyframes: list[KeyframePlan], output: OutputConfig) -> list[LTXVideoCondition]:
    return [
        LTXVideoCondition(image=_fit_image(k.image, output.width, output.height), frame_index=k.frame, strength=k.strength)
        for k in keyframes
    ]


def generate_shot(
    pipe: LTXConditionPipeline,
    shot: ShotPlan,
    model: ModelConfig,
    output: OutputConfig,
    memory: MemorySettings | None = None,
) -> np.ndarray:
    """Render one shot (with these memory settings, else the storyboard's); returns uint8 frames (frames, height, width, 3)."""
    conditions = _keyframe_conditions(shot.keyframes, output)
    return _generate(pipe, shot, None, conditions, shot.prompt, shot.seed, shot.frames, model, output, memory)


def generate_segment(
    pipe: LTXConditionPipeline,
    shot: ShotPlan,
    segment: SegmentPlan,
    tail: np.ndarray | None,
    model: ModelConfig,
    output: OutputConfig,
    memory: MemorySettings | None = None,
) -> np.ndarray:
    """Render one segment of a long take, continuing `tail` (the take's last frames so far) when there is one."""
    conditions = _keyframe_conditions(segment.keyframes, output)
    if tail is not None:
        video = [Image.fromarray(frame) for frame in tail]
        conditions.insert(0, LTXVideoCondition(video=video, frame_index=0, strength=segment.condition.strength))
    return _generate(pipe, shot, segment, conditions, segment.prompt, segment.seed, segment.frames, model, output, memory)


def _generate(
    pipe: LTXConditionPipeline,
    shot: ShotPlan,
    segment: SegmentPlan | None,
    conditions: list[LTXVideoCondition],
    prompt: str,
    seed: int,
    num_frames: int,
    model: ModelConfig,
    output: OutputConfig,
    memory: MemorySettings | None,
) -> np.ndarray:
    memory = memory or memory_steps(model)[0]
    # A CPU generator gives the same noise on every device.
    generator = torch.Generator(device="cpu").manual_seed(seed)
    device = pick_device(model.device)
    with _device_locks[device]:
        if _applied_memory.get(id(pipe)) != memory:
            log.info("Memory settings for %s: %s", model.checkpoint, memory)
            apply_memory_settings(pipe, memory, device)
            _applied_memory[id(pipe)] = memory
        for hook in generation_hooks:
            hook(shot, memory)
        generation_events.append({
            "shot": shot.id,
            "segment": segment.index if segment else None,
            "content_hash": (segment or shot).content_hash,
            "memory": asdict(memory),
        })
        result = pipe(
            conditions=conditions or None,
            prompt=prompt,
            negative_prompt=shot.negative_prompt,
            width=output.width,
            height=output.height,
            num_frames=num_frames,
            frame_rate=output.fps,
            num_inference_steps=model.steps,
            guidance_scale=model.guidance_scale,
            decode_timestep=model.decode_timestep,
            decode_noise_scale=model.decode_noise_scale,
            generator=generator,
            output_type="np",
        )
    frames = result.frames[0]
    return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)


def render_shot(plan: RenderPlan, shot: ShotPlan, film_dir: Path, memory: MemorySettings | None = None) -> Path:
    """Generate a shot and write its clip (atomically) under `film_dir`; returns the clip path."""
    if shot.segments:
        return render_long_take(plan, shot, film_dir, memory)
    pipe = load_pipeline(plan.model)
    start = time.perf_counter()
    frames = generate_shot(pipe, shot, plan.model, plan.output, memory)
    generated = time.perf_counter()
    clip = film_dir / shot.clip
    clip.parent.mkdir(parents=True, exist_ok=True)
    write_clip(frames, clip, fps=plan.output.fps, crf=plan.output.crf)
    log.info(
        "Shot %s: model %s, %d frames generated in %.1fs, encoded in %.1fs",
        shot.id, plan.model.checkpoint, len(frames), generated - start, time.perf_counter() - generated,
    )
    return clip


def render_long_take(plan: RenderPlan, shot: ShotPlan, film_dir: Path, memory: MemorySettings | None = None) -> Path:
    """Render a long take segment by segment into one clip; returns the clip path.

    Each segment is cached under `film_dir` as it finishes (its file name holds its chained
    hash), so a re-run renders only the segments that are missing or changed. The clip is
    written as segments come in: memory holds one segment and the take's tail, however long
    the take is.
    """
    pipe = load_pipeline(plan.model)
    output, overlap = plan.output, shot.overlap
    reference = None  # the first segment's colours, which later segments are pulled toward
    tail = None  # the take's last `overlap` frames: not written yet, the next segment blends over them
    clip = film_dir / shot.clip
    with ClipWriter(clip, width=output.width, height=output.height, fps=output.fps, crf=output.crf) as writer:
        for segment in shot.segments:
            label = f"segment {segment.index + 1}/{len(shot.segments)} of {shot.id}"
            cached = film_dir / segment.cache
            if cached.is_file():
                log.info("%s: cached in %s", label, segment.cache)
            else:
                start = time.perf_counter()
                frames = generate_segment(pipe, shot, segment, tail, plan.model, output, memory)
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
