"""Records: the one store of what vouches for a clip, byte for byte.

Every clip ltx-flows keeps (a shot clip, a retake stage, a kept render, a long-take segment) has a record
beside it (`shots/<id>.mp4.json`, `layout.record_path`), so every process and every machine that shares the
render storage shares the cache, and deleting a clip is enough to have it rendered again. Records are written
after their clip and removed (with the clip) before a new render, so a record never vouches for a clip it did
not see finished.

A record holds the clip's sha256 and its frame count: counted from its packets for a shot clip just rendered
(the film that holds it is decoded whole before it is reported done), by decoding for kept renders and retake
stages. The files beside a clip (its sound latents `<clip>.audio.npy`, a segment's `.sound.npy`) are vouched
for by entries of the same record (`file_entry`). A clip damaged or replaced in place, even at the same size,
no longer matches and is rendered again, and the log names it.

No torch here: checking the cache stays instant.
"""

import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..files import file_sha256, write_json_atomic
from ..layout import SEGMENTS, audio_latents_path, record_path, segment_sound_paths
from ..media.read import decoded_frames

log = logging.getLogger(__name__)

# What is read from a clip's record besides what vouches for the bytes, and the types it must have: a retake
# stage's or kept render's (`write_clip_record`), and a shot clip's, which the manifest and the batch summary read.
# A record without one of these (hand-edited, or written by another version) is no record: the clip is rendered again.
STAGE_RECORD_KEYS: dict[str, tuple[type, ...]] = {"frames": (int,), "rendered_at": (str,)}
SHOT_RECORD_KEYS: dict[str, tuple[type, ...]] = {
    **STAGE_RECORD_KEYS, "attempts": (list,), "memory": (dict, type(None)), "render_seconds": (int, float),
    "rendered_by": (dict, type(None)),
}

# The names ltx-flows writes in `segments/<shot>/` and `retakes/<shot>/`: clips (`NN-<hash>.mp4`, a kept render
# `base-<hash>.mp4`), their records and sound, and partial files of an older ltx-flows. Only these are ever deleted
# there; anything else is left alone.
_OURS = re.compile(
    r"^\.?(base|\d{2})-[0-9a-f]{16}((\.partial)?\.mp4(\.json|\.audio\.npy)?|\.sound\.npy|\.audio\.npy)(\.partial)?$"
)


def file_entry(path: Path) -> dict:
    """What a record says of a file beside its clip: its size and sha256."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def vouches(entry: dict, path: Path) -> bool:
    """The file is there and is the file the record `entry` describes (`file_entry`)."""
    try:
        return entry.get("bytes") == path.stat().st_size and entry.get("sha256") == file_sha256(path)
    except OSError:
        return False


def read_record(clip: Path) -> dict | None:
    """The record beside `clip` as a JSON object, or None when there is none or it is not one (torn, not ours)."""
    try:
        record = json.loads(record_path(clip).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def cached_record(
    clip: Path, content_hash: str, frames: int | None = None, keys: dict[str, tuple[type, ...]] = SHOT_RECORD_KEYS
) -> dict | None:
    """The clip's record when the clip is there, whole, and was rendered from `content_hash`; else None.

    Whole means: the clip's sha256 is the one recorded when it was made, its sound latents
    (`<clip>.audio.npy`, when there are any) are the ones recorded with it, and (given `frames`)
    the record says it has that many frames. The record must also hold each of `keys` with one of
    its types (a shot clip's by default; `STAGE_RECORD_KEYS` for retake stages and kept renders).
    A clip that is there but does not match its record, or a record that is not what ltx-flows
    writes, is logged by name before the clip is rendered again.
    """
    try:
        size = clip.stat().st_size
        text = record_path(clip).read_text()
    except FileNotFoundError:
        return None  # no clip, or no record: nothing to say
    except OSError as error:
        log.warning("%s: its record cannot be read (%s): rendering it again", clip, error.strerror or error)
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        log.warning("%s: its record %s is not a JSON object (torn or not ltx-flows'): rendering it again",
                    clip, record_path(clip).name)
        return None
    if record.get("content_hash") != content_hash:
        return None  # the shot changed: nothing is wrong with the file
    wrong = [key for key, types in keys.items()
             if key not in record or not isinstance(record[key], types) or isinstance(record[key], bool)]
    if wrong:
        problem = f"its record lacks {', '.join(f'`{key}`' for key in wrong)} or holds something else there"
    elif record.get("bytes") != size:
        problem = f"it has {size} bytes, its record says {record.get('bytes')}"
    elif frames is not None and record.get("frames") != frames:
        problem = f"its record says {record.get('frames')} frames, the plan {frames}"
    elif not record.get("sha256"):
        problem = "its record has no sha256 (written by an older ltx-flows)"
    elif (latents := _latents_problem(clip, record)) is not None:
        problem = latents
    elif file_sha256(clip) != record["sha256"]:
        problem = "its sha256 differs from the one recorded when it was made (damaged or replaced in place)"
    else:
        return record
    log.warning("%s does not match its record (%s): rendering it again", clip, problem)
    return None


def _latents_problem(clip: Path, record: dict) -> str | None:
    """Why the sound latents beside `clip` are not the ones its record holds (a retake reads them), or None."""
    path = audio_latents_path(clip)
    recorded = record.get("audio_latents")
    try:
        present = path.is_file()
        if recorded is None:
            if not present:
                return None
            if "audio_latents" not in record:
                return f"its record does not cover {path.name} (written by an older ltx-flows)"
            return f"{path.name} is there but its record says the clip has none"
        if not present:
            return f"{path.name} is missing"
        if not isinstance(recorded, dict) or recorded.get("bytes") != path.stat().st_size \
                or recorded.get("sha256") != file_sha256(path):
            return f"{path.name} is not the file recorded with the clip (damaged or replaced)"
    except OSError as error:
        return f"{path.name} cannot be read ({error.strerror or error})"
    return None


def read_array(path: Path) -> np.ndarray:
    """An array that `write_array_atomic` wrote beside a clip (sound latents, a segment's sound); a file that does
    not read is named, with what to do."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise RuntimeError(f"{path} cannot be read ({error}); delete it and the record beside its clip "
                           "(.mp4.json) to render that clip again") from None


def clip_record(clip: Path, content_hash: str, frames: int) -> dict:
    """The record that vouches for `clip` as rendered from `content_hash`, with its `frames` as the caller counted them,
    and for its sound latents (`<clip>.audio.npy`) when it has any."""
    latents = audio_latents_path(clip)
    return {
        "content_hash": content_hash, "frames": frames, "bytes": clip.stat().st_size,
        "sha256": file_sha256(clip), "rendered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "audio_latents": file_entry(latents) if latents.is_file() else None,
    }


def write_record(record: dict, clip: Path) -> None:
    write_json_atomic(record, record_path(clip))


def write_clip_record(clip: Path, content_hash: str) -> dict:
    """Write `clip_record` beside the clip, its frames counted by decoding it; returns it."""
    record = clip_record(clip, content_hash, decoded_frames(clip))
    write_record(record, clip)
    return record


def clip_files(clip: Path) -> list[Path]:
    """The clip and what ltx-flows writes beside it: its record first (so removing them in order never leaves it
    vouching for a file half gone), the clip, its sound latents; a long-take segment's sound files too."""
    files = [record_path(clip), clip, audio_latents_path(clip)]
    if clip.parent.parent.name == SEGMENTS:
        files.extend(segment_sound_paths(clip).values())
    return files


def discard(clip: Path) -> None:
    """Remove a clip with its record and what lies beside it (see `clip_files`)."""
    for path in clip_files(clip):
        path.unlink(missing_ok=True)


def remove_stale(folder: Path, current: list[str]) -> None:
    """Delete the clips of `folder` (`segments/<shot>/`, `retakes/<shot>/`) that are not among the `current` names,
    with their records and sound, so earlier versions of a take or retakes do not pile up night after night. Only
    ltx-flows' own file names are candidates."""
    keep = {path.name for name in current for path in clip_files(folder / name)}
    for path in folder.iterdir():
        if path.is_file() and _OURS.match(path.name) and path.name not in keep:
            path.unlink()
