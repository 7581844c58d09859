"""The shot cache: a clip is reused while the record beside it says it was rendered from the same content hash.

The record is a sidecar file next to the clip (`shots/<id>.mp4.json`), so every process and
every machine that shares the render storage shares the cache, and deleting a clip is
enough to have it rendered again. Records are written after their clip and removed (with the
clip) before a new render, so a record never vouches for a clip it did not see finished.
"""

import json
import os
import socket
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from .failures import describe, is_out_of_memory, release_memory
from .manifest import write_json_atomic
from .memory import memory_for_attempt
from .plan import RenderPlan, ShotPlan


def sidecar(clip: Path) -> Path:
    return clip.with_name(clip.name + ".json")


def cached_record(clip: Path, content_hash: str) -> dict | None:
    """The clip's record when the clip is there, whole, and was rendered from `content_hash`; else None."""
    try:
        record = json.loads(sidecar(clip).read_text())
        size = clip.stat().st_size
    except (OSError, ValueError):
        return None
    if record.get("content_hash") != content_hash or record.get("bytes") != size:
        return None
    return record


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
    if not force and (record := cached_record(clip, shot.content_hash)):
        return {**record, "status": "cached"}
    # Only a shot that renders pays for torch and diffusers: checking the cache stays instant.
    from .generate import pick_device, render_shot

    earlier_oom = sum(attempt["out_of_memory"] for attempt in failed_attempts)
    memory = memory_for_attempt(plan.model, earlier_oom)
    attempt = {"attempt": len(failed_attempts) + 1, "memory": asdict(memory)}
    # The old record must not vouch for the clip being replaced, and an old clip left beside a
    # failed attempt would not be the storyboard's.
    sidecar(clip).unlink(missing_ok=True)
    clip.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        # `force` re-renders a long take's cached segments too, on the first attempt only: a retry keeps
        # what the attempts of this run already made.
        render_shot(plan, shot, film_dir, memory, on_step=on_step, force=force and not failed_attempts)
    except Exception as error:
        failed_attempts.append({**attempt, "error": describe(error), "out_of_memory": is_out_of_memory(error)})
        if is_out_of_memory(error):
            release_memory(error)
        raise
    record = {
        "id": shot.id,
        "content_hash": shot.content_hash,
        "clip": shot.clip,
        "frames": shot.frames,
        "bytes": clip.stat().st_size,
        "render_seconds": round(time.perf_counter() - start, 3),
        "attempts": [*failed_attempts, attempt],
        "memory": asdict(memory),
        "rendered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rendered_by": {"host": socket.gethostname(), "pid": os.getpid(), "device": pick_device(plan.model.device)},
    }
    write_json_atomic(record, sidecar(clip))
    return {**record, "status": "rendered"}
