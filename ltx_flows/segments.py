"""The long-take segment cache: each finished segment of a take, kept so a failed or edited take resumes.

`segments/<shot>/<NN>-<hash>.mp4` holds a segment's frames losslessly (RGB H.264 at qp 0: it
decodes to exactly the frames that were generated, so a resumed take is bit for bit the take
rendered in one go), with a record beside it (`.mp4.json`: content hash, frames, format, size,
sha256). A segment is reused only when its record vouches for the file as it is now; a damaged
one is rendered again, and the log says which. Only files with ltx-flows' own names are ever
deleted from `segments/<shot>/`: anything else there is left alone.

No torch here: generate.render_long_take calls these around its model calls.
"""

import json
import logging
import re
from pathlib import Path

import numpy as np

from .cache import sidecar
from .manifest import write_json_atomic
from .media import read_frames, write_clip
from .plan import SegmentPlan, ShotPlan, file_sha256

log = logging.getLogger(__name__)

# What a record's `format` says; a file of another format (e.g. the crf 12 segments of earlier
# versions) is rendered again rather than trusted.
FORMAT = "h264rgb-lossless"

# The names ltx-flows writes in segments/<shot>/: segments, their records, and partial files.
_OURS = re.compile(r"^\.?\d{2}-[0-9a-f]{16}(\.partial)?\.mp4(\.json)?(\.partial)?$")


def load_segment(film_dir: Path, segment: SegmentPlan, label: str) -> np.ndarray | None:
    """The cached frames of `segment`, or None when there are none that its record vouches for."""
    path = film_dir / segment.cache
    record_path = sidecar(path)
    if not path.is_file() and not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        log.warning("%s: %s has no readable record; rendering it again", label, segment.cache)
        return None
    expected = {"content_hash": segment.content_hash, "frames": segment.frames, "format": FORMAT}
    if any(record.get(key) != value for key, value in expected.items()):
        log.info("%s: %s was cached from other settings; rendering it again", label, segment.cache)
        return None
    try:
        damaged = record.get("bytes") != path.stat().st_size or record.get("sha256") != file_sha256(path)
    except OSError:
        damaged = True
    if damaged:
        log.warning("%s: cached %s is damaged (it is not the file its record describes); rendering it again",
                    label, segment.cache)
        return None
    frames = read_frames(path)
    if len(frames) != segment.frames:
        log.warning("%s: cached %s has %d frames, the plan says %d; rendering it again",
                    label, segment.cache, len(frames), segment.frames)
        return None
    log.info("%s: cached in %s", label, segment.cache)
    return frames


def save_segment(frames: np.ndarray, film_dir: Path, segment: SegmentPlan, fps: int) -> None:
    """Cache a finished segment's frames, then its record (so a record never vouches for a half-written file)."""
    path = film_dir / segment.cache
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar(path).unlink(missing_ok=True)
    write_clip(frames, path, fps=fps, lossless=True)
    write_json_atomic(
        {"content_hash": segment.content_hash, "frames": len(frames), "format": FORMAT,
         "bytes": path.stat().st_size, "sha256": file_sha256(path)},
        sidecar(path),
    )


def discard_segment(film_dir: Path, segment: SegmentPlan) -> None:
    path = film_dir / segment.cache
    sidecar(path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def remove_stale_segments(shot: ShotPlan, film_dir: Path) -> None:
    """Delete segments of earlier versions of this take (other prompts, seeds, sizes): they would pile up night
    after night. Only ltx-flows' own file names are candidates; the current segments and their records stay."""
    folder = film_dir / Path(shot.segments[0].cache).parent
    current = {Path(segment.cache).name for segment in shot.segments}
    current |= {sidecar(Path(name)).name for name in current}
    for path in folder.iterdir():
        if path.is_file() and _OURS.match(path.name) and path.name not in current:
            path.unlink()
