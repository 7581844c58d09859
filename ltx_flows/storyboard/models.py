"""The storyboard language: the pydantic models of a storyboard, and the defaults they imply.

The models are the single source of truth: validation (`loading.py`), the JSON Schema (`schema.py`,
`ltx-flows schema`) and the field reference in docs/storyboards.md (`reference.py`) are all generated from them.
"""

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .frames import (
    DEFAULT_MAX_SEGMENTS,
    DEFAULT_SEGMENT_FRAMES,
    DEFAULT_SEGMENT_OVERLAP,
    MAX_WINDOW_FRAMES,
    MIN_FRAMES,
    TEMPORAL_COMPRESSION,
    nearest_valid_frames,
    resolve_position,
    seconds_to_frames,
)
from .media_checks import audio_problem, image_or_video_problem, image_problem, media_path
from .looks import Camera, Character, LoraRef
from .presets import PRESETS, REFINE_SIGMAS, preset_file
from .problems import quoted
from .quality import MAX_TAKES, Qc
from .versions import MAX_VARIANTS, Deliverable, Focus, Overlays, VarName, VarValue, Variants
from .voice import Ambience, VoiceField, voiced_frames

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# Frame sizes are multiples of this (LTX's VAE compresses 32x32 pixels into one latent pixel); the plan's
# first-pass sizes round down to it too.
SIZE_STEP = 32
# Two-pass rendering halves the size for its first pass, and IC-LoRAs read controls at half size.
HALF_SIZE_STEP = 2 * SIZE_STEP
# One shot lasts at most an hour (frames: an hour at the highest frame rate).
MAX_SHOT_SECONDS = 3600
MAX_SHOT_FRAMES = MAX_SHOT_SECONDS * 120


class _Strict(BaseModel):
    # Unknown keys are errors (with a did-you-mean), never silently ignored; `.inf` and `.nan`
    # are never numbers of a storyboard.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelConfig(_Strict):
    """Which LTX model renders the film, and how."""

    preset: Literal[tuple(PRESETS)] | None = Field(
        None,
        description="Documented defaults for a published checkpoint (see docs/models.md): they fill in every "
        "`model` and `output` key this storyboard leaves out.",
    )
    family: Literal["ltxv", "ltx2"] = Field(
        "ltxv", description="Model family. `ltxv` = LTX-Video 0.9.5-0.9.8 (0.9.0/0.9.1 are refused); `ltx2` = LTX-2.0 "
        "and 2.3 (video and sound together)."
    )
    checkpoint: str = Field(
        "tiny",
        min_length=1,
        description="`tiny` = the offline test model of the family (renders noise); else a hub id "
        "(e.g. `Lightricks/LTX-Video-0.9.7-distilled`) or a local diffusers folder. LTX-2.5 renders through its "
        "presets only (`ltx2.5-dev`, `ltx2.5-distilled`); its original-format repo is refused.",
    )
    steps: int = Field(
        8, ge=1, le=200,
        description="Denoising steps (distilled models: ~8). LTX-2 dev checkpoints (and `tiny`) need at least 2 "
        "unless `sigmas` are given.",
    )
    sigmas: list[Annotated[float, Field(gt=0, le=1)]] | None = Field(
        None,
        description="Noise schedule, highest first, one per step (distilled presets set the one they were "
        "distilled with); default: the pipeline's own.",
    )
    guidance_scale: float = Field(1.0, ge=0, le=30, description="Classifier-free guidance; 1.0 turns it off (distilled models).")
    decode_timestep: float = Field(0.05, ge=0, le=1, description="VAE decode timestep (LTX-Video 0.9.1+).")
    decode_noise_scale: float = Field(0.025, ge=0, le=1, description="Noise added before decoding (LTX-Video 0.9.1+).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; `auto` = bfloat16 on CUDA, float32 on CPU."
    )
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="`auto` = CUDA when present, else CPU.")
    cpu_offload: bool = Field(False, description="`enable_model_cpu_offload()`: less VRAM, slower.")
    vae_tiling: bool = Field(False, description="`vae.enable_tiling()`: decode large frames in tiles to save VRAM.")
    max_segments: int = Field(
        DEFAULT_MAX_SEGMENTS, ge=1, le=1000,
        description="Most segments one long take may chain; a longer take is rejected at validation.",
    )
    two_pass: bool = Field(
        False,
        description="Multi-scale rendering: a first pass at a fraction of the size (LTX-2: 1/2; LTX-Video: 2/3, "
        "rounded down to multiples of 32, as documented), the latent upsampler (2x), then a short refine pass. "
        "Needs width and height multiples of 64.",
    )
    upsampler: str | None = Field(
        None,
        min_length=1,
        description="Latent upsampler for `two_pass`: `tiny`, a hub id (`owner/repo[/subfolder]`) or a local "
        "folder. Default: the preset's, or `tiny` with `checkpoint: tiny`.",
    )
    loras: list[LoraRef] = Field(
        default_factory=list, description="LoRAs for every shot (`ltx2`): `[{file, strength}]`, loaded once as named adapters."
    )
    enhance_prompt: bool = Field(False, description="LTX-2: rewrite every shot's prompt through the pipeline's own "
                                 "prompt enhancer first (cached; `ltx-flows enhance --write` freezes the results).")
    generate_fps: int | None = Field(None, ge=1, le=60, description="The rate the model generates at. Default: "
                                     "`output.fps` where the model makes it, else half or a quarter of it, doubled "
                                     "back by the generation's temporal upscaler (frame-rate upscaling).")
    refine_sigmas: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: list(REFINE_SIGMAS),
        min_length=1,
        description="LTX-2: noise levels of the `two_pass` refine pass, highest first: the upsampled latents "
        "are re-noised to the first. Default: Lightricks' stage-2 distilled schedule. (LTX-Video refines with its "
        "preset's documented schedule.)",
    )


class OutputConfig(_Strict):
    """The film's format."""

    width: int = Field(768, ge=SIZE_STEP, le=4096, description="Pixels; a multiple of 32.")
    height: int = Field(512, ge=SIZE_STEP, le=4096, description="Pixels; a multiple of 32.")
    fps: int = Field(24, ge=1, le=120, description="Frames per second of every clip and the film.")
    crf: int = Field(18, ge=0, le=51, description="H.264 quality (lower = better, bigger).")
    audio: Literal["none", "generate"] | Path | None = Field(
        None,
        description="The film's sound: `none`; `generate` (each shot's sound from LTX-2, one continuous track "
        "across cuts and crossfades); or a music bed file, relative to the storyboard's folder, laid under the "
        "whole film (cut and faded out at its end; silence after a shorter bed). Default: `generate` with "
        "`family: ltx2`, `none` with `ltxv`.",
    )

    loudness: float | None = Field(
        None, ge=-70, le=-5, description="Integrated loudness (LUFS) the film is normalized to, e.g. -14 web, -16 "
        "podcasts and lessons, -23 EBU R128 broadcast; the manifest records what the film measures. Default: as mixed.")
    true_peak: float = Field(-1.0, ge=-9, le=0, description="True-peak ceiling (dBTP) with `loudness`.")

    @field_validator("audio", mode="before")
    @classmethod
    def _resolve_bed(cls, value: Any, info: ValidationInfo) -> Any:
        if value in ("none", "generate"):
            return value
        return media_path(
            value, info, audio_problem, "has no audio stream that can be read; give a sound file (e.g. .wav, .mp3, .m4a)"
        )

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % SIZE_STEP:
            below = value // SIZE_STEP * SIZE_STEP
            raise ValueError(
                f"{value} is not a multiple of {SIZE_STEP}; the nearest valid sizes are {below} and {below + SIZE_STEP}"
            )
        return value


class Defaults(_Strict):
    """Values every shot inherits unless it sets its own."""

    negative_prompt: str | None = Field(
        None, description="Used by shots without one. Default: the family's documented one (LTX-Video: "
        "\"worst quality, inconsistent motion, blurry, jittery, distorted\"; LTX-2: Lightricks' longer "
        "`DEFAULT_NEGATIVE_PROMPT`, see docs/models.md).",
    )
    seed: int = Field(0, ge=0, lt=2**32, description="Base seed; a shot without `seed` derives its own from this and its id.")
    takes: int = Field(1, ge=1, le=MAX_TAKES, description="Takes of every shot without its own `takes`.")


def _check_position(value: Any) -> Any:
    if isinstance(value, bool):  # YAML `yes`/`true` would otherwise pass as 1
        raise ValueError("a position must be a frame number, seconds like \"2.5s\", \"start\" or \"end\"")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"frame {value} is negative; frames count from 0")
        return value
    if isinstance(value, str) and value in ("start", "end"):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?s", value):
        if float(value[:-1]) > MAX_SHOT_SECONDS:
            raise ValueError(f"{quoted(value)} is past the longest shot ({MAX_SHOT_SECONDS}s)")
        return value
    raise ValueError(f"{quoted(value)} is not a position: use a frame number (e.g. 48), seconds (e.g. \"2.5s\"), \"start\" or \"end\"")


Position = Annotated[
    int | str,
    Field(description='A frame number, seconds ("2.5s"), "start" or "end".'),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^(start|end|\d+(\.\d+)?s)$"}]}
    ),
]


class Keyframe(_Strict):
    """An image pinned to a frame of the shot."""

    image: Path = Field(description="Image file, relative to the storyboard's folder.")
    at: Position = 0
    strength: float = Field(1.0, ge=0, le=1, description="How strongly the frame follows the image (0..1).")

    @field_validator("at", mode="before")
    @classmethod
    def _check_at(cls, value: Any) -> Any:
        return _check_position(value)

    @field_validator("image", mode="before")
    @classmethod
    def _resolve_image(cls, value: Any, info: ValidationInfo) -> Any:
        return media_path(value, info, image_problem, "is not an image that can be read")


class Control(_Strict):
    """Structure taken from reference media (depth, pose or canny edges) and followed through an IC-LoRA.

    Needs `model.family: ltx2`. The source becomes a control video at the shot's size, frame rate and
    frame count: a video plays from its first frame at its own frame rate (each output frame shows the
    source frame on screen at that time); a longer source is cut at the shot's end, a shorter one holds
    its last frame; an image is held for the whole shot.
    """

    kind: Literal["depth", "pose", "canny"] = Field(description="What to extract: depth map, body pose or canny edges.")
    source: Path = Field(description="A video or an image, relative to the storyboard's folder.")
    strength: float = Field(1.0, ge=0, le=1, description="How clean the control looks to the model (1 = followed closely).")
    lora: str | None = Field(
        None,
        min_length=1,
        description="The IC-LoRA: `tiny`, a hub id (`owner/repo[/file.safetensors]`) or a local .safetensors "
        "file. Default: the preset's for this kind, or `tiny` with `checkpoint: tiny`.",
    )
    reference_downscale: Literal[1, 2, 4] | None = Field(
        None,
        description="How much smaller than the shot the IC-LoRA reads its control; default: the LoRA file's "
        "`reference_downscale_factor` metadata, else 1.",
    )

    @field_validator("source", mode="before")
    @classmethod
    def _resolve_source(cls, value: Any, info: ValidationInfo) -> Any:
        return media_path(value, info, image_or_video_problem, "is neither an image nor a video that can be read")


class Segments(_Strict):
    """How a long take is cut into chained model windows. Each segment continues the end of the one before."""

    frames: int | None = Field(
        None, ge=MIN_FRAMES + TEMPORAL_COMPRESSION,
        description="Frames per segment, 8n+1, at most one model window. Default: the family's (ltxv: 121).",
    )
    overlap: int | None = Field(
        None, ge=MIN_FRAMES,
        description="Frames each segment shares with the one before, 8n+1, less than `frames`. Default: the family's (ltxv: 25).",
    )
    prompts: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="One prompt per segment, in order. Default: the shot's prompt for every segment."
    )
    strength: float = Field(
        1.0, ge=0, le=1, description="How strongly a segment holds to the end of the one before (0..1)."
    )

    @field_validator("frames", "overlap")
    @classmethod
    def _8n_plus_1(cls, value: int | None) -> int | None:
        if value is not None and (value - 1) % TEMPORAL_COMPRESSION:
            below, above = nearest_valid_frames(value)
            raise ValueError(f"{value} is not 8n+1; the nearest valid lengths are {below} and {above}")
        return value


class Transition(_Strict):
    """How a shot joins the next one. In YAML: `cut` or `{crossfade: SECONDS}`."""

    kind: Literal["cut", "crossfade"] = "cut"
    seconds: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if value == "cut":
            return {"kind": "cut"}
        if isinstance(value, dict) and set(value) == {"crossfade"}:
            seconds = value["crossfade"]
            if (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds)
                    or not 0 < seconds <= MAX_SHOT_SECONDS):
                raise ValueError(f"crossfade must be a positive number of seconds, e.g. {{crossfade: 0.5}}, not {quoted(seconds)}")
            return {"kind": "crossfade", "seconds": float(seconds)}
        if isinstance(value, dict) and "kind" in value:  # already in model form (e.g. from JSON)
            return value
        raise ValueError(f"{quoted(value)} is not a transition: use `cut` or `{{crossfade: SECONDS}}`")


TransitionField = Annotated[
    Transition,
    WithJsonSchema(
        {
            "description": "Into the next shot: `cut`, or `{crossfade: SECONDS}`.",
            "anyOf": [
                {"const": "cut"},
                {
                    "type": "object",
                    "properties": {"crossfade": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SHOT_SECONDS}},
                    "required": ["crossfade"],
                    "additionalProperties": False,
                },
            ],
        }
    ),
]


class Retake(_Strict):
    """Regenerate one moment of the finished shot: frames `from` up to (not including) `to`, conditioned on the
    frames (and LTX-2's sound) on both sides, and blended back in over a few frames at each edge."""

    from_: Position = Field(alias="from", description='First frame of the window: a frame number, seconds ("1.5s") or "start".')
    to: Position = Field(description='Where the window ends (that frame is kept): a frame number, seconds ("2.5s") or "end" (through the last frame).')
    prompt: str | None = Field(None, min_length=1, description="What happens in the window. Default: the shot's prompt.")
    seed: int | None = Field(None, ge=0, lt=2**32, description="Default: derived from the shot's seed and the window.")
    sound: bool = Field(True, description="`ltx2`: regenerate the sound in the window too; false keeps the shot's sound there.")
    voice: VoiceField = Field(None, description="A line the window is regenerated to (dubbing): `at` counts from "
                              "`from`; the line must end inside the window.")

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _check_window(cls, value: Any) -> Any:
        return _check_position(value)

    def window(self, fps: int, frames: int) -> tuple[int, int]:
        """[first, end) of the window in shot frames; `to: end` reaches past the last frame."""
        end = frames if self.to == "end" else resolve_position(self.to, fps, frames)
        return resolve_position(self.from_, fps, frames), end


BOTH_LENGTHS = "`duration` and `frames` are both given: give exactly one (remove one of them)"


class Shot(_Strict):
    """One shot of the film."""

    id: str = Field(pattern=ID_PATTERN, description="Unique; names the clip file.")
    prompt: str = Field(min_length=1, description="What happens in the shot.")
    duration: float | None = Field(
        None, gt=0, le=MAX_SHOT_SECONDS, description="Seconds. Give this or `frames`."
    )
    frames: int | None = Field(None, ge=1, le=MAX_SHOT_FRAMES, description="Frame count. Give this or `duration`.")
    seed: int | None = Field(None, ge=0, lt=2**32, description="Default: derived from `defaults.seed` and the shot id.")
    negative_prompt: str | None = Field(None, description="Default: `defaults.negative_prompt`.")
    keyframes: list[Keyframe] = Field(default_factory=list, description="Images pinned to frames.")
    segments: Segments | None = Field(
        None, description="Render a long take as chained segments. Default: automatic for shots longer than one window."
    )
    control: Control | None = Field(None, description="Depth, pose or canny control from reference media (`ltx2`).")
    mute: bool = Field(False, description="Silence this shot's generated sound; the film's track goes on, silent here.")
    transition: TransitionField = Field(default_factory=lambda: Transition(kind="cut"))
    retakes: list[Retake] = Field(
        default_factory=list, description="Moments of the finished shot to regenerate, applied in order on top of its render."
    )
    loras: list[LoraRef] = Field(
        default_factory=list, description="This shot's own LoRAs, on top of `model.loras` (naming a film LoRA sets its strength here)."
    )
    camera: Camera | None = Field(
        None, description="A camera move (`dolly-in`, ... or `{move, strength}`) through the generation's camera-control LoRA."
    )
    cast: list[str] = Field(default_factory=list, description="Who appears in this shot: names from the film's `cast`.")
    takes: int | None = Field(
        None, ge=1, le=MAX_TAKES, description="Candidates rendered with derived seeds; `ltx-flows pick` chooses one. "
        "Default: `defaults.takes`.",
    )
    qc: Qc | None = Field(None, description="This shot's checks and retries, key by key over the film's `qc`.")
    enhance_prompt: bool | None = Field(None, description="LTX-2: enhance this shot's prompt. Default: `model.enhance_prompt`.")
    focus: Focus = Field(default_factory=Focus, description="Where the subject is: what `crop` deliverables keep in view.")
    voice: VoiceField = Field(None, description="A line the shot is made to (`ltx2` generates the picture to it); "
                              "the film carries it as given. Without `duration`/`frames` the shot lasts the line.")
    pad: float = Field(0.0, ge=0, le=60, description="Seconds a voiced shot lasts past its line when it lasts its line.")
    caption: str | None = Field(None, min_length=1, description="This shot's caption in the film's .srt/.vtt. "
                                "Default: its `voice.text`.")
    ambience: Ambience = Field(0.0, description="`ltx2` with a voice: dB of the shot's own generated sound outside "
                               "its line (under the line the film carries the line itself); `mute` silences it.")

    @model_validator(mode="after")
    def _duration_or_frames(self) -> "Shot":
        # After field validation, so a typo such as `durtion:` is reported as an unknown key
        # (with its did-you-mean) rather than hidden behind this rule.
        if self.duration is not None and self.frames is not None:
            # Its own type: loading reports it at the second of the two keys, even beside other mistakes of the shot.
            raise PydanticCustomError("duration_and_frames", BOTH_LENGTHS)
        if self.duration is None and self.frames is None and self.voice is None:
            raise ValueError("give exactly one of `duration` (seconds) or `frames` (or a `voice`: the shot lasts its line)")
        return self

    def requested_frames(self, fps: int) -> int:
        if self.duration is None and self.frames is None:
            return voiced_frames(self.voice, self.pad, fps)
        return self.frames if self.frames is not None else seconds_to_frames(self.duration, fps)

    def segment_layout(self, family: str, frames: int) -> tuple[int, int] | None:
        """(frames per segment, overlap) when this shot of `frames` frames is a long take; None for one window."""
        if self.segments is None:
            if frames <= MAX_WINDOW_FRAMES[family]:
                return None
            return DEFAULT_SEGMENT_FRAMES[family], DEFAULT_SEGMENT_OVERLAP[family]
        return (
            self.segments.frames or DEFAULT_SEGMENT_FRAMES[family],
            self.segments.overlap or DEFAULT_SEGMENT_OVERLAP[family],
        )


class Storyboard(_Strict):
    """A film: a list of shots rendered with one model at one output format."""

    version: Literal[1] = Field(description="Storyboard format version; always 1.")
    name: str = Field(pattern=NAME_PATTERN, description="Names the output folder and film file.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Which model renders the film.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Size, frame rate and quality.")
    defaults: Defaults = Field(default_factory=Defaults, description="What shots inherit.")
    shots: list[Shot] = Field(min_length=1, description="The shots, in film order.")
    cast: dict[str, Character] = Field(default_factory=dict, description="The film's recurring characters, by name.")
    qc: Qc | None = Field(None, description="Checks on every finished shot, their thresholds and retries.")
    vars: dict[VarName, VarValue] = Field(
        default_factory=dict, description="Variables: `${name}` in any text or path field is replaced by its value "
        "(`$${` writes a literal `${`). Variants override them.",
    )
    variants: Variants | None = Field(
        None, description="Versions of the film, each its own film in `renders/<name>/<variant>/`: a list of "
        f"`{{name, vars}}`, or `{{matrix: {{var: [values...]}}}}` for every combination (at most {MAX_VARIANTS}).",
    )
    deliverables: list[Deliverable] = Field(
        default_factory=list, description="Files each film is delivered as, each at its own size; default: the film.",
    )
    overlays: Overlays | None = Field(None, description="Logo, end card and legal line over every deliverable.")


def default_upsampler(model: ModelConfig) -> str | None:
    """The latent upsampler two-pass rendering loads: the storyboard's, the preset's, or the tiny one."""
    if model.upsampler is not None:
        return model.upsampler
    if model.preset is not None:
        return preset_file(model.preset, model.checkpoint, PRESETS[model.preset].upsampler)
    return "tiny" if model.checkpoint == "tiny" else None


def default_control_lora(model: ModelConfig, control: Control) -> str | None:
    """The IC-LoRA a control loads: its own, the preset's for its kind, or the tiny one."""
    if control.lora is not None:
        return control.lora
    if model.preset is not None:
        return preset_file(model.preset, model.checkpoint, PRESETS[model.preset].control_loras.get(control.kind))
    return "tiny" if model.checkpoint == "tiny" else None


def film_audio(storyboard: Storyboard) -> str | Path:
    """`none`, `generate` or the music bed's path, with the family's default filled in."""
    if storyboard.output.audio is not None:
        return storyboard.output.audio
    return "generate" if storyboard.model.family == "ltx2" else "none"

