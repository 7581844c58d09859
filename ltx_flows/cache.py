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

from .failures import describe, is_out_of_memory, release_memory
from .manifest import copy_file_atomic, manifest_path, write_json_atomic
from .media import decoded_frames, muxed_frames
from .memory import memory_for_attempt
from .plan import RenderPlan, ShotPlan, file_sha256
from .review import review_path
from .stitch import film_path
from .stop import stopping

log = logging.getLogger(__name__)


def sidecar(clip: Path) -> Path:
    return clip.with_name(clip.name + ".json")


def audio_latents_path(clip: Path) -> Path:
    """Where an LTX-2 shot's final audio latents lie beside its clip (float32 .npy, see `generate.Clip`)."""
    return clip.with_name(clip.name + ".audio.npy")


def cached_record(clip: Path, content_hash: str, frames: int | None = None) -> dict | None:
    """The clip's record when the clip is there, whole, and was rendered from `content_hash`; else None.

    Whole means: the clip's sha256 is the one recorded when it was made, and (given `frames`) the
    record says it has that many frames. A clip that is there but does not match its record is
    logged by name before it is rendered again.
    """
    try:
        record = json.loads(sidecar(clip).read_text())
        size = clip.stat().st_size
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("content_hash") != content_hash:
        return None  # no record, or the shot changed: nothing is wrong with the file
    if record.get("bytes") != size:
        problem = f"it has {size} bytes, its record says {record.get('bytes')}"
    elif frames is not None and record.get("frames") != frames:
        problem = f"its record says {record.get('frames')} frames, the plan {frames}"
    elif not record.get("sha256"):
        problem = "its record has no sha256 (written by an older ltx-flows)"
    elif file_sha256(clip) != record["sha256"]:
        problem = "its sha256 differs from the one recorded when it was made (damaged or replaced in place)"
    else:
        return record
    log.warning("%s does not match its record (%s): rendering it again", clip, problem)
    return None


def clip_record(clip: Path, content_hash: str, frames: int) -> dict:
    """The record that vouches for `clip` as rendered from `content_hash`, with its `frames` as the caller counted them."""
    return {
        "content_hash": content_hash, "frames": frames, "bytes": clip.stat().st_size,
        "sha256": file_sha256(clip), "rendered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
    from .retakes import base_clip, encode_shot  # retakes imports this module

    clip = film_dir / shot.clip
    source = shot.retakes[-1].cache if shot.retakes else base_clip(shot)
    kept_record = cached_record(film_dir / source, shot.content_hash, shot.frames)
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
            copy_file_atomic(audio_latents_path(kept), audio_latents_path(clip))
        copy_file_atomic(kept, clip)  # byte for byte: the shot's own render as it was
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
    from .retakes import base_clip

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
    manifest_path(film_dir).unlink(missing_ok=True)
    film_path(plan, film_dir).unlink(missing_ok=True)
    review_path(film_dir).unlink(missing_ok=True)


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
