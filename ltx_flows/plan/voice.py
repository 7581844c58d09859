"""A shot's voice in the plan: where its line plays (frames, seconds and LTX-2 audio tokens), what is held, and
what the line adds to the shot's content hash (only where a shot has a voice: other shots hash as before)."""

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..files import file_sha256
from ..storyboard.models import Shot
from ..storyboard.voice import Voice

# LTX-2 makes 25 audio latents a second (16 kHz mel frames every 160 samples, 4 to a latent); `ltx2.audio_tokens`
# counts them from the loaded pipeline, which agrees for every published checkpoint and the tiny twin.
AUDIO_TOKENS_PER_SECOND = 25


class VoicePlan(BaseModel):
    """A shot's line: shot frames [start_frame, end_frame) (the last one partly), audio tokens [first_token,
    last_token) held clean while LTX-2 generates (`follows`), and how it is mixed."""

    file: Path
    sha256: str
    text: str | None
    start_frame: int
    end_frame: int
    seconds: float  # the line's own length
    first_token: int
    last_token: int
    gain: float  # dB on the line
    ambience: float | None  # dB on LTX-2's own sound outside the line; None: muted
    # LTX-2 generates the picture to the line; LTX-Video cannot, so the line is only laid in as sound.
    follows: bool

    def describe(self) -> str:
        """For `ltx-flows plan`: the line, its span in frames and audio tokens, and what is held."""
        span = f"{self.file.name} frames {self.start_frame}-{self.end_frame - 1}"
        if not self.follows:
            return f"{span}, laid in as sound (LTX-Video cannot follow a voice)"
        return f"{span}, audio tokens {self.first_token}-{self.last_token - 1} held clean"

    def hash_inputs(self) -> dict:
        """What the line changes in the shot's clip (picture and sound); the transcript changes only captions."""
        return self.model_dump(mode="json", exclude={"file", "text"})


def plan_voice(shot: Shot, frames: int, fps: int, family: str, voice: Voice | None = None, offset: int = 0) -> VoicePlan | None:
    """The shot's line (or `voice`, a retake's, whose `at` counts from shot frame `offset`), in shot frames."""
    voice = voice if voice is not None else shot.voice
    if voice is None:
        return None
    start = offset + voice.start_frame(fps)
    seconds = voice.seconds()
    end_seconds = start / fps + seconds
    return VoicePlan(
        file=voice.file,
        sha256=file_sha256(voice.file),
        text=voice.text,
        start_frame=start,
        end_frame=min(frames, math.ceil(end_seconds * fps - 1e-9)),
        seconds=seconds,
        first_token=math.floor(start / fps * AUDIO_TOKENS_PER_SECOND),
        last_token=math.ceil(end_seconds * AUDIO_TOKENS_PER_SECOND - 1e-9),
        gain=voice.gain,
        ambience=None if shot.ambience == "mute" else float(shot.ambience),
        follows=family == "ltx2",
    )


def clip_sound_kind(audio: str | Path, mute: bool, voiced_film: bool) -> Literal["generate", "silent", "none"]:
    """What sound a shot's clip carries besides its line: LTX-2's own (`generate`), silence (a muted shot, or a film
    with voices whose sound is not generated: every clip then carries a track, so lines reach the film), or none."""
    if audio == "generate":
        return "silent" if mute else "generate"
    return "silent" if voiced_film else "none"


def film_has_voices(shots: list[Shot]) -> bool:
    """Some shot or retake has a line: every clip of the film then carries a track."""
    return any(shot.voice is not None or any(r.voice is not None for r in shot.retakes) for shot in shots)
