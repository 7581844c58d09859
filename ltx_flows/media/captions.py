"""Captions beside a film: `<film>.srt` and `<film>.vtt`, written by pysubs2 (times in milliseconds, rounded)."""

from dataclasses import dataclass
from pathlib import Path

from ..files import write_atomic


@dataclass(frozen=True)
class Cue:
    """One caption: its text, on screen from `start` to `end` seconds of the film."""

    start: float
    end: float
    text: str


def caption_paths(film: Path) -> tuple[Path, Path]:
    """Where a film's captions lie: `<film>.srt` and `<film>.vtt` beside it."""
    return film.with_suffix(".srt"), film.with_suffix(".vtt")


def write_captions(cues: list[Cue], film: Path) -> list[Path]:
    """Write `cues` as the film's .srt and .vtt (atomically); without cues, remove any old ones. Returns the paths
    written."""
    import pysubs2

    paths = caption_paths(film)
    if not cues:
        for path in paths:
            path.unlink(missing_ok=True)
        return []
    subtitles = pysubs2.SSAFile()
    for cue in cues:
        # A line break in a caption is a line break on screen (pysubs2 writes `\N` as one).
        subtitles.append(pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000),
                                          text=cue.text.replace("\n", "\\N")))
    for path, kind in zip(paths, ("srt", "vtt")):
        text = subtitles.to_string(kind)
        write_atomic(path, lambda partial, text=text: partial.write_text(text, encoding="utf-8"))
    return list(paths)
