"""Plan: a pure function from a validated storyboard to what will be rendered.

Everything downstream (generation, stitching, the manifest) reads the plan, never
the storyboard, so what `ltx-flows plan` prints is exactly what renders.
"""

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .frames import derive_seed, resolve_position, seconds_to_frames, snap_frames, split_take
from .storyboard import ModelConfig, OutputConfig, Segments, Shot, Storyboard

# Bump when a change in ltx-flows changes the pixels of a shot with the same inputs,
# so content hashes (and caches keyed on them) move too.
RENDER_VERSION = 1

# Model settings that change pixels; device, offload and tiling only change speed and memory.
_PIXEL_MODEL_FIELDS = ("family", "checkpoint", "steps", "guidance_scale", "decode_timestep", "decode_noise_scale", "dtype")


class KeyframePlan(BaseModel):
    image: Path
    frame: int
    strength: float
    sha256: str


class TailCondition(BaseModel):
    """What a segment continues: shot frames `first_frame`..`last_frame` of the take so far, at its frame 0."""

    first_frame: int
    last_frame: int
    strength: float


class SegmentPlan(BaseModel):
    index: int
    start: int  # its first frame in the shot
    frames: int
    prompt: str
    seed: int
    keyframes: list[KeyframePlan]  # `frame` is local to the segment
    condition: TailCondition | None  # None for the first segment
    content_hash: str  # chained: covers every segment before it
    cache: str  # relative to the storyboard's output folder


class ShotPlan(BaseModel):
    index: int
    id: str
    prompt: str
    negative_prompt: str
    seed: int
    requested_frames: int
    frames: int
    seconds: float
    keyframes: list[KeyframePlan]
    transition: Literal["cut", "crossfade"]
    crossfade_frames: int  # into the next shot; 0 for a cut
    content_hash: str
    clip: str  # relative to the storyboard's output folder
    # A long take: chained segments sharing `overlap` frames. Empty for a shot that fits one window.
    overlap: int = 0
    segments: list[SegmentPlan] = []


class RenderPlan(BaseModel):
    name: str
    storyboard: Path
    storyboard_sha256: str
    model: ModelConfig
    output: OutputConfig
    shots: list[ShotPlan]
    film_frames: int
    film_seconds: float

    def shot(self, shot_id: str) -> ShotPlan:
        return next(s for s in self.shots if s.id == shot_id)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_storyboard(storyboard: Storyboard, source: Path) -> RenderPlan:
    """Turn a validated storyboard (read from `source`) into a render plan."""
    fps = storyboard.output.fps
    shots = []
    for index, shot in enumerate(storyboard.shots):
        requested = shot.requested_frames(fps)
        frames = snap_frames(requested)
        keyframes = [
            KeyframePlan(
                image=keyframe.image,
                frame=resolve_position(keyframe.at, fps, frames),
                strength=keyframe.strength,
                sha256=file_sha256(keyframe.image),
            )
            for keyframe in shot.keyframes
        ]
        crossfade = seconds_to_frames(shot.transition.seconds, fps) if shot.transition.kind == "crossfade" else 0
        seed = shot.seed if shot.seed is not None else derive_seed(storyboard.defaults.seed, shot.id)
        negative_prompt = shot.negative_prompt if shot.negative_prompt is not None else storyboard.defaults.negative_prompt
        prompt = shot.prompt
        layout = shot.segment_layout(storyboard.model.family, frames)
        overlap, segments = 0, []
        if layout is not None:
            overlap = layout[1]
            segments = _plan_segments(storyboard, shot, frames, layout, seed, negative_prompt, keyframes)
        if len(segments) == 1:  # `segments` was given but the shot fits one of them: a plain shot
            prompt, overlap, segments = segments[0].prompt, 0, []
        content_hash = _content_hash(storyboard.model, storyboard.output, prompt, negative_prompt, seed, frames, keyframes)
        shots.append(
            ShotPlan(
                index=index,
                id=shot.id,
                prompt=prompt,
                negative_prompt=negative_prompt,
                seed=seed,
                requested_frames=requested,
                frames=frames,
                seconds=frames / fps,
                keyframes=keyframes,
                transition=shot.transition.kind,
                crossfade_frames=crossfade,
                # The last segment's hash is chained through every segment, so it covers the whole take.
                content_hash=segments[-1].content_hash if segments else content_hash,
                clip=f"shots/{shot.id}.mp4",
                overlap=overlap,
                segments=segments,
            )
        )
    film_frames = sum(s.frames for s in shots) - sum(s.crossfade_frames for s in shots)
    return RenderPlan(
        name=storyboard.name,
        storyboard=source.resolve(),
        storyboard_sha256=file_sha256(source),
        model=storyboard.model,
        output=storyboard.output,
        shots=shots,
        film_frames=film_frames,
        film_seconds=film_frames / fps,
    )


def _plan_segments(
    storyboard: Storyboard,
    shot: Shot,
    frames: int,
    layout: tuple[int, int],
    seed: int,
    negative_prompt: str,
    keyframes: list[KeyframePlan],
) -> list[SegmentPlan]:
    """The chained segments of a long take: frame ranges, prompts, seeds, local keyframes and chained hashes."""
    size, overlap = layout
    ranges = split_take(frames, size, overlap)
    options = shot.segments or Segments()
    prompts = options.prompts or [shot.prompt] * len(ranges)
    segments: list[SegmentPlan] = []
    for index, ((start, length), prompt) in enumerate(zip(ranges, prompts)):
        # A keyframe in an overlap goes to the earlier segment: the later one inherits it through the tail.
        claimed = segments[-1].start + segments[-1].frames if segments else 0
        local = [
            k.model_copy(update={"frame": k.frame - start}) for k in keyframes if claimed <= k.frame < start + length
        ]
        condition = (
            TailCondition(first_frame=start, last_frame=start + overlap - 1, strength=options.strength) if segments else None
        )
        segment_seed = derive_seed(seed, "segment", index)
        window_hash = _content_hash(storyboard.model, storyboard.output, prompt, negative_prompt, segment_seed, length, local)
        chained = {
            "segment": window_hash,
            "previous": segments[-1].content_hash if segments else None,
            "condition": condition.model_dump() if condition else None,
        }
        content_hash = hashlib.sha256(json.dumps(chained, sort_keys=True).encode()).hexdigest()
        segments.append(
            SegmentPlan(
                index=index,
                start=start,
                frames=length,
                prompt=prompt,
                seed=segment_seed,
                keyframes=local,
                condition=condition,
                content_hash=content_hash,
                cache=f"segments/{shot.id}/{index:02d}-{content_hash[:16]}.mp4",
            )
        )
    return segments


def _content_hash(
    model: ModelConfig,
    output: OutputConfig,
    prompt: str,
    negative_prompt: str,
    seed: int,
    frames: int,
    keyframes: list[KeyframePlan],
) -> str:
    """A hash of everything that affects a shot clip's pixels (and nothing that does not, like its id)."""
    inputs = {
        "render_version": RENDER_VERSION,
        "model": {field: getattr(model, field) for field in _PIXEL_MODEL_FIELDS},
        "output": output.model_dump(),  # size, fps (LTX's rope uses the frame rate) and crf
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "frames": frames,
        "keyframes": [{"sha256": k.sha256, "frame": k.frame, "strength": k.strength} for k in keyframes],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
