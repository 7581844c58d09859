"""Plan: a pure function from a validated storyboard to what will be rendered.

Everything downstream (generation, stitching, the manifest) reads the plan, never
the storyboard, so what `ltx-flows plan` prints is exactly what renders.
"""

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .frames import derive_seed, resolve_position, seconds_to_frames, snap_frames
from .storyboard import ModelConfig, OutputConfig, Storyboard

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
        shots.append(
            ShotPlan(
                index=index,
                id=shot.id,
                prompt=shot.prompt,
                negative_prompt=negative_prompt,
                seed=seed,
                requested_frames=requested,
                frames=frames,
                seconds=frames / fps,
                keyframes=keyframes,
                transition=shot.transition.kind,
                crossfade_frames=crossfade,
                content_hash=_content_hash(storyboard.model, storyboard.output, shot.prompt, negative_prompt, seed, frames, keyframes),
                clip=f"shots/{shot.id}.mp4",
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
