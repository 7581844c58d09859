"""The storyboard language: pydantic models, safe YAML loading, and errors as `file:line:col`.

The models below are the single source of truth: validation, the JSON Schema
(`ltx-flows schema`) and the field reference in docs/storyboards.md are all generated from them.
"""

import dataclasses
import difflib
import errno
import functools
import json
import math
import os
import re
import stat
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
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
    retake_layout,
    seconds_to_frames,
    segment_count,
    snap_frames,
    split_take,
)
from .generations import GENERATIONS, UNSUPPORTED_CHECKPOINTS, UNSUPPORTED_SUBFOLDERS
from .sources import local_path, model_source
from .presets import PRESETS, REFINE_SIGMAS, apply_preset, preset_file

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SIZE_STEP = 32
# Two-pass rendering halves the size for its first pass, and IC-LoRAs read controls at half size.
HALF_SIZE_STEP = 2 * SIZE_STEP
# A storyboard is a few hundred nodes; this only stops alias bombs ("billion laughs").
MAX_YAML_NODES = 100_000
# Limits that keep hostile or mistaken input from costing more than a storyboard ever needs: the
# file's size, how deeply YAML may nest, and how much text it may expand to through aliases (a
# 1 MB prompt referenced by 5,000 shots is 5 GB).
MAX_STORYBOARD_BYTES = 4 * 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_EXPANDED_BYTES = 16 * 1024 * 1024
# One shot lasts at most an hour (frames: an hour at the highest frame rate).
MAX_SHOT_SECONDS = 3600
MAX_SHOT_FRAMES = MAX_SHOT_SECONDS * 120
# Keyframe images and control media are decoded at validation; one frame may hold this many pixels
# (8K UHD is 33 M): a small file that decodes to gigabytes is refused before it is decoded.
MAX_MEDIA_PIXELS = 40_000_000
# Keyframes a shot may pin (and never more than one a frame): each conditions the render.
MAX_KEYFRAMES = 1000


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
        "(e.g. `Lightricks/LTX-Video-0.9.7-distilled`) or a local diffusers folder. LTX-2.5 is refused (its hub "
        "ids, and folders with `transformer_full/` or `diffusion_decoder/`).",
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

    @field_validator("audio", mode="before")
    @classmethod
    def _resolve_bed(cls, value: Any, info: ValidationInfo) -> Any:
        if value in ("none", "generate"):
            return value
        return _media_path(
            value, info, _audio_problem, "has no audio stream that can be read; give a sound file (e.g. .wav, .mp3, .m4a)"
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

    negative_prompt: str = Field(
        "worst quality, inconsistent motion, blurry, jittery, distorted", description="Used by shots without one."
    )
    seed: int = Field(0, ge=0, lt=2**32, description="Base seed; a shot without `seed` derives its own from this and its id.")


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
            raise ValueError(f"{_quoted(value)} is past the longest shot ({MAX_SHOT_SECONDS}s)")
        return value
    raise ValueError(f"{_quoted(value)} is not a position: use a frame number (e.g. 48), seconds (e.g. \"2.5s\"), \"start\" or \"end\"")


Position = Annotated[
    int | str,
    Field(description='A frame number, seconds ("2.5s"), "start" or "end".'),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^(start|end|\d+(\.\d+)?s)$"}]}
    ),
]


def resolve_media_path(value: str, base_dir: Path, root: Path) -> Path:
    """A media path from a storyboard, resolved and checked to stay inside the workspace root."""
    path = Path(value)
    if path.is_absolute():
        raise ValueError(f"`{value}` is absolute; give a path relative to the storyboard's folder ({base_dir})")
    try:
        # resolve() follows symlinks, so a link pointing out of the root is caught too.
        full = (base_dir / path).resolve()
        root = root.resolve()
        if not full.is_relative_to(root):
            raise ValueError(f"`{value}` resolves to {full}, outside the workspace root {root}; move it inside, or pass --root")
        is_file = full.is_file()
    except (RuntimeError, OSError) as error:
        # A symlink loop (resolve() raises RuntimeError) or a name the file system refuses (ENAMETOOLONG).
        raise ValueError(f"`{_short(value)}` cannot be opened: {path_error(error)}; fix the path") from None
    if not is_file:
        raise ValueError(f"file not found: {full} (paths are relative to the storyboard's folder, {base_dir})")
    return full


def path_error(error: RuntimeError | OSError) -> str:
    """Why a path cannot be opened, in words (no traceback, no errno number)."""
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP:
        return "it is a symlink loop (a link that leads back to itself)"
    if getattr(error, "errno", None) == errno.ENAMETOOLONG:
        return "a part of it is longer than the file system allows (usually 255 bytes)"
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def _short(value: str, limit: int = 80) -> str:
    # A name of thousands of characters is shown by its start and end.
    return value if len(value) <= limit else f"{value[: limit // 2]}...{value[-limit // 4:]}"


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
        return _media_path(value, info, _image_problem, "is not an image that can be read")


def _media_path(value: Any, info: ValidationInfo, readable, problem: str) -> Any:
    """A media path from a storyboard, resolved inside the workspace root and checked with `readable`."""
    context = info.context or {}
    if not isinstance(value, str) or "base_dir" not in context:
        return value
    path = resolve_media_path(value, context["base_dir"], context["root"])
    why = _media_verdict(readable, path)
    if why is not None:
        raise ValueError(f"{path} {problem}: {why}")
    return path


def _media_verdict(readable, path: Path) -> str | None:
    """`readable(path)`, decoded once per version of the file: a render validates each storyboard more
    than once (the CLI, the batch's file list, the plan), and a long control video takes seconds to decode."""
    try:
        stat_ = path.stat()
    except OSError:
        return readable(path)  # it says why it cannot be read
    return _cached_verdict(readable, path, stat_.st_size, stat_.st_mtime_ns)


@functools.lru_cache(maxsize=1024)
def _cached_verdict(readable, path: Path, size: int, mtime_ns: int) -> str | None:
    # Keyed by size and modification time: a file changed in place is decoded again.
    return readable(path)


# Media checks: each decodes the whole file (what rendering will read), so a damaged or truncated
# file is named at validation, not found by a render hours later. Each returns None when the file
# is fine, else why not (never the file's content).


def _image_problem(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_MEDIA_PIXELS:
                return f"it is {width}x{height}, more than {MAX_MEDIA_PIXELS:,} pixels; scale it down"
            image.load()  # decodes every pixel: valid CRCs around garbage data still fail here
    except Image.DecompressionBombError:
        return f"more than {MAX_MEDIA_PIXELS:,} pixels; scale it down"
    except Exception as error:  # PIL raises many kinds (OSError, SyntaxError, ValueError, zlib.error)
        return f"it does not decode as an image ({type(error).__name__})"
    return None


def _audio_problem(path: Path) -> str | None:
    import av  # here, so checking storyboards without media stays light

    decoded, seconds = 0, None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return "it has no audio stream"
            stream = container.streams.audio[0]
            stream.codec_context.options = {"err_detect": "explode"}
            # Every frame, not the first only: damage in the middle of a bed is a dropout in the film.
            for frame in container.decode(stream):
                decoded += frame.samples
                seconds = frame.time
            if not decoded:
                return "its audio stream has no sound that decodes"
    except (av.FFmpegError, OSError) as error:
        where = f" after {seconds:.1f}s" if decoded and seconds is not None else ""
        return f"it does not decode{where} ({type(error).__name__}): it is damaged or truncated"
    return None


def _image_or_video_problem(path: Path) -> str | None:
    from ..media.read import DamagedMediaError, decoded_frames

    if _image_problem(path) is None:
        return None
    try:
        decoded_frames(path, max_pixels=MAX_MEDIA_PIXELS)
    except DamagedMediaError as error:
        return str(error).removeprefix(f"{path} ")
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    return None


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
        return _media_path(value, info, _image_or_video_problem, "is neither an image nor a video that can be read")


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
                raise ValueError(f"crossfade must be a positive number of seconds, e.g. {{crossfade: 0.5}}, not {_quoted(seconds)}")
            return {"kind": "crossfade", "seconds": float(seconds)}
        if isinstance(value, dict) and "kind" in value:  # already in model form (e.g. from JSON)
            return value
        raise ValueError(f"{_quoted(value)} is not a transition: use `cut` or `{{crossfade: SECONDS}}`")


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

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _check_window(cls, value: Any) -> Any:
        return _check_position(value)

    def window(self, fps: int, frames: int) -> tuple[int, int]:
        """[first, end) of the window in shot frames; `to: end` reaches past the last frame."""
        end = frames if self.to == "end" else resolve_position(self.to, fps, frames)
        return resolve_position(self.from_, fps, frames), end


_BOTH_LENGTHS = "`duration` and `frames` are both given: give exactly one (remove one of them)"


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

    @model_validator(mode="after")
    def _duration_or_frames(self) -> "Shot":
        # After field validation, so a typo such as `durtion:` is reported as an unknown key
        # (with its did-you-mean) rather than hidden behind this rule.
        if self.duration is not None and self.frames is not None:
            # Its own type: loading reports it at the second of the two keys, even beside other mistakes of the shot.
            raise PydanticCustomError("duration_and_frames", _BOTH_LENGTHS)
        if self.duration is None and self.frames is None:
            raise ValueError("give exactly one of `duration` (seconds) or `frames`")
        return self

    def requested_frames(self, fps: int) -> int:
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


# --- Loading and error reporting -------------------------------------------------------------


class Problem(BaseModel):
    """One thing wrong with a storyboard, located in its file."""

    line: int
    column: int
    where: str
    message: str
    # Whether showing the source line helps: not for a problem with the whole file, which may not be a
    # storyboard at all (a config with secrets, a device) and whose content is never repeated.
    quote_source: bool = Field(default=True, exclude=True)

    @field_validator("where", "message")
    @classmethod
    def _printable(cls, text: str) -> str:
        # Whatever a message echoes from the file, no control character reaches a terminal or a log line.
        return _escape_unprintable(text)

    def format(self, path: Path | str) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{path}:{self.line}:{self.column}:{where} {self.message}"


class StoryboardError(ValueError):
    """A storyboard that cannot be rendered; carries every problem found, in file order."""

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        super().__init__("\n".join(p.format(path) for p in self.problems))


Loc = tuple[str | int, ...]


def load_storyboard(path: Path | str, root: Path | str | None = None) -> Storyboard:
    """Read, validate and return a storyboard, or raise StoryboardError listing every problem.

    Media paths are relative to the storyboard's folder and must stay inside `root`
    (default: the current directory).
    """
    path = Path(path)
    root = Path(root) if root is not None else Path.cwd()
    text = read_storyboard_text(path)
    try:
        return _load(path, root, text)
    except RecursionError:  # a last line of defence: the limits above should make this unreachable
        raise StoryboardError(path, [_whole_file(f"nested too deeply to read (more than {MAX_YAML_DEPTH} levels)")]) from None


def _whole_file(message: str) -> Problem:
    return Problem(line=1, column=1, where="", message=message, quote_source=False)


def read_storyboard_text(path: Path) -> str:
    """The file's text: only a regular file, at most MAX_STORYBOARD_BYTES, read with a bound."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused just below).
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                kind = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
                raise StoryboardError(path, [_whole_file(f"{kind}: give a storyboard .yaml file")])
            raw = file.read(MAX_STORYBOARD_BYTES + 1)
    except IsADirectoryError:
        raise StoryboardError(path, [_whole_file("a folder: give a storyboard .yaml file")]) from None
    except OSError as error:
        raise StoryboardError(path, [_whole_file(f"cannot read the file: {error.strerror or error}")]) from None
    if len(raw) > MAX_STORYBOARD_BYTES:
        raise StoryboardError(path, [_whole_file(
            f"larger than {MAX_STORYBOARD_BYTES // (1024 * 1024)} MiB; a storyboard is a few kilobytes of YAML")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Not echoed: this may be any file on the machine, not one the user wrote.
        raise StoryboardError(path, [_whole_file("not UTF-8 text; a storyboard is a YAML text file")]) from None


def _load(path: Path, root: Path, text: str) -> Storyboard:
    parsed = _parse_repairing(path, text)
    try:
        storyboard = _validate(path, root, parsed.node, parsed.data, parsed.duplicates)
    except StoryboardError as error:
        # What the repaired text gets wrong besides its syntax slips, at the columns of the file as written; a line
        # that holds a control character is never quoted back (printed, the character would act on the terminal).
        unquotable = {slip.line for slip in parsed.slips if not slip.quote_source}
        others = [_unshift(p, parsed.shifts) for p in error.problems]
        others = [p.model_copy(update={"quote_source": False}) if p.line in unquotable else p for p in others]
        raise StoryboardError(path, [*parsed.slips, *others]) from None
    if parsed.slips:
        raise StoryboardError(path, parsed.slips)
    return storyboard


def _validate(path: Path, root: Path, node: yaml.Node | None, data: Any, duplicates: list[Problem]) -> Storyboard:
    problems = list(duplicates)
    if not isinstance(data, dict):
        problems.append(_problem(node, (), "a storyboard is a mapping with `version`, `name` and `shots`"))
        raise StoryboardError(path, problems)
    if not {"version", "shots"} & set(data):
        # Some other YAML file (a config, a secret): its content is not repeated in any message.
        raise StoryboardError(path, [_whole_file(
            "not a storyboard: it has neither `version` nor `shots` (a storyboard is a mapping with `version`, "
            "`name` and `shots`)")])
    data = apply_preset(data)

    raw_shots = data.get("shots") if isinstance(data.get("shots"), list) else []
    problems += [_problem(node, loc, msg) for loc, msg in _duplicate_ids(raw_shots)]
    problems += [_problem(node, loc, msg, at_key=True) for loc, msg in _both_lengths(raw_shots)]
    context = {"base_dir": path.parent.resolve(), "root": root}
    try:
        storyboard = Storyboard.model_validate(data, context=context)
    except ValidationError as error:
        # (`duration` with `frames` is reported above, on the raw shots, at its second key.)
        problems += [_problem_from_pydantic(node, e) for e in error.errors() if e["type"] != "duration_and_frames"]
        # Still check the shots that are fine on their own, so one typo does not hide the rest.
        fps, family, max_segments = _partial_output(data)
        shots = _valid_shots(raw_shots, context)
        problems += [
            _problem(node, loc, msg) for loc, msg in _cross_check(shots, len(raw_shots), fps, family, max_segments)
        ]
        problems += [_problem(node, loc, msg) for loc, msg in _partial_model_checks(data, shots, context)]
        raise StoryboardError(path, problems) from None

    problems += [
        _problem(node, loc, msg)
        for loc, msg in _cross_check(
            list(enumerate(storyboard.shots)), len(storyboard.shots), storyboard.output.fps, storyboard.model.family,
            storyboard.model.max_segments,
        )
    ]
    problems += [_problem(node, loc, msg) for loc, msg in _model_rules(storyboard)]
    if problems:
        raise StoryboardError(path, problems)
    return storyboard


# Repairing syntax slips: after one, the text is repaired as the message says and read again, so one slip does not
# hide the others. Bounded: a storyboard is a few kilobytes, and each round parses the whole text again.
MAX_YAML_REPAIRS = 20
MAX_REPAIR_BYTES = 2 * 1024 * 1024
# Characters YAML does not allow in a file (control characters but tab and newlines, and a few more): PyYAML's set.
_NOT_IN_YAML = yaml.reader.Reader.NON_PRINTABLE
_LINE_BREAKS = re.compile("\r\n?|[\x85\u2028\u2029]")
_CONTROL_NAMES = {0x00: "NUL", 0x08: "backspace", 0x0C: "form feed", 0x1B: "escape", 0x7F: "delete"}
MAX_CHARACTER_PROBLEMS = 10


@dataclasses.dataclass(frozen=True)
class _Shift:
    """A repair moved the characters of `line` from `column` on (both 1-based, as written) by `delta` columns."""

    line: int
    column: int
    delta: int


@dataclasses.dataclass(frozen=True)
class _Slip:
    """A YAML syntax slip: the problem to report (None for one repaired silently), and the text repaired as the
    message suggests (None when no repair is sure enough to read on)."""

    problem: Problem | None
    repaired: str | None = None
    shifts: tuple[_Shift, ...] = ()


class _SlipError(Exception):
    def __init__(self, slip: _Slip):
        super().__init__(slip.problem.message if slip.problem else "")
        self.slip = slip


@dataclasses.dataclass
class _ParsedYaml:
    node: yaml.Node | None
    data: Any
    duplicates: list[Problem]  # duplicate keys, found before merge keys (`<<`) are folded in
    slips: list[Problem]  # syntax problems, each repaired to read on
    shifts: list[_Shift]  # where the repairs moved columns


def _parse_repairing(path: Path, text: str) -> _ParsedYaml:
    """Parse the storyboard; after a syntax slip, repair it as its message says and parse again, so that one
    round of `validate` reports every slip it can (and, once the repaired text reads, every other problem)."""
    # One kind of line break, as PyYAML counts lines (`\r\n`, `\r`, NEL, U+2028/9): the repairs below split and
    # join lines on `\n`, and a `\r`-only file would otherwise have them edit the wrong line.
    slips, text = _control_characters(_LINE_BREAKS.sub("\n", text))
    shifts: list[_Shift] = []
    rounds = max(1, min(MAX_YAML_REPAIRS, MAX_REPAIR_BYTES // max(len(text), 1)))
    for _ in range(rounds + 1):
        try:
            node, data, duplicates = _parse_yaml(path, text)
        except _SlipError as error:
            slip = error.slip
            if slip.problem is not None:
                problem = _unshift(slip.problem, shifts)
                if problem in slips:
                    break  # the repair did not take: stop rather than report it again
                slips.append(problem)
            if slip.repaired is None:
                break
            text = slip.repaired
            shifts += slip.shifts
            continue
        except StoryboardError as error:  # refused outright (nesting, alias bombs): nothing more is read
            raise StoryboardError(path, [*slips, *error.problems]) from None
        return _ParsedYaml(node=node, data=data, duplicates=duplicates, slips=slips, shifts=shifts)
    # Not read to its end: the slips found so far are all there is to say.
    raise StoryboardError(path, slips or [_whole_file("invalid YAML: it cannot be read; check its indentation and quotes")])


def _unshift(problem: Problem, shifts: list[_Shift]) -> Problem:
    """A problem found in repaired text, at the column of the text as written."""
    column = problem.column
    for shift in reversed(shifts):
        if shift.line == problem.line and column >= shift.column + shift.delta:
            column -= shift.delta
    return problem if column == problem.column else problem.model_copy(update={"column": max(column, 1)})


def _control_characters(text: str) -> tuple[list[Problem], str]:
    """Each character YAML refuses in a file (NUL, form feed, escape...), located; and the text with them blanked.
    The source line is not quoted: printed, the character would act on the terminal."""
    problems = []
    found = list(_NOT_IN_YAML.finditer(text))
    for match in found[:MAX_CHARACTER_PROBLEMS]:
        code = ord(match[0])
        name = f"U+{code:04X}" + (f", {_CONTROL_NAMES[code]}" if code in _CONTROL_NAMES else "")
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - text.rfind("\n", 0, match.start())
        problems.append(Problem(line=line, column=column, where="", quote_source=False, message=(
            f"invalid YAML: an invisible control character ({name}) is not allowed in a storyboard; delete it")))
    if len(found) > MAX_CHARACTER_PROBLEMS:
        problems[-1] = problems[-1].model_copy(update={"message": problems[-1].message + (
            f" ({len(found) - MAX_CHARACTER_PROBLEMS} more such characters follow: was a binary file renamed?)")})
    return problems, _NOT_IN_YAML.sub(" ", text) if found else text


def _parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any, list[Problem]]:
    """The node tree (with line/column marks), the data, and duplicate keys; a syntax slip raises _SlipError."""
    loader = None
    try:
        # SafeLoader: no Python tags, no object construction. Built inside the `try`: its reader checks characters.
        loader = yaml.SafeLoader(text)
        _check_depth(path, text)  # on the event stream, before PyYAML's recursive composer sees the text
        node = loader.get_single_node()
        if node is not None:
            nodes, size = _expanded_size(path, node, {}, set())
            message = None
            if nodes > MAX_YAML_NODES:
                message = f"the document expands to more than {MAX_YAML_NODES} nodes through aliases; refusing it"
            elif size > MAX_EXPANDED_BYTES:
                message = (f"the document expands to more than {MAX_EXPANDED_BYTES // (1024 * 1024)} MiB of text "
                           "through aliases; refusing it")
            if message:
                mark = node.start_mark
                raise StoryboardError(path, [Problem(line=mark.line + 1, column=mark.column + 1, where="", message=message)])
        duplicates = _duplicate_keys(node)  # before construction folds merge keys (`<<: *base`) into their mappings
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        raise _SlipError(_yaml_slip(error, text)) from None
    except yaml.YAMLError as error:
        raise _SlipError(_Slip(_whole_file(f"invalid YAML: {_safe(str(error))}"))) from None
    finally:
        if loader is not None:
            loader.dispose()
    return node, data, duplicates


def _yaml_slip(error: yaml.MarkedYAMLError, text: str) -> _Slip:
    """Where a YAML syntax error is, what to do about it (for the mistakes people make in storyboards), and the
    text with that done, when the fix is clear enough to read on."""
    mark = error.problem_mark or error.context_mark
    problem, context = error.problem or "", error.context or ""
    lines = text.splitlines()

    def slip(at: Any, message: str, repaired: str | None = None, shifts: tuple[_Shift, ...] = ()) -> _Slip:
        line, column = (at.line + 1, at.column + 1) if at is not None else (1, 1)
        return _Slip(Problem(line=line, column=column, where="", message=f"invalid YAML: {message}"), repaired, shifts)

    if isinstance(error, yaml.constructor.ConstructorError):
        return slip(mark, f"{_safe(context)} {_safe(problem)} (only plain YAML is allowed: no Python or custom tags)".strip())
    if "cannot start any token" in problem and "\\t" in problem and mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        if line[: mark.column].strip() or not line.strip():
            # A tab between or after values is white space to YAML; PyYAML refuses it. Read every such tab as a space.
            rows = [re.match(r"^([ \t]*)(.*)$", row) for row in text.split("\n")]
            repaired = "\n".join(row[1] + row[2].replace("\t", " ") if row[2].strip() else "" for row in rows)
            return _Slip(None, repaired if repaired != text else None)
        indent = _tab_indent_guess(lines, mark.line)
        return slip(mark, "a tab: YAML indents with spaces only; replace the tab with spaces",
                    *_reindented(text, mark.line, _line_shape(line.lstrip(" \t")), indent))
    at_line_start = mark is not None and mark.line < len(lines) and mark.column == _indent_of(lines[mark.line])
    unquoted = _unquoted_value(lines[mark.line]) if mark is not None and mark.line < len(lines) else None
    if problem == "mapping values are not allowed here" and mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        if unquoted is not None and ": " in unquoted.value:
            return slip(mark, f"`: ` inside a value starts a new key; quote the value: {_safe(unquoted.fixed.strip())}",
                        _replace_line(text, mark.line, unquoted.fixed), (_Shift(mark.line + 1, unquoted.column, 1),))
        if "{" in line[: mark.column]:
            return slip(mark, '`: ` inside a value starts a new key; quote the value, e.g. {prompt: "she says: hi"}')
        if ":" in line[_indent_of(line): mark.column]:
            return slip(mark, "`: ` after the value starts a new key: put the whole value inside the quotes")
        indentation = _indentation_slip(text, lines, mark.line)
        return indentation or slip(mark, "a key here is indented differently from the keys of its mapping above; "
                                         "line them up")
    if "expected <block end>" in problem and at_line_start:
        indentation = _indentation_slip(text, lines, mark.line)
        return indentation or slip(mark, "this line does not line up with the block above it: indent it like the keys "
                                         "(or the `- ` list items) it belongs with")
    if "expected <block end>, but found '<scalar>'" in problem:
        return slip(mark, "text after a closing quote: put the whole value inside the quotes")
    if "cannot start any token" in problem and mark is not None:
        character = _quoted(text[mark.index]) if mark.index < len(text) else "this character"
        if unquoted is not None:
            return slip(mark, f"{character} cannot start an unquoted value; quote the value: "
                              f"{_safe(unquoted.fixed.strip())}",
                        _replace_line(text, mark.line, unquoted.fixed), (_Shift(mark.line + 1, unquoted.column, 1),))
        return slip(mark, f"{character} cannot start an unquoted value: put the value in quotes")
    if problem.startswith("could not find expected ':'") and error.context_mark is not None:
        start = error.context_mark
        return slip(start, "this line is neither `key: value` nor a `- ` list item: add its key, or, if it continues the "
                           "value above, indent it deeper than that value's key")
    if problem.startswith("found undefined alias"):
        name = _safe(problem.removeprefix("found undefined alias").strip(" '"))
        return slip(mark, f"`*{name}` refers to no anchor: define `&{name}` on a value above it, or quote the text if "
                          "the `*` is meant as text")
    if re.fullmatch(r"expected <block end>, but found '[\]}]'", problem):
        return slip(mark, f"a `{problem[-2]}` with no `{'[' if problem[-2] == ']' else '{'}` open before it: remove it")
    if problem == "but found another document":
        return slip(mark, "a storyboard is one YAML document: remove this `---` (or split the file in two)")
    if "while scanning a quoted scalar" in context and error.context_mark is not None:
        start = error.context_mark
        return slip(start, f"the quote opened on line {start.line + 1}, column {start.column + 1} is never closed; close it")
    if context.startswith("while parsing a flow") and error.context_mark is not None:
        start = error.context_mark
        opener = lines[start.line][start.column] if start.line < len(lines) else "["
        closer = {"[": "]", "{": "}"}.get(opener, "]")
        return slip(start, f"the `{opener}` opened on line {start.line + 1}, column {start.column + 1} is not closed: "
                           f"separate items with `,` and end with `{closer}`")
    return slip(mark, _safe(" ".join(filter(None, [context, problem])), limit=4 * MAX_ECHOED_CHARACTERS))


@dataclasses.dataclass(frozen=True)
class _LineShape:
    """What a line of block YAML starts with: its indentation, a list item's dash, a key."""

    indent: int
    dash: int | None  # column of `- ` (0-based), for a list item
    key: str | None
    key_column: int  # where the key (or the item's content) starts
    opens: bool  # a key with nothing after it: the lines below may be indented deeper

    @property
    def label(self) -> str:
        if self.dash is not None:
            return f"`- {_safe(self.key)}`" if self.key else "the list item `-`"
        return f"`{_safe(self.key)}:`"


MAX_SHAPE_CHARACTERS = 500
_SHAPE = re.compile(r"^( *)((?:-(?: +|$))*)(.*)$")
_KEY = re.compile(r"""^([^\s#'"{\[\]:,&*!|>%@`-][^#:]*?|-[^\s#:][^#:]*?|"[^"]*"|'[^']*')\s*:(?:\s+(.*))?$""")


def _line_shape(line: str) -> _LineShape | None:
    """The shape of a line that holds a key or a list item; None for blank lines, comments and text."""
    found = _SHAPE.match(line[:MAX_SHAPE_CHARACTERS])  # keys are short: a long line costs no more
    indent, dashes, rest = len(found[1]), found[2], found[3]
    if not rest.strip() and not dashes or rest.startswith("#"):
        return None
    key = _KEY.match(rest)
    if key is None and not dashes:
        return None
    value = (key[2] or "").split(" #")[0].strip() if key else rest
    return _LineShape(indent=indent, dash=indent if dashes else None, key=key[1] if key else None,
                      key_column=indent + len(dashes), opens=key is not None and not value)


def _indentation_slip(text: str, lines: list[str], number: int) -> _Slip | None:
    """A line indented to no level of the block above it: what it is out of line with, and the fix.

    The levels it could have are those of the lines above that are still open: the nearest key (a sibling), the
    list item it may continue, and their parents. It most likely meant the nearest (ties: the deeper one)."""
    here = _line_shape(lines[number])
    if here is None:
        return None
    item = here.dash is not None
    levels: list[tuple[int, int, _LineShape]] = []  # (column, line number, shape) a line like this one may take
    limit = math.inf
    for above in range(number - 1, -1, -1):
        shape = _line_shape(lines[above])
        if shape is None:
            continue
        if item and shape.dash is not None and shape.dash < limit:
            levels.append((shape.dash, above, shape))
        if not item and shape.key is not None and shape.key_column < limit:
            levels.append((shape.key_column, above, shape))
        limit = min(limit, shape.indent)
        if limit == 0:
            break
    if not levels:
        return None
    column, above, shape = min(levels, key=lambda level: (abs(level[0] - here.indent), -level[0]))
    if column == here.indent:
        return None
    spaces = lambda n: f"{n} space{'' if n == 1 else 's'}"  # noqa: E731
    if here.indent < column:
        how = f"less than {shape.label} on line {above + 1} ({spaces(column)})"
    else:
        how = f"more than {shape.label} on line {above + 1} ({spaces(column)})"
        if not item and not shape.opens:
            how += ", which has a value and so cannot hold keys"
    what = "continue that list" if item else f"keep it in the same mapping as {shape.label}"
    fix = f"indent it {spaces(column)}" if column else "start it at the beginning of the line"
    message = f"{here.label} is indented {spaces(here.indent)}, {how}: {fix} to {what}"
    repaired, shifts = _reindented(text, number, here, column)
    return _Slip(Problem(line=number + 1, column=here.indent + 1, where="", message=f"invalid YAML: {message}"),
                 repaired, shifts)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@dataclasses.dataclass(frozen=True)
class _Unquoted:
    """A `key: value` line whose value is not quoted, and the line with the value quoted."""

    value: str
    column: int  # 1-based, where the value starts
    fixed: str


def _unquoted_value(line: str) -> _Unquoted | None:
    found = re.match(r"^(\s*(?:- )?)([^\s:#{\[][^:#]*?):\s+(.*)$", line[:MAX_SHAPE_CHARACTERS])
    if found is None or len(line) > MAX_SHAPE_CHARACTERS:
        return None
    value = found[3].rstrip()
    if not value or value.startswith(("\"", "'", "{", "[", "|", ">", "#")):
        return None
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return _Unquoted(value=value, column=found.start(3) + 1, fixed=f'{found[1]}{found[2]}: "{escaped}"')


def _tab_indent_guess(lines: list[str], number: int) -> int:
    """The indentation a tab-indented line most likely meant: under a key that opens a block, one level deeper;
    else that of the nearest key or item above."""
    for above in range(number - 1, -1, -1):
        shape = _line_shape(lines[above])
        if shape is not None:
            return shape.key_column + 2 if shape.opens else shape.key_column
    return 0


def _reindented(text: str, number: int, shape: _LineShape | None, new: int) -> tuple[str, tuple[_Shift, ...]]:
    """`text` with line `number` (0-based) moved to indentation `new`, with the lines nested under it when they
    line up with it as written (a key's block, a list item's further keys); and the shifts that makes."""
    rows = text.split("\n")
    old = len(rows[number]) - len(rows[number].lstrip(" \t"))
    delta = new - old
    shifts = []
    for index in range(number, len(rows)):
        row = rows[index]
        stripped = row.lstrip(" \t")
        depth = len(row) - len(stripped)
        if index > number and stripped and not stripped.startswith("#"):
            if depth <= old:
                break
            if index == number + 1 and shape is not None and not (shape.opens or shape.dash is not None
                                                                  and depth == shape.key_column):
                break  # not nested under it: that line is out of line by itself (and reported by itself)
        if index == number or stripped:
            rows[index] = " " * max(depth + delta if index > number else new, 0) + stripped
            shifts.append(_Shift(index + 1, depth + 1, len(rows[index]) - len(row)))
    return "\n".join(rows), tuple(shifts)


def _replace_line(text: str, number: int, line: str) -> str:
    rows = text.split("\n")
    rows[number] = line
    return "\n".join(rows)


def _check_depth(path: Path, text: str) -> None:
    # YAML parsers are state machines (no recursion): count nesting on the event stream, with
    # libyaml's parser where PyYAML has it (fast on a large scalar). Syntax errors are left to the
    # loader, which reports them with its own messages.
    depth = 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    mark = event.start_mark
                    raise StoryboardError(path, [Problem(
                        line=mark.line + 1, column=mark.column + 1, where="",
                        message=f"nested more than {MAX_YAML_DEPTH} levels deep; a storyboard needs a handful")])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return


def _expanded_size(path: Path, node: yaml.Node, memo: dict[int, tuple[int, int]], open_: set[int]) -> tuple[int, int]:
    """(nodes, bytes of scalar text) the document holds once its aliases are expanded.

    Aliases share nodes, so counting with a memo is linear while the totals are what
    validation would walk after expansion. A node reached again while it is still open is an
    alias to one of its own ancestors: a recursive document, refused.
    """
    if id(node) in open_:
        mark = node.start_mark
        raise StoryboardError(path, [Problem(
            line=mark.line + 1, column=mark.column + 1, where="",
            message="an alias refers to a node that contains it (a recursive document); storyboards cannot be recursive")])
    if id(node) in memo:
        return memo[id(node)]
    open_.add(id(node))
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    nodes, size = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
    for child in children:
        child_nodes, child_size = _expanded_size(path, child, memo, open_)
        nodes, size = nodes + child_nodes, size + child_size
    open_.discard(id(node))
    memo[id(node)] = nodes, size
    return nodes, size


def _duplicate_keys(node: yaml.Node | None, loc: Loc = ()) -> list[Problem]:
    # PyYAML keeps the last of two equal keys without a word; a user almost never means that.
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key, value in node.value:
            # A merge key (`<<: *base`) brings in keys that the mapping's own keys may override: not duplicates.
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    first = seen[key.value]
                    problems.append(
                        Problem(line=key.start_mark.line + 1, column=key.start_mark.column + 1, where=_dotted((*loc, key.value)),
                                message=f"duplicate key `{_safe(key.value)}` (first set on line {first}); keep one")
                    )
                else:
                    seen[key.value] = key.start_mark.line + 1
            problems += _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, index))
    return problems


def _locate(root: yaml.Node | None, loc: Loc) -> tuple[yaml.Node | None, Loc, yaml.Node | None]:
    """The deepest YAML node along `loc`, the part of `loc` that matched, and the key node of the last step."""
    node, matched, key_node = root, (), None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # The last of equal keys is the one the data holds: merged keys (`<<`) are folded in before the mapping's own.
            found = next((pair for pair in reversed(node.value)
                          if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == str(part)), None)
            if found is None:
                break
            key_node, node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            break
        matched = (*matched, part)
    return node, matched, key_node


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{_safe(str(part))}" if text else _safe(str(part)))
    return text


def _problem(root: yaml.Node | None, loc: Loc, message: str, at_key: bool = False) -> Problem:
    """A problem at `loc`'s value, or with `at_key` at its key (when the key, not its value, is what is wrong)."""
    node, matched, key_node = _locate(root, loc)
    if at_key and key_node is not None and matched == loc:
        node = key_node
    mark = node.start_mark if node is not None else None
    return Problem(
        line=mark.line + 1 if mark else 1, column=mark.column + 1 if mark else 1, where=_dotted(matched), message=message
    )


def _problem_from_pydantic(root: yaml.Node | None, error: dict) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        node, matched, key_node = _locate(root, loc)
        mark = (key_node or node).start_mark if (key_node or node) is not None else None
        return Problem(line=mark.line + 1 if mark else 1, column=mark.column + 1 if mark else 1,
                       where=_dotted(matched[:-1]), message=_unknown_key_message(loc))
    if kind == "missing":
        problem = _problem(root, loc[:-1], f"missing required key `{loc[-1]}`")
        # A new Problem, not a copy: its `where` (keys from the file) goes through the same escaping as every message.
        return Problem(line=problem.line, column=problem.column, where=_dotted(loc), message=problem.message)
    if kind == "string_pattern_mismatch":
        message = (f"{_quoted(error['input'])} is not a valid name: use lowercase letters, digits, `-` and `_`, "
                   "starting with a letter or digit, at most 64 characters")
    else:
        message = _value_message(loc, error)
    return _problem(root, loc, message)


def _shown(value: Any) -> str:
    """A value as the user wrote it in YAML, in backticks, safe to print (see `_safe`)."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "`null`"
    if isinstance(value, (dict, list)):
        return f"`{_safe(yaml.safe_dump(value, default_flow_style=True, width=1000).strip())}`"
    return f"`{_safe(str(value))}`"


# Control characters, and the invisible ones that reorder or hide text (zero widths, bidi controls, line separators).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
MAX_ECHOED_CHARACTERS = 80


def _escape_unprintable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def _safe(text: str, limit: int = MAX_ECHOED_CHARACTERS) -> str:
    """Text from the file as a message echoes it: control characters escaped as Python writes them (`\\x1b`,
    `\\n`), so no escape sequence or line break reaches the terminal, and at most `limit` characters of it."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    return _escape_unprintable(text)


def _quoted(value: Any) -> str:
    """A value in Python quotes (which escape control characters), at most MAX_ECHOED_CHARACTERS of it."""
    if isinstance(value, str) and len(value) > MAX_ECHOED_CHARACTERS:
        return f"{value[:MAX_ECHOED_CHARACTERS]!r}... ({len(value):,} characters)"
    return _safe(repr(value), limit=4 * MAX_ECHOED_CHARACTERS)


_NUMBER_WITH_UNIT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)


def _value_message(loc: Loc, error: dict) -> str:
    """A pydantic error about a value, rewritten to echo the value and suggest a fix."""
    kind, value, key = error["type"], error.get("input"), str(loc[-1]) if loc else "value"
    shown = _shown(value)
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
        whole = kind.startswith("int")
        match = _NUMBER_WITH_UNIT.match(value) if isinstance(value, str) else None
        if match and key == "duration":
            return (f"{shown} is not a number: `duration` is plain seconds, so write `duration: {match[1]}` "
                    "(seconds with an `s` are for keyframe positions, e.g. `at: \"2.5s\"`)")
        if match:
            return f"{shown} is not a number: write the number alone, e.g. `{key}: {match[1]}`"
        return f"{shown} is not {'a whole number' if whole else 'a number'}: write e.g. `{key}: {_example(loc)}`"
    if kind == "int_from_float":
        return f"{shown} is not a whole number: write e.g. `{key}: {int(value) if isinstance(value, float) else 1}`"
    if kind in ("bool_parsing", "bool_type"):
        return f"{shown} is not true or false: write `{key}: true` or `{key}: false`"
    if kind == "literal_error":
        options = _literal_options(loc)
        close = _closest(str(value), [str(o) for o in options])
        hint = f"; did you mean `{close}`?" if close else ""
        return f"{shown} is not one of {', '.join(f'`{o}`' for o in options)}{hint}"
    if kind == "string_too_short" and not value:
        field = _field_at(loc)
        required = field is not None and field.is_required()
        return f"`{key}` is empty: write some text" + ("" if required else f", or leave `{key}` out for its default")
    if kind == "too_short" and not value:
        return f"`{key}` is empty: give at least {error.get('ctx', {}).get('min_length', 1)} item"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(error.get("ctx", {}).values()), None)
        words = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than",
                 "less_than_equal": "at most"}[kind]
        return f"{shown} is out of range: `{key}` must be {words} {bound}"
    if kind in ("string_type", "list_type", "dict_type", "model_type", "model_attributes_type"):
        wanted = {"string_type": "text", "list_type": "a list", "dict_type": "a mapping",
                  "model_type": "a mapping of keys", "model_attributes_type": "a mapping of keys"}[kind]
        return f"{shown} is not {wanted}" + (" (quote it to make it text)" if kind == "string_type" else "")
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith("value_error") or kind == "assertion_error" or isinstance(value, (dict, list)) or value is None:
        return message
    return f"{message} (got {shown})"


def _example(loc: Loc) -> str:
    field = _field_at(loc)
    default = getattr(field, "default", None)
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return str(default)
    return "2" if loc and loc[-1] == "duration" else "1"


def _closest(value: str, options: list[str]) -> str | None:
    """The option a typo most likely meant: ignoring case, dashes and underscores first, then by similarity."""
    def normal(text: str) -> str:
        return re.sub(r"[-_\s]", "", text.lower())

    same = [option for option in options if normal(option) == normal(value)]
    if same:
        return same[0]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return close[0] if close else None


def _literal_options(loc: Loc) -> list:
    field = _field_at(loc)
    found: list = []

    def collect(annotation: Any) -> None:
        if typing.get_origin(annotation) is Literal:
            found.extend(typing.get_args(annotation))
        for arg in typing.get_args(annotation):
            collect(arg)

    if field is not None:
        collect(field.annotation)
    return found


def _field_at(loc: Loc):
    """The pydantic field a storyboard location names, or None."""
    model: type[BaseModel] | None = Storyboard
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in _keys(model):
            return None
        field = _keys(model)[part]
        model = _model_in(field.annotation)
    return field


def _unknown_key_message(loc: Loc) -> str:
    """An unknown key: a did-you-mean among the keys allowed here, or where the key belongs instead."""
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(key, allowed, n=1)
    key = _safe(key)
    if close:
        return f"unknown key `{key}`; did you mean `{close[0]}`? Allowed here: {', '.join(allowed)}"
    homes = [section for section, model in _KEY_HOMES if key in _keys(model) and model is not _model_at(loc[:-1])]
    if homes:
        return f"`{key}` does not go here: it belongs under `{homes[0]}` ({homes[0]}.{key}). Allowed here: {', '.join(allowed)}"
    return f"unknown key `{key}`. Allowed here: {', '.join(allowed)}"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    if not loc:
        return Storyboard
    field = _field_at(loc)
    return _model_in(field.annotation) if field is not None else None


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys a storyboard accepts at `loc`, read from the models."""
    model: type[BaseModel] | None = Storyboard
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list keeps the list's item model
        field = _keys(model).get(part) if model else None
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    if model is Transition:
        return ["crossfade"]
    return list(_keys(model))


def _keys(model: type[BaseModel]) -> dict:
    """A model's fields by the key a storyboard writes (a retake's `from` is the field `from_`)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


# Where each section's keys live, for "belongs under" hints on a key put at the wrong level.
_KEY_HOMES: list[tuple[str, type[BaseModel]]] = [
    ("model", ModelConfig), ("output", OutputConfig), ("defaults", Defaults), ("shots[]", Shot),
    ("shots[].segments", Segments), ("shots[].control", Control), ("shots[].keyframes[]", Keyframe),
    ("shots[].retakes[]", Retake),
]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _partial_output(data: dict) -> tuple[int | None, str, int]:
    """fps, family and max_segments from a storyboard that failed validation, where they are usable."""
    output, model = data.get("output"), data.get("model")
    fps = output.get("fps", OutputConfig.model_fields["fps"].default) if isinstance(output, dict) else 24
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        fps = None
    family = model.get("family", "ltxv") if isinstance(model, dict) else "ltxv"
    max_segments = model.get("max_segments", DEFAULT_MAX_SEGMENTS) if isinstance(model, dict) else DEFAULT_MAX_SEGMENTS
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        max_segments = DEFAULT_MAX_SEGMENTS
    return fps, family if family in MAX_WINDOW_FRAMES else "ltxv", max_segments


def _valid_shots(raw_shots: list, context: dict) -> list[tuple[int, Shot]]:
    shots = []
    for index, raw in enumerate(raw_shots):
        try:
            shots.append((index, Shot.model_validate(raw, context=context)))
        except ValidationError:
            pass  # already reported by the full validation
    return shots


def _both_lengths(raw_shots: list) -> list[tuple[Loc, str]]:
    """Shots with both `duration` and `frames`, at the second of the two (on the raw shots, so other mistakes of the
    shot do not hide it)."""
    problems = []
    for index, raw in enumerate(raw_shots):
        if isinstance(raw, dict) and "duration" in raw and "frames" in raw:
            second = [key for key in raw if key in ("duration", "frames")][-1]
            problems.append((("shots", index, second), _BOTH_LENGTHS))
    return problems


def _model_rules(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """The rules between model, output and shots: what the model can do, local model folders, hub ids."""
    return [*_check_model_features(storyboard), *_check_local_models(storyboard), *_check_hub_ids(storyboard)]


def _partial_model_checks(data: dict, shots: list[tuple[int, Shot]], context: dict) -> list[tuple[Loc, str]]:
    """The rules between model, output and shots (`_check_model_features`, `_check_local_models`) over the parts of a
    storyboard that failed validation which are valid on their own, so a mistake in a shot does not hide them."""
    model = _valid_part(ModelConfig, data.get("model", {}), context,
                        needed=("family", "preset", "checkpoint", "steps", "sigmas"))
    output = _valid_part(OutputConfig, data.get("output", {}), context, needed=())
    if model is None or output is None:
        return []  # reported by the full validation; the rules need both
    partial = Storyboard.model_construct(model=model, output=output, defaults=Defaults(), shots=[shot for _, shot in shots])
    indices = [index for index, _ in shots]
    return [
        (("shots", indices[loc[1]], *loc[2:]) if loc[:1] == ("shots",) else loc, message)
        for loc, message in _model_rules(partial)
    ]


def _valid_part(model: type[BaseModel], raw: Any, context: dict, needed: tuple[str, ...]) -> Any:
    """`raw` validated as `model`, its invalid keys left to their defaults (they are reported already); None when
    it is not a mapping, or a key that the rules depend on (`needed`) is invalid."""
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as error:
        bad = {e["loc"][0] for e in error.errors() if e["loc"]}
    if bad & set(needed):
        return None
    try:
        return model.model_validate({key: value for key, value in raw.items() if key not in bad}, context=context)
    except ValidationError:
        return None


def _duplicate_ids(raw_shots: list) -> list[tuple[Loc, str]]:
    # On the raw shots, so a duplicate is reported even when one of the pair has other errors.
    problems, first_seen = [], {}
    for index, raw in enumerate(raw_shots):
        shot_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(shot_id, str):
            continue
        if shot_id in first_seen:
            problems.append(
                (("shots", index, "id"), f"duplicate shot id `{_safe(shot_id)}` (also shots[{first_seen[shot_id]}]); ids must be unique")
            )
        first_seen.setdefault(shot_id, index)
    return problems


def _cross_check(
    shots: list[tuple[int, Shot]], shot_count: int, fps: int | None, family: str, max_segments: int
) -> list[tuple[Loc, str]]:
    """Rules that span fields: frame bounds, long-take segments and transitions that fit their shots."""
    problems: list[tuple[Loc, str]] = []
    if fps is None:
        return problems

    frames_by_index = {index: snap_frames(shot.requested_frames(fps)) for index, shot in shots}
    shots_by_index = dict(shots)
    for index, shot in shots:
        frames = frames_by_index[index]
        problems += _check_segments(index, shot, frames, fps, family, max_segments)
        problems += _check_retakes(index, shot, frames, fps, family)
        most = min(frames, MAX_KEYFRAMES)
        if len(shot.keyframes) > most:
            # Every keyframe conditions the render: thousands on a short shot validate in a second and never render.
            problems.append((("shots", index, "keyframes"),
                             f"{len(shot.keyframes)} keyframes on a {frames}-frame shot: give at most {most} (one a "
                             f"frame, at most {MAX_KEYFRAMES} a shot); remove some, or lengthen the shot"))
        for k, keyframe in enumerate(shot.keyframes if len(shot.keyframes) <= most else []):
            position = resolve_position(keyframe.at, fps, frames)
            if position > frames - 1:
                problems.append((("shots", index, "keyframes", k, "at"),
                                 f"{_as_written(keyframe.at, position)} is past the shot's last frame"
                                 f"{_last_frame(keyframe.at, frames, fps)}"))
        if shot.transition.kind == "crossfade":
            fade = seconds_to_frames(shot.transition.seconds, fps)
            if index == shot_count - 1:
                problems.append((("shots", index, "transition"),
                                 "the last shot has no next shot to crossfade into; use `cut` or remove `transition`"))
            elif fade < 1:
                problems.append((("shots", index, "transition"),
                                 f"a {shot.transition.seconds}s crossfade is less than one frame at {fps} fps"))
            else:
                next_frames = frames_by_index.get(index + 1, frames)
                previous = shots_by_index.get(index - 1)
                fade_in = (seconds_to_frames(previous.transition.seconds, fps)
                           if previous is not None and previous.transition.kind == "crossfade" else 0)
                if fade < min(frames, next_frames) and 0 < fade_in < frames and fade_in + fade > frames:
                    # Each crossfade fits on its own, but the one in and the one out overlap inside this shot;
                    # stitching would fail after every shot had rendered.
                    room = math.floor((frames - fade_in) / fps * 100) / 100  # seconds left for the fade out
                    problems.append((("shots", index, "transition"),
                                     f"the crossfade into this shot ({fade_in} frames) and this "
                                     f"{shot.transition.seconds:g}s crossfade out of it ({fade} frames at {fps} fps) "
                                     f"overlap inside its {frames} frames: together they may take at most {frames} "
                                     f"frames; shorten a crossfade (here at most {{crossfade: {room:g}}}) or lengthen "
                                     "the shot"))
                elif fade >= min(frames, next_frames):
                    # In seconds, as the storyboard gives crossfades; frames in brackets.
                    longest = (min(frames, next_frames) - 1) / fps
                    problems.append((("shots", index, "transition"),
                                     f"a {shot.transition.seconds:g}s crossfade ({fade} frames at {fps} fps) must be "
                                     f"shorter than both shots it joins ({frames / fps:.2f}s and {next_frames / fps:.2f}s); "
                                     f"use at most {{crossfade: {math.floor(longest * 100) / 100:g}}}"))
    return problems


def _check_retakes(index: int, shot: Shot, frames: int, fps: int, family: str) -> list[tuple[Loc, str]]:
    """A shot's retakes: each window inside the shot, at least one latent frame wide, fitting one model window with
    its context, and no two windows overlapping."""
    problems: list[tuple[Loc, str]] = []
    windows: list[tuple[int, int, int]] = []  # (first, end, retake number) of the valid ones so far
    for k, retake in enumerate(shot.retakes):
        loc = ("shots", index, "retakes", k)
        first, end = retake.window(fps, frames)
        if first >= frames:
            problems.append(((*loc, "from"), f"{_as_written(retake.from_, first)} is past the shot's last frame"
                                             f"{_last_frame(retake.from_, frames, fps)}"))
            continue
        if end > frames:
            problems.append(((*loc, "to"), f"{_as_written(retake.to, end)} is past the shot's end ({frames} frames"
                                           f"{f', {frames / fps:.2f}s' if _in_seconds(retake.to) else ''}: frames "
                                           f"0-{frames - 1}); use `to: end` to reach the last frame"))
            continue
        if end <= first:
            problems.append(((*loc, "to"), f"`to` (frame {end}) must come after `from` (frame {first}); "
                                           f"{_wider(first, frames)}"))
            continue
        if end - first < TEMPORAL_COMPRESSION:
            problems.append(((*loc, "to"), f"the window is frames {first}-{end - 1} ({end - first} frames): a "
                                           f"retake must be at least one latent frame ({TEMPORAL_COMPRESSION} frames) "
                                           f"wide; {_wider(first, frames)}"))
            continue
        if retake_layout(first, end, frames, family, MAX_WINDOW_FRAMES[family]) is None:
            problems.append(((*loc, "to"), f"frames {first}-{end - 1} with the frames held around them do not fit one "
                                           f"{family} window ({MAX_WINDOW_FRAMES[family]} frames); split it into "
                                           "shorter retakes"))
            continue
        for other_first, other_end, other in windows:
            if first < other_end and other_first < end:
                # Named by its path, as the problem's own place is (`retakes[1]`), never "retake 1".
                problems.append(((*loc, "from"), f"the window (frames {first}-{end - 1}) overlaps the window of "
                                                 f"retakes[{other}] (frames {other_first}-{other_end - 1}); windows of "
                                                 "one shot must not overlap: merge them or move one"))
                break
        else:
            windows.append((first, end, k))
    return problems


def _in_seconds(position: Any) -> bool:
    return isinstance(position, str) and position.endswith("s")


def _as_written(position: Any, frame: int) -> str:
    """A position in the unit the storyboard wrote it, with its frame: `4s (frame 96)`, or `frame 96`."""
    return f"{position} (frame {frame})" if _in_seconds(position) else f"frame {frame}"


def _last_frame(position: Any, frames: int, fps: int) -> str:
    """The shot's last frame, in seconds too when the position was written in seconds: `, 3s (frame 72)` or ` (72)`."""
    last = frames - 1
    return f", {round(last / fps, 2):g}s (frame {last})" if _in_seconds(position) else f" ({last})"


def _wider(first: int, frames: int) -> str:
    if first + TEMPORAL_COMPRESSION <= frames:
        return f"e.g. `to: {first + TEMPORAL_COMPRESSION}`"
    return f"e.g. `from: {frames - TEMPORAL_COMPRESSION}` and `to: end`"


def _check_segments(
    index: int, shot: Shot, frames: int, fps: int, family: str, max_segments: int
) -> list[tuple[Loc, str]]:
    """A long take's segments: they fit one model window, overlap less than their length, and are not too many."""
    layout = shot.segment_layout(family, frames)
    if layout is None:
        return []
    size, overlap = layout
    loc = ("shots", index, "segments")
    given = shot.segments or Segments()
    window = MAX_WINDOW_FRAMES[family]
    if size > window:
        return [((*loc, "frames"), f"segments of {size} frames are longer than one {family} window ({window} frames)")]
    if overlap >= size:
        if given.overlap is None:
            return [((*loc, "frames"), f"{size}-frame segments cannot hold the default {family} overlap of {overlap} "
                                       f"frames; set `overlap` (8n+1, at most {size - TEMPORAL_COMPRESSION})")]
        return [((*loc, "overlap"), f"an overlap of {overlap} frames must be shorter than the segments ({size} frames); "
                                    f"use at most {size - TEMPORAL_COMPRESSION}")]

    count = segment_count(frames, size, overlap)  # counted before any list of segments is built
    if count > max_segments:
        field = "frames" if shot.frames is not None else "duration"
        return [(("shots", index, field),
                 f"{frames} frames ({frames / fps:.1f}s) need {count} segments of {size} frames overlapping by "
                 f"{overlap}, more than model.max_segments ({max_segments}); shorten the shot, use longer segments, "
                 "or raise model.max_segments")]
    segments = split_take(frames, size, overlap)
    if given.prompts is not None and len(given.prompts) != len(segments):
        ranges = ", ".join(f"{start}-{start + length - 1}" for start, length in segments)
        return [((*loc, "prompts"),
                 f"{len(given.prompts)} prompts for {len(segments)} segments (shot frames {ranges}); give one prompt "
                 "per segment, or leave out `prompts` to use the shot's prompt for every segment")]
    return []
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


# Published LTX-2 pipeline repos whose scheduler ships `shift_terminal` off (the distilled ones); the dev ones and
# the tiny LTX-2 checkpoint ship it on.
_UNSTRETCHED_REPOS = {repo for g in GENERATIONS.values() for repo, kind in g.repos.items() if kind == "pipeline (distilled)"}


def _one_step_fails(model: ModelConfig) -> bool:
    """Whether `steps: 1` fails in diffusers: LTX-2 with the pipeline's own schedule, on a checkpoint whose scheduler
    stretches the schedule to end at `shift_terminal`.

    LTX2ConditionPipeline's schedule for one step is [1.0]; `stretch_shift_to_terminal` divides by 1 minus the last
    sigma, so the one timestep is NaN and `scheduler.step` fails to find it (IndexError, installed
    schedulers/scheduling_flow_match_euler_discrete.py:422). One step works everywhere else: given sigmas run
    unshifted (`ltx2.sigmas_as_given`), so does the refine pass (always given its sigmas), and LTX-Video's schedulers
    have no `shift_terminal`. A local folder says in its scheduler config; a hub id not published as distilled is
    taken to stretch, as LTX-2's dev checkpoints do.
    """
    if model.family != "ltx2" or model.steps != 1 or model.sigmas is not None:
        return False
    # With `checkpoint: tiny` a preset renders its repo's twin, which has that repo's scheduler.
    repo = PRESETS[model.preset].checkpoint if model.checkpoint == "tiny" and model.preset is not None else model.checkpoint
    folder = local_path(repo)
    if folder is None:
        return repo not in _UNSTRETCHED_REPOS
    try:
        config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError):
        return False  # not a loadable folder: `_check_local_models` reports it, or from_pretrained will
    return isinstance(config, dict) and bool(config.get("shift_terminal"))


def _check_model_features(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Rules between the model, the output and the shots: presets, two-pass, sound and controls."""
    problems: list[tuple[Loc, str]] = []
    model, output = storyboard.model, storyboard.output
    half_size_ok = output.width % HALF_SIZE_STEP == 0 and output.height % HALF_SIZE_STEP == 0
    size = f"{output.width}x{output.height}"

    if model.checkpoint in UNSUPPORTED_CHECKPOINTS:
        refused = UNSUPPORTED_CHECKPOINTS[model.checkpoint]
        problems.append((("model", "checkpoint"), f"{refused.name} is not supported: {refused.why}; {refused.instead}"))
    preset = PRESETS[model.preset] if model.preset is not None else None
    if model.sigmas is not None and len(model.sigmas) != model.steps:
        if preset is not None and model.sigmas == preset.sigmas:
            # The schedule is the preset's (which sets its steps too): the storyboard's `steps` is what to drop.
            problems.append((("model", "steps"),
                             f"`steps: {model.steps}` does not fit preset `{model.preset}`, whose distilled schedule "
                             f"(`sigmas`) has {len(model.sigmas)} steps: drop `steps` to use the preset's {preset.steps}, "
                             f"or give {model.steps} `sigmas` of your own"))
        else:
            problems.append((("model", "sigmas"),
                         f"{len(model.sigmas)} sigmas for {model.steps} steps: give one sigma per step, or `sigmas: null` "
                         "for the pipeline's own schedule"))
    if _one_step_fails(model):
        problems.append((("model", "steps"),
                         f"LTX-2 with `{model.checkpoint}` needs at least 2 denoising steps: its scheduler stretches the "
                         "pipeline's schedule to end at `shift_terminal`, which one step (at sigma 1.0) cannot do, and "
                         "diffusers fails mid-render; set `steps: 2` or more, or give the one step's noise level "
                         "(`sigmas: [1.0]`, used as given)"))
    for key, sigmas in (("sigmas", model.sigmas), ("refine_sigmas", model.refine_sigmas)):
        if sigmas is not None and any(a <= b for a, b in zip(sigmas, sigmas[1:])):
            problems.append((("model", key), "sigmas must go strictly down (highest noise first)"))
    if model.two_pass and not half_size_ok:
        problems.append((("model", "two_pass"),
                         f"two-pass rendering needs width and height multiples of {HALF_SIZE_STEP} (its first pass "
                         f"renders at half size); {size} is not"))
    if model.two_pass and default_upsampler(model) is None:
        problems.append((("model", "two_pass"),
                         "two-pass rendering needs a latent upsampler: set `model.upsampler` (a hub id or a local folder)"))

    audio = film_audio(storyboard)
    if audio == "generate" and model.family != "ltx2":
        problems.append((("output", "audio"),
                         "LTX-Video makes no sound: use `model.family: ltx2`, a music bed file, or `none`"))
    for index, shot in enumerate(storyboard.shots):
        if shot.mute and audio != "generate":
            problems.append((("shots", index, "mute"), "`mute` silences generated sound, and this film generates none"))
        if shot.control is None:
            continue
        where = ("shots", index, "control")
        if model.family != "ltx2":
            problems.append((where, "controls work through LTX-2's IC-LoRAs: set `model.family: ltx2` "
                                    "(LTX-Video has no IC-LoRA path in diffusers)"))
            continue
        if not half_size_ok:
            problems.append((where, f"a controlled shot needs width and height multiples of {HALF_SIZE_STEP} "
                                    f"(IC-LoRAs may read the control at half size); {size} is not"))
        if default_control_lora(model, shot.control) is None:
            problems.append((where, f"no default IC-LoRA for `{shot.control.kind}` without a preset: set `lora` "
                                    "(a hub id or a local .safetensors file)"))
    return problems


def _check_local_models(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Local checkpoint, upsampler and IC-LoRA paths exist and hold what the render loads, before any shot runs."""
    problems: list[tuple[Loc, str]] = []
    model = storyboard.model

    def missing(value: str, path: Path, what: str, hub_example: str) -> str:
        return (f"`{value}` is a local path and there is no {what} at {path.resolve()} (local paths are relative to "
                f"the folder ltx-flows runs in); fix the path, or give a hub id such as `{hub_example}`")

    def unopenable(value: str, error: RuntimeError | OSError) -> str:
        return f"`{_short(value)}` is a local path that cannot be opened: {path_error(error)}; fix the path"

    # Each check may meet a symlink loop or a name too long for the file system: a located problem, not a traceback.
    try:
        checkpoint = local_path(model.checkpoint)
        if checkpoint is not None:
            if not checkpoint.is_dir():
                problems.append((("model", "checkpoint"),
                                 missing(model.checkpoint, checkpoint, "folder", "Lightricks/LTX-Video-0.9.7-distilled")))
            elif not (checkpoint / "model_index.json").is_file():
                problems.append((("model", "checkpoint"),
                                 f"`{model.checkpoint}` ({checkpoint.resolve()}) is not a diffusers folder: it has no "
                                 "model_index.json; point at the folder that holds it"))
            else:
                problems += _unsupported_folder(model.checkpoint, checkpoint)
    except (RuntimeError, OSError) as error:
        problems.append((("model", "checkpoint"), unopenable(model.checkpoint, error)))
    try:
        upsampler = local_path(model.upsampler)
        if upsampler is not None and not upsampler.is_dir():
            problems.append((("model", "upsampler"),
                             missing(model.upsampler, upsampler, "folder", "Lightricks/LTX-2/latent_upsampler")))
    except (RuntimeError, OSError) as error:
        problems.append((("model", "upsampler"), unopenable(model.upsampler, error)))
    for index, shot in enumerate(storyboard.shots):
        try:
            lora = local_path(shot.control.lora) if shot.control is not None else None
            if lora is not None and not lora.is_file():
                problems.append((("shots", index, "control", "lora"),
                                 missing(shot.control.lora, lora, ".safetensors file", "owner/repo/file.safetensors")))
        except (RuntimeError, OSError) as error:
            problems.append((("shots", index, "control", "lora"), unopenable(shot.control.lora, error)))
    return problems


# Every hub repo ltx-flows knows (the presets' checkpoints, upsamplers and LoRAs are among them); refused ones aside.
_KNOWN_HUB_REPOS = sorted({repo for generation in GENERATIONS.values() for repo in generation.repos})
# A typo is a few characters; a longer difference is a name of its own (a fine-tune, a quantized copy).
_TYPO_EDITS = 2


def _hub_id_typo(value: str) -> str | None:
    """The known hub id a hub id that ltx-flows does not know was most likely meant to be, or None.

    Offline (no hub is asked): `owner/repo` is compared with the known repos, ignoring case, and counts as a typo
    when at most `_TYPO_EDITS` characters differ and its version numbers are the same (`0.9.6` for `0.9.7` is
    another model, not a typo). An unknown id far from every known one is taken as the user's own repo.
    """
    parts = value.split("/")
    owner_repo, rest = "/".join(parts[:2]), "/".join(parts[2:])
    if owner_repo in _KNOWN_HUB_REPOS or value in UNSUPPORTED_CHECKPOINTS:
        return None
    lowered = owner_repo.lower()
    for known in _KNOWN_HUB_REPOS:
        if re.findall(r"\d+", known) != re.findall(r"\d+", owner_repo):
            continue
        opcodes = difflib.SequenceMatcher(None, lowered, known.lower()).get_opcodes()
        edits = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal")
        if edits <= _TYPO_EDITS:
            return f"{known}/{rest}" if rest else known
    return None


def _check_hub_ids(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Hub ids one typo away from a known one (`Lightricks/LTX-Video-0.9.7-distiled`): a did-you-mean at validation,
    not a failed download at render time."""
    model = storyboard.model
    values: list[tuple[Loc, str | None]] = [
        (("model", "checkpoint"), model.checkpoint), (("model", "upsampler"), model.upsampler),
    ]
    values += [(("shots", index, "control", "lora"), shot.control.lora)
               for index, shot in enumerate(storyboard.shots) if shot.control is not None]
    problems: list[tuple[Loc, str]] = []
    for loc, value in values:
        if value is None or model_source(value).kind != "hub":
            continue
        meant = _hub_id_typo(value)
        if meant is not None:
            problems.append((loc, f"`{value}` is one typo away from the hub id `{meant}`, and not one ltx-flows knows; "
                                  f"did you mean `{meant}`? (see docs/models.md for repos of your own)"))
    return problems


def _unsupported_folder(value: str, folder: Path) -> list[tuple[Loc, str]]:
    """A local checkpoint folder in the layout of a refused generation (LTX-2.5: `transformer_full/`,
    `diffusion_decoder/`), refused as its hub ids are: the folder would load, then render the wrong model."""
    for subfolder, refused in UNSUPPORTED_SUBFOLDERS.items():
        if (folder / subfolder).is_dir():
            return [(("model", "checkpoint"),
                     f"`{value}` ({folder.resolve()}) is an {refused.name} folder (it has `{subfolder}/`), and "
                     f"{refused.name} is not supported: {refused.why}; {refused.instead}")]
    return []


def storyboard_json_schema() -> dict:
    """The JSON Schema editors check storyboards with (yaml-language-server, VS Code): the models' schema, plus
    the cross-field rules JSON Schema can express, hover text in Markdown, examples and snippets."""
    schema = Storyboard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ltx-flows storyboard"
    defs = schema["$defs"]
    for key in ("width", "height"):
        defs["OutputConfig"]["properties"][key]["multipleOf"] = SIZE_STEP
    # Exactly one of duration and frames.
    defs["Shot"]["anyOf"] = [{"required": ["duration"]}, {"required": ["frames"]}]
    defs["Shot"]["not"] = {"required": ["duration", "frames"]}
    # No generated sound when the film's family is ltxv: `family: ltxv`, or no `family` and no preset of another
    # family (a preset sets the family, e.g. `preset: ltx2-distilled` alone is ltx2). An `if` without `required`
    # would also match where `family` is left out.
    ltxv_presets = [name for name, preset in PRESETS.items() if preset.family == "ltxv"]
    schema["if"] = {"anyOf": [
        {"not": {"required": ["model"]}},
        {"required": ["model"], "properties": {"model": {"anyOf": [
            {"required": ["family"], "properties": {"family": {"const": "ltxv"}}},
            {"not": {"required": ["family"]}, "properties": {"preset": {"enum": [*ltxv_presets, None]}}},
        ]}}},
    ]}
    schema["then"] = {"properties": {"output": {"properties": {"audio": {
        "not": {"const": "generate"},
        "markdownDescription": "LTX-Video makes no sound: `generate` needs `model.family: ltx2`.",
    }}}}}
    defs["Keyframe"]["properties"]["at"]["examples"] = ["start", "end", "2.5s", 48]
    preset = defs["ModelConfig"]["properties"]["preset"]
    preset["markdownEnumDescriptions"] = [getattr(PRESETS[name], "description", "") for name in PRESETS]
    preset["enumDescriptions"] = [_plain(text) for text in preset["markdownEnumDescriptions"]]
    defs["Shot"]["properties"]["transition"]["defaultSnippets"] = [
        {"label": "crossfade", "description": "Fade into the next shot over SECONDS", "body": {"crossfade": "^${1:0.5}"}},
        {"label": "cut", "description": "Cut straight to the next shot", "body": "cut"},
    ]
    _editor_hints(schema)
    return schema


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def _editor_hints(node: Any) -> None:
    """Hover text as Markdown (plain `description` for other tools), and one clean entry per nullable field.

    Pydantic gives each field a title and nullable fields `anyOf: [X, null]`; editors show both as
    "Duration || Duration". The key names the field well enough, and `type: [X, "null"]` is one entry.
    """
    if isinstance(node, list):
        for item in node:
            _editor_hints(item)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        for field in properties.values():
            if isinstance(field, dict):
                field.pop("title", None)
                options = field.get("anyOf")
                if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
                    other = next(option for option in options if option != {"type": "null"})
                    if isinstance(other.get("type"), str):
                        del field["anyOf"]
                        field.update({**other, "type": [other["type"], "null"]})
                        if "enum" in field:
                            field["enum"] = [*field["enum"], None]
    if isinstance(node.get("description"), str) and "body" not in node:  # (a snippet's description is plain)
        node.setdefault("markdownDescription", node["description"])
        node["description"] = _plain(node["description"])
    for value in node.values():
        _editor_hints(value)
