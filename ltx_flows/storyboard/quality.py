"""The quality policy of a storyboard: `qc:` at film level and per shot, and `takes:`.

`qc:` says which checks of a finished shot clip (`render/quality.py`) count, how far each may go, how many
times a failing shot is rendered again with a new seed (`retries`), and what a shot still failing does
(`on_fail`: `keep` it, flagged "needs review", or `fail` the storyboard). A shot's `qc:` overrides the
film's key by key; what neither sets keeps the defaults below. Every check's threshold is a number, or
`false` to turn that check off.

The defaults were calibrated on synthetic bad clips (tests/unit/render/test_quality.py): each fault scores
far past its threshold, the clean clip far below it. They flag only what is plainly broken.
"""

from dataclasses import dataclass, fields
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The checks and their default thresholds (a clip fails a check when its score is above the threshold).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "black": 0.25,  # fraction of frames that are black
    "frozen": 0.5,  # fraction of frame-to-frame steps where the picture does not change at all
    "flicker": 5.0,  # largest one-frame brightness spike, over the shot's own motion (see quality.flicker_score)
    "seams": 3.0,  # a long take's worst seam score, picture or sound (render/seams.py: about 1 is seamless)
    "clipping": 0.01,  # fraction of sound samples within 1 dB of full scale
    "silence": 0.5,  # longest silence (seconds) where the shot has sound; a missing track is silent throughout
    "text": 0.0,  # words read on screen (OCR) where none was asked for
}
CHECKS = tuple(DEFAULT_THRESHOLDS)
MAX_RETRIES = 10
MAX_TAKES = 16

Threshold = float | Literal[False]


class Qc(BaseModel):
    """`qc:` (film or shot): how finished shots are checked, and what a failing one does."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    retries: int | None = Field(
        None, ge=0, le=MAX_RETRIES,
        description="Renders of a failing shot with a new seed before it is flagged. Default 0.",
    )
    on_fail: Literal["keep", "fail"] | None = Field(
        None, description="A shot still failing after its retries: `keep` it flagged \"needs review\" (default), "
        "or `fail` the storyboard.",
    )
    black: Threshold | None = Field(None, description="Largest fraction of black frames (default 0.25); false: off.")
    frozen: Threshold | None = Field(
        None, description="Largest fraction of frame steps where nothing changes (default 0.5); false: off.")
    flicker: Threshold | None = Field(
        None, description="Largest one-frame brightness spike over the shot's own motion (default 5); false: off.")
    seams: Threshold | None = Field(
        None, description="Largest seam score of a long take, picture or sound (default 3); false: off.")
    clipping: Threshold | None = Field(
        None, description="Largest fraction of sound samples within 1 dB of full scale (default 0.01); false: off.")
    silence: Threshold | None = Field(
        None, description="Longest silence in seconds where the shot has sound (default 0.5); false: off.")
    text: Threshold | None = Field(
        None, description="Most words read on screen (OCR with tesseract; default 0); false: off.")


@dataclass(frozen=True)
class QcPolicy:
    """A shot's resolved `qc:`: its retries, what failing does, and each check's threshold (None: off)."""

    retries: int = 0
    on_fail: str = "keep"
    black: float | None = DEFAULT_THRESHOLDS["black"]
    frozen: float | None = DEFAULT_THRESHOLDS["frozen"]
    flicker: float | None = DEFAULT_THRESHOLDS["flicker"]
    seams: float | None = DEFAULT_THRESHOLDS["seams"]
    clipping: float | None = DEFAULT_THRESHOLDS["clipping"]
    silence: float | None = DEFAULT_THRESHOLDS["silence"]
    text: float | None = DEFAULT_THRESHOLDS["text"]

    def thresholds(self) -> dict[str, float]:
        """The checks that are on, with their thresholds."""
        return {name: getattr(self, name) for name in CHECKS if getattr(self, name) is not None}


def resolve_qc(film: Qc | None, shot: Qc | None) -> QcPolicy:
    """The shot's policy: its own keys, else the film's, else the defaults; `false` turns a check off."""
    values = {}
    for field in fields(QcPolicy):
        for layer in (shot, film):
            value = getattr(layer, field.name, None) if layer is not None else None
            if value is not None:
                values[field.name] = None if value is False else value
                break
    return QcPolicy(**values)
