"""The long-take segment cache: each finished segment of a take, kept so a failed or edited take resumes.

`segments/<shot>/<NN>-<hash>.mp4` holds a segment's frames losslessly (RGB H.264 at qp 0: it
decodes to exactly the frames that were generated, so a resumed take is bit for bit the take
rendered in one go), with a record beside it (`.mp4.json`: content hash, frames, format, size,
sha256). An LTX-2 segment's sound lies beside it, losslessly: `<NN>-<hash>.sound.npy` (the decoded
waveform, float32 (channels, samples), its rate in the record) and `<NN>-<hash>.audio.npy` (its final
audio latents, which the next segment holds as its sound's start), each with its size and sha256 in
the record. A segment is reused only when its record vouches for every file as it is now; a damaged
one is rendered again, and the log says which. Only files with ltx-flows' own names are ever
deleted from `segments/<shot>/`: anything else there is left alone.

No torch here: long_take.render_long_take calls these around its model calls. The records are `records.py`'s.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import write_array_atomic
from ..layout import FilmFolder, record_path, segment_sound_paths
from ..media.audio import Audio
from ..media.read import read_frames
from ..media.write import write_clip
from ..plan.planner import SegmentPlan, ShotPlan
from .records import discard, file_entry, read_array, read_record, remove_stale, vouches, write_record

log = logging.getLogger(__name__)

# What a record's `format` says; a file of another format (e.g. the crf 12 segments of earlier
# versions) is rendered again rather than trusted.
FORMAT = "h264rgb-lossless"


@dataclass(frozen=True)
class Segment:
    """A finished segment: its uint8 frames and, for LTX-2, its sound and the sound's audio latents."""

    frames: np.ndarray
    audio: Audio | None = None
    audio_latents: np.ndarray | None = None  # float32 (audio_tokens, features), as `generate.Clip` has them


def load_segment(film_dir: Path, segment: SegmentPlan, label: str, sound: bool = False) -> Segment | None:
    """The cached `segment`, or None when there is none that its record vouches for; `sound`: it must have its
    sound too (LTX-2 takes), else it is rendered again."""
    path = film_dir / segment.cache
    if not path.is_file() and not record_path(path).is_file():
        return None
    record = read_record(path)
    if record is None:
        log.warning("%s: %s has no readable record; rendering it again", label, segment.cache)
        return None
    expected = {"content_hash": segment.content_hash, "frames": segment.frames, "format": FORMAT}
    if any(record.get(key) != value for key, value in expected.items()):
        log.info("%s: %s was cached from other settings; rendering it again", label, segment.cache)
        return None
    if sound and not (all(isinstance(record.get(key), dict) for key in segment_sound_paths(path))
                      and isinstance(record["sound"].get("rate"), int)):
        log.info("%s: %s was cached without its sound; rendering it again", label, segment.cache)
        return None
    sounds = segment_sound_paths(path) if sound else {}
    if not vouches(record, path) or not all(vouches(record[key], file) for key, file in sounds.items()):
        log.warning("%s: cached %s is damaged (it is not the file its record describes); rendering it again",
                    label, segment.cache)
        return None
    frames = read_frames(path)
    if len(frames) != segment.frames:
        log.warning("%s: cached %s has %d frames, the plan says %d; rendering it again",
                    label, segment.cache, len(frames), segment.frames)
        return None
    log.info("%s: cached in %s", label, segment.cache)
    if not sound:
        return Segment(frames)
    audio = Audio(read_array(sounds["sound"]), record["sound"]["rate"])
    return Segment(frames, audio, read_array(sounds["audio_latents"]))


def save_segment(found: Segment, film_dir: Path, segment: SegmentPlan, fps: int) -> None:
    """Cache a finished segment's frames (and sound), then its record (so a record never vouches for a
    half-written file)."""
    path = film_dir / segment.cache
    path.parent.mkdir(parents=True, exist_ok=True)
    record_path(path).unlink(missing_ok=True)
    write_clip(found.frames, path, fps=fps, lossless=True)
    record = {"content_hash": segment.content_hash, "frames": len(found.frames), "format": FORMAT, **file_entry(path)}
    if found.audio is not None:
        sounds = segment_sound_paths(path)
        write_array_atomic(np.asarray(found.audio.samples, dtype=np.float32), sounds["sound"])
        write_array_atomic(np.asarray(found.audio_latents, dtype=np.float32), sounds["audio_latents"])
        for key, file in sounds.items():
            record[key] = file_entry(file)
        record["sound"]["rate"] = found.audio.rate
    write_record(record, path)


def discard_segment(film_dir: Path, segment: SegmentPlan) -> None:
    discard(film_dir / segment.cache)


def remove_stale_segments(shot: ShotPlan, film_dir: Path) -> None:
    """Delete segments of earlier versions of this take (other prompts, seeds, sizes): they would pile up night
    after night. The current segments, their records and sound stay."""
    remove_stale(FilmFolder(film_dir).segments(shot.id), [Path(segment.cache).name for segment in shot.segments])
