"""Long takes: a shot longer than one window, rendered segment by segment into one clip.

Each segment is cached under the film's folder as it finishes (`segments.py`: lossless, with a record holding its
sha256), so a re-run renders only the segments that are missing, changed or damaged; `force` renders every one
again. A segment rendered now joins the take from memory (never encoded and decoded back); a cached one decodes to
exactly the same frames. The clip is written as segments come in: memory holds one segment and the take's tail,
however long the take is. `on_step(done, total)` counts denoising steps across the whole take; a cached segment's
steps count as done when the next one reports.

Each segment after the first continues the take's last `overlap` frames (held as its first frames) and is pulled
toward the first segment's colours; the overlap crossfades (`seams.crossfade`). LTX-2 takes carry their sound too:
each segment after the first holds the previous one's audio latents over the overlap as the start of its own sound
(`continued_sound`), and the sound crossfades over the overlap exactly where the picture does (`TakeSound`). The
segment's sound and audio latents are cached with it. Every LTX-2 take renders so, whatever the film does with its
sound, so the cached segments stay the same take when `mute` or `output.audio` change.
"""

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..files import write_array_atomic
from ..layout import audio_latents_path
from ..media.write import ClipWriter
from ..models import ltx2
from ..plan.memory import MemorySettings
from ..plan.planner import RenderPlan, SegmentPlan, ShotPlan
from .generate import Models, PreparedControl, control_slice, generate_shot, load_models
from .progress import part_steps
from .seams import colour_stats, crossfade, match_colour
from .segments import Segment, discard_segment, load_segment, remove_stale_segments, save_segment
from .sound import TakeSound, clip_sound, stage_sound
from .voice import segment_voice_line

log = logging.getLogger(__name__)


def segment_as_shot(shot: ShotPlan, segment: SegmentPlan) -> ShotPlan:
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
    as_stage: bool = False,
) -> Path:
    """Render a long take segment by segment into one clip (see the module's docstring); returns the clip path.
    `as_stage`: the shot's own render that retakes build on (its sound before its line: `sound.stage_sound`)."""
    models = load_models(plan, shot)
    output = plan.output
    take = _Take(shot, models.pipe, output.fps, with_sound=plan.model.family == "ltx2")
    clip = film_dir / shot.clip
    with ClipWriter(clip, width=output.width, height=output.height, fps=output.fps, crf=output.crf) as writer:
        for segment in shot.segments:
            label = f"segment {segment.index + 1}/{len(shot.segments)} of {shot.id}"
            if force:
                discard_segment(film_dir, segment)
            found = load_segment(film_dir, segment, label, sound=take.sound is not None)
            if found is None:
                found = _render_segment(plan, shot, segment, film_dir, take, models, memory,
                                        control_slice(control, segment.start, segment.frames),
                                        part_steps(on_step, segment.index, len(shot.segments)), label)
            writer.write(take.join(found, segment))
        if writer.frames_written != shot.frames:
            raise RuntimeError(f"long take {shot.id} came to {writer.frames_written} frames, the plan says {shot.frames}")
        # The sound is muxed under the frames when the writer closes (see `generate.clip_sound`).
        if plan.audio == "generate" or plan.voiced:
            sound = stage_sound if as_stage else clip_sound
            writer.audio = sound(plan, shot, None if shot.mute or take.sound is None else take.sound.track())
    if take.latents is not None:
        # As for a plain shot: the take's sound latents beside its clip, as many tokens as its frames have.
        write_array_atomic(take.fitted_latents(), audio_latents_path(clip))
    remove_stale_segments(shot, film_dir)
    return clip


def _render_segment(
    plan: RenderPlan, shot: ShotPlan, segment: SegmentPlan, film_dir: Path, take: "_Take", models: Models,
    memory: MemorySettings | None, control: ltx2.Control | None, on_step, label: str,
) -> Segment:
    """Generate one segment, continuing the take so far, pull it toward the take's colours and cache it."""
    start = time.perf_counter()
    rendered = generate_shot(
        models.pipe, segment_as_shot(shot, segment), plan.model, plan.output, models.upsampler, control, memory,
        take.condition(segment), on_step=on_step, audio_condition=take.audio_condition(segment),
        calls=plan.calls, storyboard=plan.name,
        voice=segment_voice_line(shot, segment.start, segment.frames, plan.output.fps), temporal_pipe=models.temporal,
    )
    found = Segment(rendered.frames, rendered.audio, rendered.audio_latents)
    if take.reference is not None:
        match_colour(found.frames, take.reference)
    generated = time.perf_counter()
    save_segment(found, film_dir, segment, plan.output.fps)
    log.info("%s: %d frames in %.1fs, cached in %.1fs", label, len(found.frames), generated - start,
             time.perf_counter() - generated)
    return found


class _Take:
    """What a long take carries from one segment to the next while its clip is written."""

    def __init__(self, shot: ShotPlan, pipe, fps: int, with_sound: bool):
        self.shot, self.pipe, self.fps, self.overlap = shot, pipe, fps, shot.overlap
        self.sound = TakeSound(fps, shot.overlap) if with_sound else None
        self.reference = None  # the first segment's colours, which later segments are pulled toward
        self.tail = None  # the take's last `overlap` frames: not written yet, the next segment blends over them
        self.previous_latents = None  # the audio latents of the segment before (LTX-2), which the next continues
        self.latents = None  # the take's audio latents so far (LTX-2): each segment's, from its first token on

    def condition(self, segment: SegmentPlan) -> tuple[np.ndarray, float] | None:
        """The take's tail, which `segment` starts from, and how strongly it holds it."""
        return (self.tail, segment.condition.strength) if self.tail is not None else None

    def audio_condition(self, segment: SegmentPlan) -> "ltx2.AudioCondition | None":
        if self.previous_latents is None:
            return None
        before = self.shot.segments[segment.index - 1]
        return continued_sound(self.pipe, self.previous_latents, before.frames - self.overlap, segment, self.fps)

    def join(self, found: Segment, segment: SegmentPlan) -> np.ndarray:
        """Add a finished segment to the take; returns its frames to write now (all but the new tail)."""
        last = segment is self.shot.segments[-1]
        frames = found.frames
        if self.reference is None:
            self.reference = colour_stats(frames)
        if self.tail is not None:
            frames[: self.overlap] = crossfade(self.tail, frames[: self.overlap])
        if self.sound is not None:
            self.sound.add(found.audio, segment.start, segment.frames, last=last)
        if not last:
            self.tail = frames[-self.overlap :].copy()  # a copy, so the rest of the segment can be freed
            frames = frames[: -self.overlap]
        self.previous_latents = found.audio_latents
        if self.sound is not None:
            # Its tokens from where it starts: its held ones are the previous segment's, so nothing is lost.
            offset = ltx2.audio_tokens(self.pipe, segment.start, self.fps)
            earlier = self.latents[:offset] if self.latents is not None else self.previous_latents[:0]
            self.latents = np.concatenate([earlier, found.audio_latents])
        return frames

    def fitted_latents(self) -> np.ndarray:
        """The take's sound latents, as many tokens as its frames have."""
        tokens = ltx2.audio_tokens(self.pipe, self.shot.frames, self.fps)
        fitted = np.zeros((tokens, self.latents.shape[1]), dtype=np.float32)
        fitted[: min(tokens, len(self.latents))] = self.latents[:tokens]
        return fitted


def continued_sound(
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
