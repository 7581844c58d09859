"""A voice on a shot: `voice: lines/intro.wav` or `voice: {file, text, at, gain}`, what the line's file must be, and
the rules between a line and its shot (where it starts, how long it is, what it makes the shot last).

The line's file is decoded whole at validation (as music beds and keyframes are), so a damaged, empty or silent
line is named then, not found by a render. Any rate and channel layout decodes (8 kHz mono, 96 kHz 6-channel):
rendering resamples it to the film's 48 kHz and down-mixes it to stereo.
"""

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator, model_validator

from .frames import MIN_FRAMES, TEMPORAL_COMPRESSION, resolve_position
from .media_checks import decode_audio_file, media_path
from .problems import Loc, quoted

# A line whose loudest sample is below this is silence (a file written empty, a muted export).
SILENT_DBFS = -60.0
# The longest line: as long as the longest shot (models.MAX_SHOT_SECONDS).
MAX_LINE_SECONDS = 3600


@dataclass(frozen=True)
class LineInfo:
    """What decoding a line's file found: its length, rate, channels and loudest sample (dBFS)."""

    seconds: float
    rate: int
    channels: int
    peak_dbfs: float


@functools.lru_cache(maxsize=256)
def _inspect(path: Path, size: int, mtime_ns: int) -> LineInfo | str:
    found = decode_audio_file(path)
    if isinstance(found, str):
        return found
    peak_dbfs = 20 * math.log10(found.peak) if found.peak > 0 else -math.inf
    if peak_dbfs < SILENT_DBFS:
        return f"it is silent (its loudest sample is {peak_dbfs:.0f} dBFS, below {SILENT_DBFS:.0f}); record the line again"
    return LineInfo(seconds=found.seconds, rate=found.rate, channels=found.channels, peak_dbfs=peak_dbfs)


def inspect_line(path: Path) -> LineInfo | str:
    """The line's `LineInfo`, or why it cannot be a line; decoded once per version of the file."""
    try:
        stat_ = path.stat()
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    return _inspect(path, stat_.st_size, stat_.st_mtime_ns)


def line_problem(path: Path) -> str | None:
    found = inspect_line(path)
    if isinstance(found, str):
        return found
    if found.seconds > MAX_LINE_SECONDS:
        return f"it lasts {found.seconds:.0f}s, longer than the longest shot ({MAX_LINE_SECONDS}s)"
    return None


class Voice(BaseModel):
    """A recorded (or synthesized) line the shot is made to: LTX-2 generates the picture to it, and the film
    carries it as given. In YAML: a file (`voice: lines/intro.wav`) or `{file, text, at, gain}`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file: Path = Field(description="The line: a sound file (any rate and channels), relative to the storyboard's folder.")
    text: str | None = Field(None, min_length=1, description="The transcript: the line's caption in the film's .srt/.vtt.")
    at: int | str = Field(0, description='Where the line starts in the shot: a frame number or seconds ("0.5s").')
    gain: float = Field(0.0, ge=-60, le=24, description="dB applied to the line in the film's mix.")

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        return {"file": value} if isinstance(value, str) else value

    @field_validator("at", mode="before")
    @classmethod
    def _check_at(cls, value: Any) -> Any:
        if isinstance(value, str) and value in ("start", "end") or isinstance(value, bool):
            raise ValueError('`at` is a frame number (e.g. 12) or seconds (e.g. "0.5s"); 0 starts with the shot')
        if isinstance(value, int) and value < 0:
            raise ValueError(f"frame {value} is negative; frames count from 0")
        if isinstance(value, str) and not (value.endswith("s") and value[:-1].replace(".", "", 1).isdigit()):
            raise ValueError(f"{quoted(value)} is not a position: use a frame number (e.g. 12) or seconds (e.g. \"0.5s\")")
        return value

    @field_validator("file", mode="before")
    @classmethod
    def _resolve_file(cls, value: Any, info: ValidationInfo) -> Any:
        return media_path(value, info, line_problem, "cannot be a voice line")

    def start_frame(self, fps: int) -> int:
        return resolve_position(self.at, fps, 0)

    def seconds(self) -> float:
        """How long the line lasts (the file is decoded once per version)."""
        found = inspect_line(Path(self.file))
        if isinstance(found, str):
            raise ValueError(f"{self.file} {found}")
        return found.seconds


VoiceField = Annotated[
    Voice | None,
    WithJsonSchema({
        "description": "A line the shot is made to: a sound file, or `{file, text, at, gain}`.",
        "anyOf": [{"type": "string"}, Voice.model_json_schema(), {"type": "null"}],
    }),
]
Ambience = Annotated[
    float | Literal["mute"],
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": -60, "maximum": 24}, {"const": "mute"}]}),
]


def voiced_frames(voice: Voice, pad: float, fps: int) -> int:
    """A voiced shot without `duration`/`frames`: as long as its line (from `at`) plus `pad`, rounded UP to 8n+1
    frames (at least 9), so the line always fits."""
    needed = math.ceil((voice.start_frame(fps) / fps + voice.seconds() + pad) * fps - 1e-9)
    return max(MIN_FRAMES, -(-(needed - 1) // TEMPORAL_COMPRESSION) * TEMPORAL_COMPRESSION + 1)


def check_voice(index: int, shot: Any, frames: int, fps: int, family: str, longest: int) -> list[tuple[Loc, str]]:
    """A shot's line against the shot: it starts inside it and fits in it (a line longer than the longest take is
    refused as such); its retakes are regenerated to it, so none brings a line of its own."""
    problems = _check_retake_voices(index, shot, frames, fps)
    voice = shot.voice
    if voice is None or not isinstance(voice.file, Path) or not voice.file.is_absolute():
        return problems
    loc = ("shots", index, "voice")
    start = voice.start_frame(fps)
    seconds = voice.seconds()
    if start >= frames:
        return [((*loc, "at"), f"the line starts at frame {start} ({start / fps:.2f}s), past the shot's end "
                               f"({frames} frames, {frames / fps:.2f}s); move `at` inside the shot")]
    if seconds * fps > longest:
        return [((*loc, "file"), f"the line lasts {seconds:.1f}s, longer than the longest take this model allows "
                                 f"({longest} frames, {longest / fps:.1f}s with model.max_segments); split it over "
                                 "shots")]
    end = start / fps + seconds
    if end > frames / fps + 1e-9:
        given = "frames" if shot.frames is not None else "duration"
        return [((*loc, "file"), f"the line runs to {end:.2f}s but the shot lasts {frames / fps:.2f}s ({frames} "
                                 f"frames): lengthen the shot (or leave out `{given}`: a voiced shot then lasts its "
                                 "line), or move `at` earlier")]
    dubbed = [k for k, retake in enumerate(shot.retakes) if retake.voice is not None]
    return problems + [(("shots", index, "retakes", k, "voice"),
                        "a retake of a voiced shot is regenerated to the shot's own line, and two lines would play "
                        "at once: remove this `voice` (or move the line from the shot to its retakes)")
                       for k in dubbed]


def _check_retake_voices(index: int, shot: Any, frames: int, fps: int) -> list[tuple[Loc, str]]:
    """A retake's line starts inside its window and ends inside it."""
    problems = []
    for k, retake in enumerate(shot.retakes):
        voice = retake.voice
        if voice is None or not isinstance(voice.file, Path) or not voice.file.is_absolute():
            continue
        first, end = retake.window(fps, frames)
        end = min(end, frames)
        start = first + voice.start_frame(fps)
        finish = start / fps + voice.seconds()
        if start >= end or finish > end / fps + 1e-9:
            problems.append((("shots", index, "retakes", k, "voice"),
                             f"the line plays from {start / fps:.2f}s to {finish:.2f}s of the shot but the window is "
                             f"{first / fps:.2f}s-{end / fps:.2f}s (frames {first}-{end - 1}): widen the window "
                             "(`to`) or shorten the line"))
    return problems


def film_sound_rules(loudness: float | None, audio: Any, voiced: bool) -> list[tuple[Loc, str]]:
    """`output.loudness` needs a film with sound: generated, a music bed, or voices."""
    if loudness is not None and audio == "none" and not voiced:
        return [(("output", "loudness"), "this film has no sound to normalize (`output.audio: none` and no `voice`); "
                                         "remove `loudness`, or give the film sound")]
    return []


def voice_notice(storyboard: Any) -> str:
    """What `validate` adds for a valid storyboard whose voices the model cannot follow (LTX-Video): they are laid
    in as sound only."""
    voiced = [shot.id for shot in storyboard.shots if shot.voice is not None]
    if not voiced or storyboard.model.family == "ltx2":
        return ""
    return f"; LTX-Video cannot follow a voice: the lines of {', '.join(voiced)} are laid in as sound only"
