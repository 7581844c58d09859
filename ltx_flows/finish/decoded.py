"""What a batch has already decoded, so films made of the same clips do not decode them again.

Variants of a storyboard (and storyboards of one batch) often share every clip: each film still gets its own
stitch, check and review page, but the decodes behind them depend only on the bytes decoded, so a batch keeps
them here, owned by its scheduling loop and handed to each film's finishing (plain dicts: a lost race between
two stitch threads only decodes once more).
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..media.read import VideoInfo


@dataclass
class Decoded:
    """Results of decodes this batch made, keyed by the sha256 of the bytes decoded."""

    # sha256 of a stitched film that decoded whole -> its frame count: a film stitched to the same bytes decodes
    # to the same frames, which is the stitch's check (media/stitch.py).
    films: dict[str, int] = field(default_factory=dict)
    # (clip sha256, frames, fps) -> the review page's filmstrip of that clip (finish/review.py): the same bytes
    # make the same pictures.
    strips: dict[tuple[str, int, float], str] = field(default_factory=dict)
    # What a film was stitched from (each clip's sha256 with its join, the fps and crf) -> the film this batch
    # stitched from it and its info as renamed into place (finish/film.py): a film of the same clips is a copy.
    stitched: dict[tuple, tuple[Path, VideoInfo]] = field(default_factory=dict)
