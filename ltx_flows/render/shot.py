"""Render a shot: reuse its clip while its record vouches for it, else render it, read top to bottom.

`render_shot_cached` is what the flow calls for each shot:
1. reuse: the clip under `shots/` whose record (`records.py`) vouches for it, byte for byte;
2. restore: a clip the plan asks for that retakes kept (`restore_kept`: a shot's own render kept under
   `retakes/<shot>/`, or its last cached retake stage encoded), without a model;
3. render: the film, its manifest and review page go first (`invalidate_film`), the attempt's memory settings
   come from the shot's earlier out-of-memory failures (`plan.memory`), then `render_shot` dispatches to a plain
   shot (`generate.render_plain`), a long take (`long_take.render_long_take`) or a shot with retakes
   (`retake.render_retaken`, which is handed `render_shot` for the shot's own render);
4. the clip's record, with the attempts, the memory settings, timings and who rendered it.

No torch at import: checking the cache stays instant; only a shot that renders pays for torch and diffusers.
"""

import logging
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..failures import describe, is_out_of_memory, release_memory
from ..files import copy_atomic
from ..layout import FilmFolder, audio_latents_path, record_path
from ..media.read import decoded_frames, muxed_frames
from ..plan.memory import MemorySettings, memory_for_attempt
from ..plan.planner import RenderPlan, ShotPlan
from .quality import check_shot
from .records import STAGE_RECORD_KEYS, cached_record, clip_record, discard, write_record
from .retake import base_clip, encode_shot, render_retaken
from .stop import stopping

log = logging.getLogger(__name__)


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
    earlier_oom = sum(attempt["out_of_memory"] for attempt in failed_attempts)
    memory = memory_for_attempt(plan.model, earlier_oom)
    attempt = {"attempt": len(failed_attempts) + 1, "memory": asdict(memory)}
    # The film and manifest list this clip: they go before it does, so no stop from here on leaves
    # a "finished" film whose clips are gone. The old record must not vouch for the clip being
    # replaced, and an old clip left beside a failed attempt would not be the storyboard's; a render
    # without sound latents must not inherit old ones.
    invalidate_film(plan, film_dir)
    keep_base(shot, film_dir)
    discard(clip)
    start = time.perf_counter()
    try:
        # `force` re-renders a long take's cached segments too, on the first attempt only: a retry keeps
        # what the attempts of this run already made. Ctrl-C stops between denoising steps (stop.py).
        render_shot(plan, shot, film_dir, memory, on_step=stopping(on_step), force=force and not failed_attempts)
        # The quality checks decode the clip once, which proves it whole too (render/quality.py); with every check
        # off, counted from the packets just written: the film is decoded whole before it is reported done.
        verdict = check_shot(plan, shot, clip)
        frames = verdict.scores.frames if verdict else muxed_frames(clip)
        if frames != shot.frames:
            raise RuntimeError(f"{clip} has {frames} frames, the plan says {shot.frames}")
    except Exception as error:
        clip.unlink(missing_ok=True)
        failed_attempts.append({**attempt, "error": describe(error), "out_of_memory": is_out_of_memory(error)})
        if is_out_of_memory(error):
            release_memory(error)
        raise
    from ..models.loading import pick_device  # torch is loaded by now: the shot rendered

    record = {
        "id": shot.id,
        **clip_record(clip, shot.content_hash, frames),
        "clip": shot.clip,
        "render_seconds": round(time.perf_counter() - start, 3),
        "attempts": [*failed_attempts, attempt],
        "memory": asdict(memory),
        "rendered_by": {"host": socket.gethostname(), "pid": os.getpid(), "device": pick_device(plan.model.device)},
        **({"seed": shot.seed, "qc": verdict.as_record()} if verdict else {}),
    }
    write_record(record, clip)
    return {**record, "status": "rendered"}


def render_shot(
    plan: RenderPlan,
    shot: ShotPlan,
    film_dir: Path,
    memory: MemorySettings | None = None,
    on_step: Callable[[int, int], None] | None = None,
    force: bool = False,
    as_stage: bool = False,
) -> Path:
    """Generate a shot and write its clip (atomically) under `film_dir`; returns the clip path.

    A shot with retakes is its own render with each retake applied on top (`retake.render_retaken`).
    `force`: a long take renders every segment again instead of reusing its cached ones (and a shot with
    retakes every stage). `as_stage`: this is a shot's own render that its retakes build on.
    """
    # Here, not at the top: importing this module loads no torch, so checking the cache stays instant.
    from ..models.loading import quiet_libraries
    from .enhance import enhanced_shot
    from .generate import prepare_control, render_plain
    from .long_take import render_long_take

    quiet_libraries()
    shot = enhanced_shot(plan, shot, film_dir, memory)
    if shot.retakes:
        def render_own(own: ShotPlan, own_steps: Callable[[int, int], None] | None) -> Path:
            return render_shot(plan, own, film_dir, memory, on_step=own_steps, force=force, as_stage=True)

        return render_retaken(plan, shot, film_dir, render_own, memory, on_step=on_step, force=force)
    # Before the model loads: a control that cannot be made fails without touching the GPU.
    control = prepare_control(plan, shot, film_dir)
    if shot.segments:
        return render_long_take(plan, shot, film_dir, memory, control, on_step=on_step, force=force, as_stage=as_stage)
    return render_plain(plan, shot, film_dir, memory, control, on_step=on_step, as_stage=as_stage)


def restore_kept(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> dict | None:
    """Bring back the shot clip the plan asks for from what retakes keep, without a render; its record, or None.

    A shot without retakes whose own render was kept under `retakes/<shot>/` (its retakes were removed) gets that
    render back; a shot whose every retake stage is cached gets its clip encoded from the last one (no model).
    """
    clip = film_dir / shot.clip
    source = shot.retakes[-1].cache if shot.retakes else base_clip(shot)
    kept_record = cached_record(film_dir / source, shot.content_hash, shot.frames, keys=STAGE_RECORD_KEYS)
    if kept_record is None:
        return None
    # As before any render: the film and manifest list the clip being replaced, and its old record must go.
    invalidate_film(plan, film_dir)
    keep_base(shot, film_dir)
    record_path(clip).unlink(missing_ok=True)
    kept = film_dir / source
    if not shot.retakes:  # the shot's own render comes back with its sound latents
        audio_latents_path(clip).unlink(missing_ok=True)
        if audio_latents_path(kept).is_file():
            copy_atomic(audio_latents_path(kept), audio_latents_path(clip))
    if shot.retakes or shot.voice is not None:  # from a stage; a voiced shot's own render lacks its line: laid in now
        encode_shot(plan, shot, kept, clip)
    else:
        copy_atomic(kept, clip)  # byte for byte: the shot's own render as it was
    # As the shot cache's records are (the manifest lists them), with what is known of how the kept clip was made.
    made = {"attempts": [], "memory": None, "render_seconds": 0.0, "rendered_by": None, **kept_record}
    record = {**made, **clip_record(clip, shot.content_hash, decoded_frames(clip)), "id": shot.id, "clip": shot.clip,
              "restored_from": source}
    record["rendered_at"] = kept_record.get("rendered_at") or record["rendered_at"]
    write_record(record, clip)
    log.info("Shot %s: brought back from %s, no render", shot.id, source)
    return record


def keep_base(shot: ShotPlan, film_dir: Path) -> None:
    """Before a shot with retakes replaces its clip: a clip that is still the shot's own render (the retakes were
    just added) moves to `retakes/<shot>/`, where the retakes start from it instead of rendering it again."""
    clip = film_dir / shot.clip
    if not shot.retakes or cached_record(clip, shot.base_hash, shot.frames) is None:
        return
    if shot.voice is not None:  # its clip carries its line; the retakes build on the sound without it
        log.info("Shot %s: its render is made again for its retakes, without its line in the sound", shot.id)
        return
    kept = film_dir / base_clip(shot)
    kept.parent.mkdir(parents=True, exist_ok=True)
    record_path(kept).unlink(missing_ok=True)  # the record goes last, so it never vouches for a file half moved
    for source, target in ((audio_latents_path(clip), audio_latents_path(kept)), (clip, kept)):
        if source.exists():
            os.replace(source, target)
    os.replace(record_path(clip), record_path(kept))
    log.info("Shot %s: its render before retakes kept in %s", shot.id, base_clip(shot))


def invalidate_film(plan: RenderPlan, film_dir: Path) -> None:
    """Remove the film, its manifest and review page: from here on they would describe clips being replaced.

    The manifest goes first, so a stop between the two never leaves a manifest without its film.
    """
    folder = FilmFolder(film_dir)
    folder.manifest.unlink(missing_ok=True)
    folder.film(plan.name).unlink(missing_ok=True)
    folder.review.unlink(missing_ok=True)
