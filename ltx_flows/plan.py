"""Plan: a pure function from a validated storyboard to what will be rendered.

Everything downstream (generation, stitching, the manifest) reads the plan, never
the storyboard, so what `ltx-flows plan` prints is exactly what renders.
"""

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .frames import derive_seed, ltx2_anchor_frame, ltx2_latent_index, resolve_position, seconds_to_frames, snap_frames
from .storyboard import (
    Keyframe,
    ModelConfig,
    OutputConfig,
    Storyboard,
    default_control_lora,
    default_upsampler,
    film_audio,
)

# Bump when a change in ltx-flows changes the pixels of a shot with the same inputs,
# so content hashes (and caches keyed on them) move too.
RENDER_VERSION = 1

# Model settings that change pixels; device, offload and tiling only change speed and memory.
_PIXEL_MODEL_FIELDS = (
    "family", "checkpoint", "steps", "sigmas", "guidance_scale", "decode_timestep", "decode_noise_scale", "dtype",
    "two_pass", "refine_sigmas",
)


class KeyframePlan(BaseModel):
    image: Path
    frame: int
    # LTX-2 conditions on latent indices: the index used, and the frame it puts the image at.
    latent_index: int | None = None
    model_frame: int
    strength: float
    sha256: str


class ControlPlan(BaseModel):
    kind: Literal["depth", "pose", "canny"]
    source: Path
    source_sha256: str
    strength: float
    lora: str  # `tiny`, a hub id or a local file
    reference_downscale: int | None  # None: read from the LoRA file
    video: str  # the control video, relative to the storyboard's output folder


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
    control: ControlPlan | None
    mute: bool
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
    upsampler: str | None  # two-pass only
    audio: Literal["none", "generate", "bed"]
    audio_bed: Path | None
    audio_bed_sha256: str | None
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
    audio = film_audio(storyboard)
    bed = audio if isinstance(audio, Path) else None
    upsampler = default_upsampler(storyboard.model) if storyboard.model.two_pass else None
    shots = []
    for index, shot in enumerate(storyboard.shots):
        requested = shot.requested_frames(fps)
        frames = snap_frames(requested)
        keyframes = [_keyframe(keyframe, storyboard.model.family, fps, frames) for keyframe in shot.keyframes]
        control = None
        if shot.control is not None:
            control = ControlPlan(
                kind=shot.control.kind,
                source=shot.control.source,
                source_sha256=file_sha256(shot.control.source),
                strength=shot.control.strength,
                lora=default_control_lora(storyboard.model, shot.control),
                reference_downscale=shot.control.reference_downscale,
                video=f"controls/{shot.id}-{shot.control.kind}.mp4",
            )
        # What sound the clip carries: the shot's own, silence (a muted shot keeps the track going), or none.
        sound = ("silent" if shot.mute else "generate") if audio == "generate" else "none"
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
                control=control,
                mute=shot.mute,
                transition=shot.transition.kind,
                crossfade_frames=crossfade,
                content_hash=_content_hash(
                    storyboard.model, storyboard.output, upsampler, shot.prompt, negative_prompt, seed, frames,
                    keyframes, control, sound,
                ),
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
        upsampler=upsampler,
        audio="bed" if bed else audio,
        audio_bed=bed,
        audio_bed_sha256=file_sha256(bed) if bed else None,
        shots=shots,
        film_frames=film_frames,
        film_seconds=film_frames / fps,
    )


def _keyframe(keyframe: Keyframe, family: str, fps: int, frames: int) -> KeyframePlan:
    frame = resolve_position(keyframe.at, fps, frames)
    latent_index = ltx2_latent_index(frame, frames) if family == "ltx2" else None
    return KeyframePlan(
        image=keyframe.image,
        frame=frame,
        latent_index=latent_index,
        model_frame=ltx2_anchor_frame(latent_index) if latent_index is not None else frame,
        strength=keyframe.strength,
        sha256=file_sha256(keyframe.image),
    )


def _content_hash(
    model: ModelConfig,
    output: OutputConfig,
    upsampler: str | None,
    prompt: str,
    negative_prompt: str,
    seed: int,
    frames: int,
    keyframes: list[KeyframePlan],
    control: ControlPlan | None,
    sound: str,
) -> str:
    """A hash of everything that affects a shot clip's pixels and sound (and nothing that does not, like its id)."""
    inputs = {
        "render_version": RENDER_VERSION,
        "model": {field: getattr(model, field) for field in _PIXEL_MODEL_FIELDS},
        "upsampler": upsampler,
        # Size, fps (LTX's rope uses the frame rate) and crf; a music bed goes under the film, not into clips.
        "output": output.model_dump(exclude={"audio"}),
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "frames": frames,
        "keyframes": [{"sha256": k.sha256, "frame": k.frame, "strength": k.strength} for k in keyframes],
        "control": control.model_dump(exclude={"source", "video"}, mode="json") if control else None,
        "sound": sound,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
