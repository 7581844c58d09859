"""Plan: a pure function from a validated storyboard to what will be rendered.

Everything downstream (generation, stitching, the manifest) reads the plan, never
the storyboard, so what `ltx-flows plan` prints is exactly what renders.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..storyboard.frames import (
    MAX_WINDOW_FRAMES,
    TEMPORAL_COMPRESSION,
    derive_seed,
    ltx2_anchor_frame,
    ltx2_latent_index,
    resolve_position,
    retake_layout,
    seconds_to_frames,
    snap_frames,
    split_take,
)
from ..files import file_sha256, json_sha256
from ..layout import control_video_name, retake_clip_name, segment_clip_name, shot_clip_name
from .hashing import RENDER_VERSION, shot_content_hash
from .looks import LoraPlan, cast_shot, shot_loras
from .deliveries import DeliveryPlan
from .enhance import EnhancementPlan, plan_enhancement
from .memory import VramEstimate, vram_estimate
from .recipes import PipelineCall, pipeline_calls, preset_of
from .takes import with_candidates
from ..storyboard.quality import QcPolicy
from .voice import VoicePlan, clip_sound_kind, film_has_voices, plan_voice
from ..storyboard.presets import NEGATIVE_PROMPTS
from ..storyboard.looks import Character
from ..storyboard.models import (
    Keyframe,
    ModelConfig,
    OutputConfig,
    Segments,
    Shot,
    Storyboard,
    default_control_lora,
    default_upsampler,
    film_audio,
)
from ..storyboard.versions import Overlays

class KeyframePlan(BaseModel):
    image: Path
    frame: int
    # LTX-2 conditions on latent indices: the index used, and the frame it puts the image at.
    latent_index: int | None = None
    model_frame: int
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


class HeldFrames(BaseModel):
    """Frames of the shot, as the retakes before this one left them, held clean while a retake generates:
    shot frames `first_frame`..`last_frame`, at frame `at` of the retake's clip (LTX-2: at `latent_index`)."""

    first_frame: int
    last_frame: int
    at: int
    latent_index: int | None = None


class RetakePlan(BaseModel):
    """One retake of a shot: frames [start, end) regenerated (see `frames.retake_layout` for the layout)."""

    index: int
    start: int
    end: int  # the first frame after the window
    prompt: str
    seed: int
    sound: bool  # LTX-2 with generated sound: the window's sound is regenerated too
    clip_start: int  # the generated clip: shot frames [clip_start, clip_start + clip_frames)
    clip_frames: int
    blend_start: int  # what goes back into the shot: [blend_start, blend_end), blended at both edges
    blend_end: int
    held: list[HeldFrames]
    # The shot's keyframes inside what goes back, at their frame in the retake's clip: a retake keeps them.
    keyframes: list[KeyframePlan] = []
    content_hash: str  # chained on the shot's own hash and every retake before it
    cache: str  # the shot with this retake applied, relative to the storyboard's output folder
    voice: VoicePlan | None = None  # the line the window is regenerated to (shot frames)


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
    # A long take: chained segments sharing `overlap` frames. Empty for a shot that fits one window.
    overlap: int = 0
    segments: list[SegmentPlan] = []
    # Retakes, applied in order on top of the shot's own render. With retakes, `content_hash` is the last retake's
    # (chained through all of them) and `base_hash` the render's before any retake; None without retakes.
    retakes: list[RetakePlan] = []
    base_hash: str | None = None
    loras: list[LoraPlan] = []  # applied on every call of the shot (plan/looks.py)
    enhance: EnhancementPlan | None = None  # the prompt is rewritten by the model's enhancer first (plan/enhance.py)
    cast: list[str] = []  # who appears in it (names of `RenderPlan.cast`)
    # Quality checks (storyboard/quality.py) and the candidates a choice is made from (plan/takes.py): its takes and
    # quality retries, each this shot with another seed; `take`: a candidate's number, or the take a `seed:` picks.
    qc: QcPolicy = QcPolicy()
    takes: list["ShotPlan"] = []
    retries: list["ShotPlan"] = []
    take: int | None = None
    approved: str | None = None  # the sha256 of the clip `ltx-flows approve` pinned, while the shot's inputs hold
    voice: VoicePlan | None = None  # the line the shot is made to (plan/voice.py)
    caption: str | None = None  # its caption: `caption`, else the line's text


class RenderPlan(BaseModel):
    name: str
    storyboard: Path
    storyboard_sha256: str
    model: ModelConfig
    output: OutputConfig
    upsampler: str | None  # two-pass only
    # Every pipeline call of a shot with its keyword arguments (all but prompts, frames, conditions, tensors).
    calls: list[PipelineCall]
    # GPU memory of the longest shot with this preset's published model (None without a preset).
    vram: VramEstimate | None = None
    audio: Literal["none", "generate", "bed"]
    audio_bed: Path | None
    audio_bed_sha256: str | None
    voiced: bool = False  # some shot has a voice: every clip carries a track, the bed ducks under the lines
    shots: list[ShotPlan]
    cast: dict[str, Character] = {}
    film_frames: int
    film_seconds: float
    # Versions (plan/versions.py): the variant this film is (None without `variants:`), its variables' values, and
    # its folder under the render root (None: `name`).
    variant: str | None = None
    vars: dict[str, str | int | float | bool] = {}
    folder: str | None = None
    deliverable: str | None = None  # a `render` deliverable's own film (its shots generated at its size)
    deliveries: list[DeliveryPlan] = []  # the files made from this film (`deliverables:`)
    overlays: Overlays | None = None  # drawn over each of them

    def shot(self, shot_id: str) -> ShotPlan:
        return next(s for s in self.shots if s.id == shot_id)


def plan_storyboard(storyboard: Storyboard, source: Path) -> RenderPlan:
    """Turn a validated storyboard (read from `source`) into a render plan."""
    fps = storyboard.output.fps
    audio = film_audio(storyboard)
    bed = audio if isinstance(audio, Path) else None
    upsampler = default_upsampler(storyboard.model) if storyboard.model.two_pass else None
    shots = [with_candidates(storyboard, shot, lambda one, i=index: _plan_shot(storyboard, i, one, audio, upsampler),
                             source) for index, shot in enumerate(storyboard.shots)]
    film_frames = sum(s.frames for s in shots) - sum(s.crossfade_frames for s in shots)
    calls = pipeline_calls(storyboard.model, storyboard.output)
    return RenderPlan(
        name=storyboard.name,
        storyboard=source.resolve(),
        storyboard_sha256=file_sha256(source),
        model=storyboard.model,
        output=storyboard.output,
        upsampler=upsampler,
        calls=calls,
        vram=_vram(storyboard.model, storyboard.output, calls, max((s.frames for s in shots), default=1)),
        audio="bed" if bed else audio,
        audio_bed=bed,
        audio_bed_sha256=file_sha256(bed) if bed else None,
        voiced=film_has_voices(storyboard.shots),
        shots=shots,
        cast=storyboard.cast,
        film_frames=film_frames,
        film_seconds=film_frames / fps,
    )


def _plan_shot(storyboard: Storyboard, index: int, shot: Shot, audio: str | Path, upsampler: str | None) -> ShotPlan:
    """One shot's plan: its frames, keyframes, control, seed, segments (a long take), retakes and content hash."""
    shot = cast_shot(storyboard, shot)  # its characters' trigger words and reference picture (plan/looks.py)
    fps = storyboard.output.fps
    requested = shot.requested_frames(fps)
    frames = snap_frames(requested)
    keyframes = [_keyframe(keyframe, storyboard.model.family, fps, frames) for keyframe in shot.keyframes]
    control = _plan_control(storyboard, shot)
    loras = shot_loras(storyboard, shot)
    # What sound the clip carries: the shot's own, silence (a muted shot keeps the track going), or none.
    sound = clip_sound_kind(audio, shot.mute, film_has_voices(storyboard.shots))
    voice = plan_voice(shot, frames, fps, storyboard.model.family)
    crossfade = seconds_to_frames(shot.transition.seconds, fps) if shot.transition.kind == "crossfade" else 0
    seed = shot.seed if shot.seed is not None else derive_seed(storyboard.defaults.seed, shot.id)
    negative_prompt = next(value for value in (shot.negative_prompt, storyboard.defaults.negative_prompt,
                                               NEGATIVE_PROMPTS[storyboard.model.family]) if value is not None)
    prompt = shot.prompt
    layout = shot.segment_layout(storyboard.model.family, frames)
    overlap, segments = 0, []
    # Every window of a long take renders the shot's one enhanced prompt (per-window prompts: refused at validation).
    enhance = plan_enhancement(storyboard, shot, prompt, keyframes)
    if layout is not None:
        overlap = layout[1]
        segments = _plan_segments(storyboard, shot, frames, layout, seed, negative_prompt, keyframes, upsampler, control,
                                  sound, loras, voice=voice, enhance=enhance)
    if len(segments) == 1:  # `segments` was given but the shot fits one of them: a plain shot
        prompt, overlap, segments = segments[0].prompt, 0, []
        enhance = plan_enhancement(storyboard, shot, prompt, keyframes)
    content_hash = shot_content_hash(
        storyboard.model, storyboard.output, upsampler, prompt, negative_prompt, seed, frames, keyframes, control, sound,
        loras,
        voice=voice,
        enhance=enhance,
    )
    # The last segment's hash is chained through every segment, so it covers the whole take.
    base_hash = segments[-1].content_hash if segments else content_hash
    retakes = _plan_retakes(storyboard, shot, frames, seed, negative_prompt, sound, base_hash, keyframes)
    return ShotPlan(
        index=index,
        id=shot.id,
        prompt=prompt,
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
        content_hash=retakes[-1].content_hash if retakes else base_hash,
        clip=shot_clip_name(shot.id),
        overlap=overlap,
        segments=segments,
        retakes=retakes,
        base_hash=base_hash if retakes else None,
        loras=loras,
        enhance=enhance,
        cast=shot.cast,
        voice=voice,
        caption=shot.caption or (voice.text if voice else None),
    )


def _plan_control(storyboard: Storyboard, shot: Shot) -> ControlPlan | None:
    if shot.control is None:
        return None
    return ControlPlan(
        kind=shot.control.kind,
        source=shot.control.source,
        source_sha256=file_sha256(shot.control.source),
        strength=shot.control.strength,
        lora=default_control_lora(storyboard.model, shot.control),
        reference_downscale=shot.control.reference_downscale,
        video=control_video_name(shot.id, shot.control.kind),
    )


def _vram(model: ModelConfig, output: OutputConfig, calls: list[PipelineCall], frames: int) -> VramEstimate | None:
    preset = preset_of(model)
    if preset is None:
        return None
    first = calls[0].kwargs
    # One transformer pass per guidance branch: conditional, plus CFG, STG and modality guidance when on.
    branches = 1 + (first["guidance_scale"] > 1) + (first.get("stg_scale", 0) > 0) + (first.get("modality_scale", 1) != 1)
    # Segments of a long take are at most a window long.
    return vram_estimate(output.width, output.height, min(frames, preset.window_frames), *preset.params_b, branches)


def _plan_segments(
    storyboard: Storyboard,
    shot: Shot,
    frames: int,
    layout: tuple[int, int],
    seed: int,
    negative_prompt: str,
    keyframes: list[KeyframePlan],
    upsampler: str | None,
    control: ControlPlan | None,
    sound: str,
    loras: list[LoraPlan] | None = None,
    voice: VoicePlan | None = None,
    enhance: EnhancementPlan | None = None,
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
            _local_keyframe(k, start, length, storyboard.model.family)
            for k in keyframes
            if claimed <= k.frame < start + length
        ]
        condition = (
            TailCondition(first_frame=start, last_frame=start + overlap - 1, strength=options.strength) if segments else None
        )
        segment_seed = derive_seed(seed, "segment", index)
        # The control is part of every window's hash; which slice of it a segment follows is set by its start.
        window_hash = shot_content_hash(
            storyboard.model, storyboard.output, upsampler, prompt, negative_prompt, segment_seed, length, local, control, sound,
            loras,
            voice=voice,
            enhance=enhance,
        )
        chained = {
            "segment": window_hash,
            "previous": segments[-1].content_hash if segments else None,
            "condition": condition.model_dump() if condition else None,
        }
        content_hash = json_sha256(chained)
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
                cache=segment_clip_name(shot.id, index, content_hash),
            )
        )
    return segments


def _plan_retakes(
    storyboard: Storyboard, shot: Shot, frames: int, seed: int, negative_prompt: str, sound: str, base_hash: str,
    keyframes: list[KeyframePlan],
) -> list[RetakePlan]:
    """A shot's retakes in order: windows, layouts, what each holds, and hashes chained on `base_hash`."""
    family, fps = storyboard.model.family, storyboard.output.fps
    retakes: list[RetakePlan] = []
    for index, retake in enumerate(shot.retakes):
        start, end = retake.window(fps, frames)
        layout = retake_layout(start, end, frames, family, MAX_WINDOW_FRAMES[family])
        held = []
        if layout.before:
            held.append(HeldFrames(first_frame=layout.clip_start, last_frame=layout.clip_start + layout.before - 1, at=0,
                                   latent_index=0 if family == "ltx2" else None))
        if layout.after:
            at = layout.after_start - layout.clip_start
            held.append(HeldFrames(first_frame=layout.after_start, last_frame=layout.after_start + layout.after - 1, at=at,
                                   latent_index=(at - 1) // TEMPORAL_COMPRESSION + 1 if family == "ltx2" else None))
        local = [
            _local_keyframe(k, layout.clip_start, layout.clip_frames, family)
            for k in keyframes
            if layout.blend_start <= k.frame < layout.blend_end
        ]
        prompt = retake.prompt or shot.prompt
        retake_seed = retake.seed if retake.seed is not None else derive_seed(seed, "retake", start, end)
        regenerate_sound = sound == "generate" and retake.sound
        previous = retakes[-1].content_hash if retakes else base_hash
        inputs = {
            "render_version": RENDER_VERSION, "previous": previous, "start": start, "end": end, "prompt": prompt,
            "negative_prompt": negative_prompt, "seed": retake_seed, "sound": regenerate_sound,
            "layout": [layout.clip_start, layout.clip_frames, layout.blend_start, layout.blend_end],
            "held": [h.model_dump() for h in held],
            "keyframes": [{"sha256": k.sha256, "frame": k.frame, "strength": k.strength} for k in local],
        }
        voice = plan_voice(shot, frames, fps, family, voice=retake.voice, offset=start) if retake.voice else None
        if voice is not None:  # only where set
            inputs["voice"] = voice.hash_inputs()
        content_hash = json_sha256(inputs)
        retakes.append(RetakePlan(
            index=index, start=start, end=end, prompt=prompt, seed=retake_seed, sound=regenerate_sound,
            clip_start=layout.clip_start, clip_frames=layout.clip_frames,
            blend_start=layout.blend_start, blend_end=layout.blend_end, held=held, keyframes=local,
            content_hash=content_hash,
            cache=retake_clip_name(shot.id, index, content_hash), voice=voice,
        ))
    return retakes


def _local_keyframe(keyframe: KeyframePlan, start: int, length: int, family: str) -> KeyframePlan:
    """A shot keyframe placed in the segment that starts at shot frame `start`."""
    frame = keyframe.frame - start
    latent_index = ltx2_latent_index(frame, length) if family == "ltx2" else None
    model_frame = ltx2_anchor_frame(latent_index) if latent_index is not None else frame
    return keyframe.model_copy(update={"frame": frame, "latent_index": latent_index, "model_frame": model_frame})


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
