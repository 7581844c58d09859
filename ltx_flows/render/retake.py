"""Retakes: regenerate one moment of a finished shot and put it back.

A retake of shot frames [start, end) renders a short clip around its window (`frames.retake_layout`): up to 17
frames on each side, read from the shot as the retakes before it left it, are held clean as conditions, so the
new moment starts from the motion before it and lands on the motion after it; the frames between them are
generated from the retake's prompt and seed. Only the window and a few frames at each edge go back into the shot,
the edge frames crossfaded (`seams.crossfade`) from the old take into the new one and back; every other frame is
the frame it was, and the shot keeps its length.

Why held frames rather than re-noising the whole clip (an edit at partial denoise strength): re-noising changes
every frame a little and the window only a little; held frames keep the sides exactly and free the window fully.
diffusers 0.42.1's condition pipelines take held frames as they come (see `ltxv.conditions` and
`ltx2._conditions`): frames at the clip's start replace its first latents; frames further on are appended as clean
tokens at their position (LTX-Video also lays their later latents in place), so the layout puts them where the
family's latent grid lines up.

Every stage is cached in `retakes/<shot>/`: `base-<hash>.mp4` is the shot's own render as `render_shot` writes
it, `NN-<hash>.mp4` the shot after retake NN (lossless RGB like the segment cache, so a chain of retakes never
re-encodes the frames outside its windows), each with a record beside it (`records.py`). The hashes chain
(`plan._plan_retakes`), so adding a retake renders only its window, and `shot.restore_kept` brings back the
stage a plan asks for without a render (removing a retake brings back the shot before it). The shot clip
`shots/<id>.mp4` is the last stage encoded at the film's crf.

No torch at import: the model is reached (through `generate`) only when a window renders. The shot's own render
is made by the caller's `render_own` (a plain shot or a long take: `shot.render_shot` decides).
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..files import write_array_atomic
from ..layout import FilmFolder, audio_latents_path, base_clip_name
from ..media.audio import Audio, read_audio
from ..media.read import iter_frames, read_frames
from ..media.write import ClipWriter
from ..plan.memory import MemorySettings
from ..plan.planner import RenderPlan, RetakePlan, ShotPlan
from .progress import part_steps
from .records import STAGE_RECORD_KEYS, cached_record, discard, read_array, remove_stale, write_clip_record
from .seams import crossfade
from .sound import clip_sound
from .voice import voice_slice

log = logging.getLogger(__name__)


def base_clip(shot: ShotPlan) -> str:
    """Where the shot's own render (before any retake) is kept, relative to the storyboard's output folder."""
    return base_clip_name(shot.id, shot.base_hash or shot.content_hash)


def render_retaken(
    plan: RenderPlan,
    shot: ShotPlan,
    film_dir: Path,
    render_own: Callable[[ShotPlan, Callable[[int, int], None] | None], Path],
    memory: MemorySettings | None = None,
    on_step: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Render a shot with retakes: its own render (kept, or rendered now), each retake on top of the one before
    (kept, or rendered now), then the shot clip; returns the clip path. `force` renders every stage again.

    `render_own(own, on_step)` renders `own`, the shot without its retakes, to its clip (`own.clip`, the kept
    render's place)."""
    parts = 1 + len(shot.retakes)  # generations: the shot's own render, then each retake (a cached one's steps are done)
    base = film_dir / base_clip(shot)
    if force or cached_record(base, shot.base_hash, shot.frames, keys=STAGE_RECORD_KEYS) is None:
        discard(base)
        own = shot.model_copy(update={
            "retakes": [], "base_hash": None, "content_hash": shot.base_hash, "clip": base_clip(shot),
        })
        render_own(own, part_steps(on_step, 0, parts))
        write_clip_record(base, shot.base_hash)
    else:
        log.info("Shot %s: its render before retakes is cached in %s", shot.id, base_clip(shot))
    previous = base
    for retake in shot.retakes:
        stage = film_dir / retake.cache
        label = f"retake {retake.index + 1}/{len(shot.retakes)} of {shot.id} (frames {retake.start}-{retake.end - 1})"
        if force or cached_record(stage, retake.content_hash, shot.frames, keys=STAGE_RECORD_KEYS) is None:
            discard(stage)
            start = time.perf_counter()
            apply_retake(plan, shot, retake, film_dir, previous, memory, part_steps(on_step, retake.index + 1, parts))
            write_clip_record(stage, retake.content_hash)
            log.info("%s: rendered in %.1fs", label, time.perf_counter() - start)
        else:
            log.info("%s: cached in %s", label, retake.cache)
        previous = stage
    clip = film_dir / shot.clip
    encode_shot(plan, shot, previous, clip)
    remove_stale_stages(shot, film_dir)
    return clip


def apply_retake(
    plan: RenderPlan,
    shot: ShotPlan,
    retake: RetakePlan,
    film_dir: Path,
    previous: Path,
    memory: MemorySettings | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> None:
    """Generate `retake`'s clip around its window, conditioned on the frames of `previous` around it, and write
    `previous` with the window replaced to the retake's stage (lossless). Memory holds the retake's clip, not the
    shot.

    LTX-2 with `retake.sound`: the audio tokens of `previous` (its `.audio.npy`) outside the window and its blends
    are held too, so the new sound continues the old; then the window's sound goes back into the track with short
    crossfades (`splice_sound`) and its tokens into the stage's `.audio.npy`, for the next retake to hold.
    """
    from .generate import generate_window
    from ..models.ltxv import Held

    old = read_frames(previous, retake.clip_start, retake.clip_frames)
    if len(old) != retake.clip_frames:
        raise RuntimeError(f"{previous} ends before frame {retake.clip_start + retake.clip_frames - 1}, which a retake needs")
    held = [
        Held(frames=old[h.first_frame - retake.clip_start : h.last_frame + 1 - retake.clip_start], at=h.at)
        for h in retake.held
    ]
    window_shot = shot.model_copy(update={
        "prompt": retake.prompt, "seed": retake.seed, "frames": retake.clip_frames, "keyframes": retake.keyframes,
        "content_hash": retake.content_hash, "segments": [], "retakes": [], "base_hash": None,
    })
    sound = _SoundHold.of(plan, shot, retake, previous) if retake.sound else None
    condition = sound.condition() if sound is not None else None
    # Dubbing: the window is regenerated to the retake's line; in a voiced shot, to the shot's own line.
    line = retake.voice or shot.voice
    voice = voice_slice(line, shot.frames, retake.clip_start, retake.clip_frames, plan.output.fps) if line else None
    new = generate_window(plan, shot, window_shot, retake.clip_start, film_dir, held, memory, on_step, condition,
                          voice=voice)
    if new.frames.shape != old.shape:
        raise RuntimeError(f"retake of {shot.id} came out {new.frames.shape}, the frames it replaces are {old.shape}")
    replaced = splice_window(old, new.frames, retake)
    audio = read_audio(previous)
    latents_file = audio_latents_path(previous)
    latents = read_array(latents_file) if latents_file.is_file() else None
    if retake.sound and new.audio is not None and audio is not None:
        fps = plan.output.fps
        audio = splice_sound(audio, new.audio, retake.clip_start / fps, retake.blend_start / fps,
                             retake.start / fps, retake.end / fps, retake.blend_end / fps)
        if sound is not None and new.audio_latents is not None:
            latents = sound.splice(latents, new.audio_latents)
    output = plan.output
    with ClipWriter(film_dir / retake.cache, width=output.width, height=output.height, fps=output.fps, audio=audio, lossless=True) as writer:
        for index, frame in enumerate(iter_frames(previous)):
            if retake.blend_start <= index < retake.blend_end:
                frame = replaced[index - retake.blend_start]
            writer.write(frame)
        if writer.frames_written != shot.frames:
            raise RuntimeError(f"{previous} has {writer.frames_written} frames, the plan says {shot.frames}")
    if latents is not None:
        write_array_atomic(latents.astype(np.float32), audio_latents_path(film_dir / retake.cache))


@dataclass(frozen=True)
class _SoundHold:
    """The audio tokens of the shot as `previous` left them, and which of the retake's clip to hold (all but those
    under the window and its blends). Tokens are 25 a second (`ltx2.audio_tokens` counts them)."""

    latents: np.ndarray  # the retake clip's tokens, (tokens, features)
    offset: int  # its first token in the shot's
    first: int  # generated tokens [first, last) of the clip's
    last: int

    @classmethod
    def of(cls, plan: RenderPlan, shot: ShotPlan, retake: RetakePlan, previous: Path) -> "_SoundHold | None":
        from ..models.loading import load_pipeline
        from ..models.ltx2 import audio_tokens

        path = audio_latents_path(previous)
        if not path.is_file():
            # E.g. a clip rendered by an older ltx-flows: the window's sound is generated free and spliced in;
            # the sound outside it is kept all the same.
            log.info("Retake of %s: no audio latents beside %s; its sound is not held", shot.id, previous.name)
            return None
        pipe, fps = load_pipeline(plan.model), plan.output.fps
        shot_latents = read_array(path)
        if len(shot_latents) != audio_tokens(pipe, shot.frames, fps):
            log.warning("Retake of %s: %s does not match the shot's length; its sound is not held", shot.id, path.name)
            return None
        offset, count = audio_tokens(pipe, retake.clip_start, fps), audio_tokens(pipe, retake.clip_frames, fps)
        clip = shot_latents[offset : offset + count]
        if len(clip) < count:  # rounding at the shot's end: repeat its last token
            clip = np.concatenate([clip, np.repeat(clip[-1:], count - len(clip), axis=0)])
        # Counted from the shot's start, as the shot's tokens are, so the same frame always maps to the same token.
        first = audio_tokens(pipe, retake.blend_start, fps) - offset
        last = min(audio_tokens(pipe, retake.blend_end, fps) - offset, count)
        return cls(latents=clip, offset=offset, first=first, last=last)

    def condition(self):
        import torch

        from ..models.ltx2 import AudioCondition

        hold = torch.ones(len(self.latents))
        hold[self.first : self.last] = 0
        return AudioCondition(latents=torch.from_numpy(self.latents.astype(np.float32)), hold=hold)

    def splice(self, shot_latents: np.ndarray, generated: np.ndarray) -> np.ndarray:
        """The shot's tokens with the generated ones of the window put in."""
        out = shot_latents.copy()
        end = min(self.offset + self.last, len(out))
        out[self.offset + self.first : end] = generated[self.first : end - self.offset]
        return out


def splice_window(old: np.ndarray, new: np.ndarray, retake: RetakePlan) -> np.ndarray:
    """The frames that go back into the shot, [blend_start, blend_end): the window from `new`, and at each edge the
    frames between the window and the old take crossfaded from old into new (before it) and new into old (after).

    `old` and `new` are the retake's clip as it was and as generated, both (clip_frames, H, W, 3) uint8.
    """
    first = retake.blend_start - retake.clip_start
    last = retake.blend_end - retake.clip_start
    out = new[first:last].copy()
    lead, trail = retake.start - retake.blend_start, retake.blend_end - retake.end
    if lead:
        out[:lead] = crossfade(old[first : first + lead], new[first : first + lead])
    if trail:
        out[-trail:] = crossfade(new[last - trail : last], old[last - trail : last])
    return out


def splice_sound(old: Audio, new: Audio, clip_start: float, blend_start: float, start: float, end: float,
                 blend_end: float) -> Audio:
    """`old` (the shot's track) with [blend_start, blend_end) seconds taken from `new` (the retake clip's sound, which
    starts at `clip_start`): linear crossfades from old into new over [blend_start, start) and back over [end,
    blend_end), aligned with the picture's blends; everything else is `old` sample for sample."""
    rate = old.rate
    samples = _resampled(new, rate)
    if samples.shape[0] != old.samples.shape[0]:  # mono into stereo, or the other way
        samples = np.broadcast_to(samples.mean(axis=0, keepdims=True), (old.samples.shape[0], samples.shape[1]))
    out = np.array(old.samples, dtype=np.float32, copy=True)
    a, s, e, b = (min(round(t * rate), out.shape[1]) for t in (blend_start, start, end, blend_end))
    offset = round(clip_start * rate)
    piece = np.zeros((out.shape[0], b - a), dtype=np.float32)
    available = samples[:, max(a - offset, 0) : b - offset]
    piece[:, : available.shape[1]] = available
    weights = np.ones(b - a, dtype=np.float32)  # of the new sound
    weights[: s - a] = np.linspace(0.0, 1.0, s - a + 2, dtype=np.float32)[1:-1]
    weights[e - a :] = np.linspace(1.0, 0.0, b - e + 2, dtype=np.float32)[1:-1]
    out[:, a:b] = weights * piece + (1 - weights) * out[:, a:b]
    return Audio(out, rate)


def _resampled(audio: Audio, rate: int) -> np.ndarray:
    """`audio`'s samples at `rate` (linear interpolation: the window is short, and its edges are crossfaded)."""
    samples = np.atleast_2d(np.asarray(audio.samples, dtype=np.float32))
    if audio.rate == rate:
        return samples
    count = round(samples.shape[1] * rate / audio.rate)
    times = np.arange(count) / rate
    source = np.arange(samples.shape[1]) / audio.rate
    return np.stack([np.interp(times, source, channel) for channel in samples]).astype(np.float32)


def encode_shot(plan: RenderPlan, shot: ShotPlan, stage: Path, clip: Path) -> None:
    """The shot clip from its last stage: frames streamed, encoded at the film's crf, its sound (if any) under it."""
    output = plan.output
    audio = clip_sound(plan, shot, read_audio(stage) if plan.audio == "generate" else None)
    clip.parent.mkdir(parents=True, exist_ok=True)
    with ClipWriter(clip, width=output.width, height=output.height, fps=output.fps, crf=output.crf, audio=audio) as writer:
        for frame in iter_frames(stage):
            writer.write(frame)


def remove_stale_stages(shot: ShotPlan, film_dir: Path) -> None:
    """Delete stages of earlier versions of this shot's retakes; the current ones and its own render stay."""
    remove_stale(FilmFolder(film_dir).retakes(shot.id), [Path(base_clip(shot)).name, *(Path(r.cache).name for r in shot.retakes)])

