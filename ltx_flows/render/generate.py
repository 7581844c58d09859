"""Generate: render planned shots with diffusers' LTX pipelines.

The model code lives in one module per family, each read top to bottom: `ltxv.py` (LTX-Video through
LTXConditionPipeline) and `ltx2.py` (LTX-2, picture and sound, through LTX2ConditionPipeline, or
LTX2InContextPipeline for a shot with a control). Every keyword argument their pipeline calls receive comes
from `recipes.pipeline_calls`, which the plan shows. This module loads pipelines, applies memory settings,
and writes clips.

One model is resident per process: loading another drops the previous one (its pipeline, upsampler and
in-context pipeline) and empties the CUDA cache, so a batch that mixes storyboards never holds two 13-22B
models at once. Generation holds a per-device lock so one GPU never runs two shots at once.
"""

import gc
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
from diffusers import LTX2ConditionPipeline, LTX2LatentUpsamplePipeline, LTXConditionPipeline, LTXLatentUpsamplePipeline

from ..models import ltx2
from ..models import ltxv
from . import progress
from .cache import audio_latents_path
from ..models.checkpoints import MODEL_LOAD_LOCK, resolve_checkpoint, resolve_lora, resolve_upsampler
from .controls import control_frames, ensure_control_video, reference_downscale
from ..media.audio import Audio
from ..media.write import ClipWriter, write_clip
from ..files import write_array_atomic
from ..plan.memory import MemorySettings, apply_memory_settings, memory_steps, place_upsampler
from ..plan.planner import RenderPlan, SegmentPlan, ShotPlan
from ..plan.recipes import pipeline_calls, preset_of
from .seams import colour_stats, crossfade, crossfade_sound, match_colour
from .segments import Segment, discard_segment, load_segment, remove_stale_segments, save_segment
from ..storyboard.models import ModelConfig, OutputConfig

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
_FAMILY_MODULES = {"ltxv": ltxv, "ltx2": ltx2}

_pipelines: dict[tuple, LTXConditionPipeline | LTX2ConditionPipeline] = {}
_upsamplers: dict[tuple, LTXLatentUpsamplePipeline | LTX2LatentUpsamplePipeline] = {}
_device_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
_applied_memory: dict[int, MemorySettings] = {}  # id(pipeline) -> its current settings
# Every pipeline load and every generation call in this process, in order: tests and benchmarks read them.
load_events: list[dict] = []
generation_events: list[dict] = []
# Called with (shot, memory settings) before each generation; tests use it to inject failures.
generation_hooks: list[Callable[[ShotPlan, MemorySettings], None]] = []


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


def _checkpoint_path(model: ModelConfig) -> str:
    """What `from_pretrained` loads: with `checkpoint: tiny` and a preset, the preset's repo in its
    generation's twin; else `resolve_checkpoint`."""
    preset = preset_of(model)
    if model.checkpoint == "tiny" and preset is not None:
        return resolve_checkpoint(f"twin:{preset.generation}:{preset.checkpoint}")
    return resolve_checkpoint(model.checkpoint, model.family)


def _drop_models(device: str) -> None:
    """Forget every pipeline loaded for `device` (and what hangs off it), then return their memory."""
    from ..models import annotators

    dropped = [key for key in _pipelines if key[-1] == device]
    if not dropped:  # the device's first model: nothing to free (a full collection after the imports takes 1 s here)
        return
    for key in dropped:
        pipe = _pipelines.pop(key)
        for up_key in [k for k in _upsamplers if k[0] == id(pipe)]:
            del _upsamplers[up_key]
        ltx2.forget(pipe)
        _applied_memory.pop(id(pipe), None)
        log.info("Dropped %s from %s: the batch moved to another model", key[1], device)
    annotators.forget_detectors()
    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_pipeline(model: ModelConfig) -> LTXConditionPipeline | LTX2ConditionPipeline:
    """The pipeline for these model settings, loaded once per process; loading another model drops it.

    Memory settings (offload, tiling) are applied per generation, so an out-of-memory retry
    lowers them on the loaded pipeline instead of loading a second copy.
    """
    device = pick_device(model.device)
    dtype = pick_dtype(model.dtype, device)
    checkpoint = _checkpoint_path(model)
    key = (model.family, checkpoint, str(dtype), device)
    with MODEL_LOAD_LOCK:
        if key in _pipelines:
            return _pipelines[key]
        _drop_models(device)
        log.info("Loading %s (%s, %s) ...", model.checkpoint, dtype, device)
        start = time.perf_counter()
        # Loaded on the CPU and placed by the memory settings, so an offloaded model never has to fit the GPU whole.
        pipe = _PIPELINES[model.family].from_pretrained(checkpoint, dtype=dtype)
        if model.family == "ltxv":
            ltxv.check_scheduler(pipe, checkpoint)
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
    """The latent upsampler pipeline for two-pass rendering, loaded once per pipeline; it shares `pipe`'s VAE."""
    device = pick_device(model.device)
    dtype = pick_dtype(model.dtype, device)
    path, subfolder = resolve_upsampler(upsampler, model.family)
    key = (id(pipe), path, subfolder)
    with MODEL_LOAD_LOCK:
        if key not in _upsamplers:
            upsample_pipe = _FAMILY_MODULES[model.family].load_upsampler(pipe, path, subfolder, dtype)
            place_upsampler(upsample_pipe, device)
            upsample_pipe.set_progress_bar_config(disable=True)
            load_events.append({"checkpoint": path, "dtype": str(dtype), "device": device, "upsampler": True})
            _upsamplers[key] = upsample_pipe
        return _upsamplers[key]


def _load_models(plan: RenderPlan, shot: ShotPlan):
    """The pipeline (and, two-pass, the upsampler) for a shot, saying so on the progress display first: a first
    load (and a tiny twin's first build) takes a while, and a loaded model returns at once."""
    twin = " (its tiny twin is built on first use)" if plan.model.checkpoint == "tiny" else ""
    progress.phase(plan.name, f"loading model {plan.model.checkpoint}{twin}", shot.id)
    pipe = load_pipeline(plan.model)
    return pipe, load_upsampler(plan.model, plan.upsampler, pipe) if plan.model.two_pass else None


def generate_shot(
    pipe: LTXConditionPipeline | LTX2ConditionPipeline,
    shot: ShotPlan,
    model: ModelConfig,
    output: OutputConfig,
    upsample_pipe: LTXLatentUpsamplePipeline | LTX2LatentUpsamplePipeline | None = None,
    control: ltx2.Control | None = None,
    memory: MemorySettings | None = None,
    tail: tuple[np.ndarray, float] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    held: list[ltxv.Held] | None = None,
    audio_condition: "ltx2.AudioCondition | None" = None,
) -> Clip:
    """Render one shot, or one segment of a long take given as a shot (see `_segment_as_shot`).

    Two-pass needs `upsample_pipe`; `control` is the shot's (or segment's) control frames and IC-LoRA;
    `memory` defaults to the storyboard's settings; `tail` is (the take's last frames so far, strength) for a
    segment that continues them; `on_step(done, total)` is called after each denoising step of every pass; `held` are
    a retake's frames held clean around its window; `audio_condition` (LTX-2) audio tokens to hold while the rest of
    the sound is generated.
    """
    memory = memory or memory_steps(model)[0]
    # A CPU generator gives the same noise on every device.
    generator = torch.Generator(device="cpu").manual_seed(shot.seed)
    device = pick_device(model.device)
    calls = pipeline_calls(model, output)
    continued = ltxv.Tail(frames=tail[0], strength=tail[1]) if tail is not None else None
    with _device_locks[device]:
        if _applied_memory.get(id(pipe)) != memory:
            log.info("Memory settings for %s: %s", model.checkpoint, memory)
            apply_memory_settings(pipe, memory, device)
            _applied_memory[id(pipe)] = memory
        for hook in generation_hooks:
            hook(shot, memory)
        generation_events.append({
            "shot": shot.id, "content_hash": shot.content_hash, "memory": asdict(memory), "frames": shot.frames,
            "held": [{"at": run.at, "frames": len(run.frames)} for run in held or []],
            "audio_held": int((audio_condition.hold > 0).sum()) if audio_condition is not None else 0,
        })
        if model.family == "ltx2":
            stage2 = calls[-1].lora
            rendered = ltx2.generate(
                pipe, shot, calls, generator=generator, upsample_pipe=upsample_pipe, control=control, tail=continued,
                held=held, audio_condition=audio_condition, stage2_lora=resolve_lora(stage2) if stage2 else None,
                on_step=on_step,
            )
            frames, audio, audio_latents = rendered.frames, rendered.audio, rendered.audio_latents.numpy()
        else:
            if audio_condition is not None:
                raise ValueError(f"shot {shot.id}: LTX-Video makes no sound, so it takes no audio condition")
            frames = ltxv.generate(
                pipe, shot, calls, width=output.width, height=output.height, generator=generator,
                upsample_pipe=upsample_pipe, tail=continued, held=held, on_step=on_step,
            )
            audio = audio_latents = None
    return Clip(frames=(np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8), audio=audio,
                audio_latents=audio_latents)


def render_shot(
    plan: RenderPlan,
    shot: ShotPlan,
    film_dir: Path,
    memory: MemorySettings | None = None,
    on_step: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Generate a shot and write its clip (atomically) under `film_dir`; returns the clip path.

    A shot with retakes is its own render with each retake applied on top (`retakes.render_retaken`).
    `force`: a long take renders every segment again instead of reusing its cached ones (and a shot with
    retakes every stage).
    """
    if shot.retakes:
        from .retake import render_retaken

        return render_retaken(plan, shot, film_dir, memory, on_step=on_step, force=force)
    # Before the model loads: a control that cannot be made fails without touching the GPU.
    control = _prepare_control(plan, shot, film_dir)
    if shot.segments:
        return render_long_take(plan, shot, film_dir, memory, control, on_step=on_step, force=force)
    control = _control_slice(control, 0, shot.frames)
    pipe, upsample_pipe = _load_models(plan, shot)
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
    progress.phase(plan.name, "encoding", shot.id)
    write_clip(rendered.frames, clip, fps=plan.output.fps, crf=plan.output.crf, audio=audio)
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
) -> Clip:
    """Generate `window` (a retake's clip, given as a shot of its own) that starts at frame `start` of `shot`,
    with `held` frames (and LTX-2 sound) as conditions and the slice of the shot's control under it."""
    control = _control_slice(_prepare_control(plan, shot, film_dir), start, window.frames)
    pipe, upsample_pipe = _load_models(plan, shot)
    return generate_shot(pipe, window, plan.model, plan.output, upsample_pipe, control, memory, on_step=on_step, held=held,
                         audio_condition=audio_condition)


def _prepare_control(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> PreparedControl | None:
    """The shot's control video, IC-LoRA file and downscale factor, resolved once per shot; None without a control."""
    if shot.control is None:
        return None
    video = ensure_control_video(plan, shot, film_dir, device=pick_device(plan.model.device))
    return PreparedControl(video=video, lora=resolve_lora(shot.control.lora), downscale=reference_downscale(shot.control))


def _control_slice(control: PreparedControl | None, start: int, count: int) -> ltx2.Control | None:
    """Control frames [start, start + count) of the shot with its IC-LoRA, or None without a control."""
    if control is None:
        return None
    return ltx2.Control(frames=control_frames(control.video, start, count), lora=control.lora, downscale=control.downscale)


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
    control: PreparedControl | None = None,
    on_step: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Render a long take segment by segment into one clip; returns the clip path.

    Each segment is cached under `film_dir` as it finishes (see `segments.py`: lossless, with a
    record holding its sha256), so a re-run renders only the segments that are missing, changed
    or damaged; `force` renders every one again. A segment rendered now joins the take from memory
    (never encoded and decoded back); a cached one decodes to exactly the same frames. The clip is
    written as segments come in: memory holds one segment and the take's tail, however long the take is.
    `on_step(done, total)` counts denoising steps across the whole take; a cached segment's steps
    count as done when the next one reports.

    LTX-2 takes carry their sound too: each segment after the first holds the previous one's audio
    latents over the overlap as the start of its own sound (`_continued_sound`), and the sound crossfades
    over the overlap exactly where the picture does (`TakeSound`). The segment's sound and audio latents
    are cached with it. Every LTX-2 take renders so, whatever the film does with its sound, so the
    cached segments stay the same take when `mute` or `output.audio` change.
    """
    pipe, upsample_pipe = _load_models(plan, shot)
    output, overlap = plan.output, shot.overlap
    with_sound = plan.model.family == "ltx2"
    sound = TakeSound(output.fps, overlap) if with_sound else None
    reference = None  # the first segment's colours, which later segments are pulled toward
    tail = None  # the take's last `overlap` frames: not written yet, the next segment blends over them
    previous_latents = None  # the audio latents of the segment before (LTX-2), which this one continues
    take_latents = None  # the take's audio latents so far (LTX-2): each segment's, from its first token on
    clip = film_dir / shot.clip
    with ClipWriter(clip, width=output.width, height=output.height, fps=output.fps, crf=output.crf) as writer:
        for segment in shot.segments:
            label = f"segment {segment.index + 1}/{len(shot.segments)} of {shot.id}"
            if force:
                discard_segment(film_dir, segment)
            found = load_segment(film_dir, segment, label, sound=with_sound)
            if found is None:
                start = time.perf_counter()
                condition = (tail, segment.condition.strength) if tail is not None else None
                audio_condition = None
                if previous_latents is not None:
                    before = shot.segments[segment.index - 1]
                    audio_condition = _continued_sound(pipe, previous_latents, before.frames - overlap, segment, output.fps)
                rendered = generate_shot(
                    pipe, _segment_as_shot(shot, segment), plan.model, output, upsample_pipe,
                    _control_slice(control, segment.start, segment.frames), memory, condition,
                    on_step=part_steps(on_step, segment.index, len(shot.segments)), audio_condition=audio_condition,
                )
                found = Segment(rendered.frames, rendered.audio, rendered.audio_latents)
                if reference is not None:
                    match_colour(found.frames, reference)
                generated = time.perf_counter()
                save_segment(found, film_dir, segment, output.fps)
                log.info("%s: %d frames in %.1fs, cached in %.1fs", label, len(found.frames), generated - start,
                         time.perf_counter() - generated)
            frames = found.frames
            if reference is None:
                reference = colour_stats(frames)
            if tail is not None:
                frames[:overlap] = crossfade(tail, frames[:overlap])
            if sound is not None:
                sound.add(found.audio, segment.start, segment.frames, last=segment is shot.segments[-1])
            if segment is shot.segments[-1]:
                writer.write(frames)
            else:
                writer.write(frames[:-overlap])
                tail = frames[-overlap:].copy()  # a copy, so the rest of the segment can be freed
            previous_latents = found.audio_latents
            if with_sound:
                # Its tokens from where it starts: its held ones are the previous segment's, so nothing is lost.
                offset = ltx2.audio_tokens(pipe, segment.start, output.fps)
                earlier = take_latents[:offset] if take_latents is not None else previous_latents[:0]
                take_latents = np.concatenate([earlier, found.audio_latents])
        if writer.frames_written != shot.frames:
            raise RuntimeError(f"long take {shot.id} came to {writer.frames_written} frames, the plan says {shot.frames}")
        # The sound is muxed under the frames when the writer closes: silent for a muted take, so the film's
        # sound stays continuous across it.
        if plan.audio == "generate":
            writer.audio = Audio.silence() if shot.mute else sound.track()
    if take_latents is not None:
        # As for a plain shot: the take's sound latents beside its clip, as many tokens as its frames have.
        tokens = ltx2.audio_tokens(pipe, shot.frames, output.fps)
        fitted = np.zeros((tokens, take_latents.shape[1]), dtype=np.float32)
        fitted[: min(tokens, len(take_latents))] = take_latents[:tokens]
        write_array_atomic(fitted, audio_latents_path(clip))
    remove_stale_segments(shot, film_dir)
    return clip


class TakeSound:
    """A long take's sound, put together segment by segment, sample-exact with its picture.

    Segment k's sound is cut or padded (with silence, at its end) to exactly its frames: it starts at
    sample round(start * rate / fps) of the take, where its first frame starts. Over the `overlap` frames
    it shares with the segment before, the two sounds crossfade (`seams.crossfade_sound`) over exactly the
    samples those frames last, so the track is continuous and as long as the take's frames. The whole
    track is kept (sound is small: 24 kHz stereo float32 is about 0.7 MB a second, 48 kHz twice that).
    """

    def __init__(self, fps: int, overlap: int):
        self.fps, self.overlap = fps, overlap
        self.rate: int | None = None
        self.pieces: list[np.ndarray] = []
        self.tail: np.ndarray | None = None  # the last segment's overlap samples, not laid down yet

    def _sample(self, frame: int) -> int:
        return round(frame * self.rate / self.fps)

    def add(self, audio: Audio, start: int, frames: int, last: bool) -> None:
        if self.rate is None:
            self.rate = audio.rate
        if audio.rate != self.rate:
            raise ValueError(f"a long take's segments came with sound at {self.rate} and {audio.rate} Hz")
        length = self._sample(start + frames) - self._sample(start)
        samples = np.zeros((audio.samples.shape[0], length), dtype=np.float32)
        samples[:, : min(length, audio.samples.shape[1])] = audio.samples[:, :length]
        if self.tail is not None:
            shared = self.tail.shape[1]
            samples[:, :shared] = crossfade_sound(self.tail, samples[:, :shared])
        if last:
            self.pieces.append(samples)
            self.tail = None
            return
        shared = length - (self._sample(start + frames - self.overlap) - self._sample(start))
        self.pieces.append(samples[:, :-shared])
        self.tail = samples[:, -shared:]

    def track(self) -> Audio:
        return Audio(np.concatenate(self.pieces, axis=1), self.rate)


def _continued_sound(
    pipe, previous_latents: np.ndarray, overlap_start: int, segment: SegmentPlan, fps: int
) -> ltx2.AudioCondition:
    """The audio condition that continues the previous segment's sound: its audio latents from where the
    overlap starts (its frame `overlap_start`: token round(overlap_start / fps * 25), as the pipeline counts
    tokens) to its end, held as the first tokens of this segment, with the strength its picture's tail has.

    Audio tokens last 40 ms and frames do not line up with them, so the held sound can sit up to half a
    token (20 ms) off the overlap's frames; the crossfade over the overlap covers it.
    """
    latents = torch.from_numpy(previous_latents)
    first = ltx2.audio_tokens(pipe, overlap_start, fps)
    tokens = ltx2.audio_tokens(pipe, segment.frames, fps)
    held = latents[first:][:tokens]
    values = torch.zeros(tokens, latents.shape[1])
    values[: len(held)] = held
    hold = torch.zeros(tokens)
    hold[: len(held)] = segment.condition.strength
    return ltx2.AudioCondition(latents=values, hold=hold)


def part_steps(on_step: Callable[[int, int], None] | None, index: int, count: int):
    """`on_step` for part `index` of `count` generations (a long take's segments, a shot's retake stages): its steps
    continue the count of the parts before it, each part an equal share, so progress never goes back."""
    if on_step is None:
        return None
    return lambda done, total: on_step(index * total + done, count * total)
