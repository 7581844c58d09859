"""The shot cache: a clip is reused while the record beside it vouches for it, byte for byte.

The record is a sidecar file next to the clip (`shots/<id>.mp4.json`), so every process and
every machine that shares the render storage shares the cache, and deleting a clip is
enough to have it rendered again. Records are written after their clip and removed (with the
clip) before a new render, so a record never vouches for a clip it did not see finished.

A record holds the clip's sha256 and its frame count: counted from its packets for a shot clip
just rendered (the film that holds it is decoded whole before it is reported done), by decoding
for kept renders and retake stages. A clip damaged or replaced in place, even at the same size,
no longer matches and is rendered again, and the log names it.

This module imports no torch: the render path is imported only when a shot is rendered.
"""

import json
import logging
import os
import socket
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..failures import describe, is_out_of_memory, release_memory
from ..files import copy_atomic, file_sha256, write_json_atomic
from ..media.read import decoded_frames, muxed_frames
from ..plan.memory import memory_for_attempt
from ..plan.planner import RenderPlan, ShotPlan
from ..layout import FilmFolder
from .stop import stopping

log = logging.getLogger(__name__)


def sidecar(clip: Path) -> Path:
    return clip.with_name(clip.name + ".json")


def audio_latents_path(clip: Path) -> Path:
    """Where an LTX-2 shot's final audio latents lie beside its clip (float32 .npy, see `generate.Clip`)."""
    return clip.with_name(clip.name + ".audio.npy")


# What is read from a clip's record besides what vouches for the bytes, and the types it must have: a retake
# stage's or kept render's (`write_clip_record`), and a shot clip's, which the manifest and the batch summary read.
# A record without one of these (hand-edited, or written by another version) is no record: the clip is rendered again.
STAGE_RECORD_KEYS: dict[str, tuple[type, ...]] = {"frames": (int,), "rendered_at": (str,)}
SHOT_RECORD_KEYS: dict[str, tuple[type, ...]] = {
    **STAGE_RECORD_KEYS, "attempts": (list,), "memory": (dict, type(None)), "render_seconds": (int, float),
    "rendered_by": (dict, type(None)),
}


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
        text = sidecar(clip).read_text()
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
                    clip, sidecar(clip).name)
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
        "audio_latents": ({"bytes": latents.stat().st_size, "sha256": file_sha256(latents)}
                          if latents.is_file() else None),
    }


def write_clip_record(clip: Path, content_hash: str) -> dict:
    """Write `clip_record` beside the clip, its frames counted by decoding it; returns it."""
    record = clip_record(clip, content_hash, decoded_frames(clip))
    write_json_atomic(record, sidecar(clip))
    return record


def restore_kept(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> dict | None:
    """Bring back the shot clip the plan asks for from what retakes keep, without a render; its record, or None.

    A shot without retakes whose own render was kept under `retakes/<shot>/` (its retakes were removed) gets that
    render back; a shot whose every retake stage is cached gets its clip encoded from the last one (no model).
    """
    from .retake import base_clip, encode_shot  # retakes imports this module

    clip = film_dir / shot.clip
    source = shot.retakes[-1].cache if shot.retakes else base_clip(shot)
    kept_record = cached_record(film_dir / source, shot.content_hash, shot.frames, keys=STAGE_RECORD_KEYS)
    if kept_record is None:
        return None
    # As before any render: the film and manifest list the clip being replaced, and its old record must go.
    invalidate_film(plan, film_dir)
    keep_base(shot, film_dir)
    sidecar(clip).unlink(missing_ok=True)
    if shot.retakes:
        encode_shot(plan, shot, film_dir / source, clip)
    else:
        kept = film_dir / source
        audio_latents_path(clip).unlink(missing_ok=True)
        if audio_latents_path(kept).is_file():
            copy_atomic(audio_latents_path(kept), audio_latents_path(clip))
        copy_atomic(kept, clip)  # byte for byte: the shot's own render as it was
    # As the shot cache's records are (the manifest lists them), with what is known of how the kept clip was made.
    made = {"attempts": [], "memory": None, "render_seconds": 0.0, "rendered_by": None, **kept_record}
    record = {**made, **clip_record(clip, shot.content_hash, decoded_frames(clip)), "id": shot.id, "clip": shot.clip,
              "restored_from": source}
    record["rendered_at"] = kept_record.get("rendered_at") or record["rendered_at"]
    write_json_atomic(record, sidecar(clip))
    log.info("Shot %s: brought back from %s, no render", shot.id, source)
    return record


def keep_base(shot: ShotPlan, film_dir: Path) -> None:
    """Before a shot with retakes replaces its clip: a clip that is still the shot's own render (the retakes were
    just added) moves to `retakes/<shot>/`, where the retakes start from it instead of rendering it again."""
    from .retake import base_clip

    clip = film_dir / shot.clip
    if not shot.retakes or cached_record(clip, shot.base_hash, shot.frames) is None:
        return
    kept = film_dir / base_clip(shot)
    kept.parent.mkdir(parents=True, exist_ok=True)
    sidecar(kept).unlink(missing_ok=True)  # the record goes last, so it never vouches for a file half moved
    for source, target in ((audio_latents_path(clip), audio_latents_path(kept)), (clip, kept)):
        if source.exists():
            os.replace(source, target)
    os.replace(sidecar(clip), sidecar(kept))
    log.info("Shot %s: its render before retakes kept in %s", shot.id, base_clip(shot))


def invalidate_film(plan: RenderPlan, film_dir: Path) -> None:
    """Remove the film, its manifest and review page: from here on they would describe clips being replaced.

    The manifest goes first, so a stop between the two never leaves a manifest without its film.
    """
    folder = FilmFolder(film_dir)
    folder.manifest.unlink(missing_ok=True)
    folder.film(plan.name).unlink(missing_ok=True)
    folder.review.unlink(missing_ok=True)


def render_shot_cached(
    plan: RenderPlan, shot: ShotPlan, film_dir: Path, force: bool, failed_attempts: list[dict], on_step=None
) -> dict:
    """Reuse the shot's clip if it is still good (unless `force`), else render it.

    `failed_attempts` are this shot's earlier failed attempts: each out-of-memory one lowers
    the memory settings a step. A failure is appended to it and re-raised. Returns the
    shot's record: its attempts, the settings used, timings and who rendered it.
    `on_step(done, total)` follows the denoising steps of a render.
    """
    clip = film_dir / shot.clip
    if not force and (record := cached_record(clip, shot.content_hash, shot.frames)):
        return {**record, "status": "cached"}
    if not force and (record := restore_kept(plan, shot, film_dir)):
        return {**record, "status": "cached"}
    # Only a shot that renders pays for torch and diffusers: checking the cache stays instant.
    from .generate import pick_device, render_shot

    earlier_oom = sum(attempt["out_of_memory"] for attempt in failed_attempts)
    memory = memory_for_attempt(plan.model, earlier_oom)
    attempt = {"attempt": len(failed_attempts) + 1, "memory": asdict(memory)}
    # The film and manifest list this clip: they go before it does, so no stop from here on leaves
    # a "finished" film whose clips are gone. The old record must not vouch for the clip being
    # replaced, and an old clip left beside a failed attempt would not be the storyboard's.
    invalidate_film(plan, film_dir)
    keep_base(shot, film_dir)
    sidecar(clip).unlink(missing_ok=True)
    clip.unlink(missing_ok=True)
    audio_latents_path(clip).unlink(missing_ok=True)  # a render without sound latents must not inherit old ones
    start = time.perf_counter()
    try:
        # `force` re-renders a long take's cached segments too, on the first attempt only: a retry keeps
        # what the attempts of this run already made. Ctrl-C stops between denoising steps (stop.py).
        render_shot(plan, shot, film_dir, memory, on_step=stopping(on_step), force=force and not failed_attempts)
        # Counted from the packets just written, not decoded: the film is decoded whole before it is reported
        # done (media.stitch), and decoding each clip as well doubled that cost for nothing the film's check misses.
        frames = muxed_frames(clip)
        if frames != shot.frames:
            raise RuntimeError(f"{clip} has {frames} frames, the plan says {shot.frames}")
    except Exception as error:
        clip.unlink(missing_ok=True)
        failed_attempts.append({**attempt, "error": describe(error), "out_of_memory": is_out_of_memory(error)})
        if is_out_of_memory(error):
            release_memory(error)
        raise
    record = {
        "id": shot.id,
        **clip_record(clip, shot.content_hash, frames),
        "clip": shot.clip,
        "render_seconds": round(time.perf_counter() - start, 3),
        "attempts": [*failed_attempts, attempt],
        "memory": asdict(memory),
        "rendered_by": {"host": socket.gethostname(), "pid": os.getpid(), "device": pick_device(plan.model.device)},
    }
    write_json_atomic(record, sidecar(clip))
    return {**record, "status": "rendered"}
