"""Shots shared between films: a shot whose content hash (its resolved inputs) is equal in several films of a
batch (variants of one storyboard, or other storyboards) is rendered once, and every other film gets a copy of
that clip, vouched for by a record of its own, without a model.

Content-addressed by the plan's hashes: two shots with one hash are one clip, whatever their ids or folders.
"""

import logging
from pathlib import Path

from ..files import copy_atomic
from ..layout import audio_latents_path, record_path
from ..plan.planner import RenderPlan, ShotPlan
from .records import clip_record, write_record
from .shot import invalidate_film

log = logging.getLogger(__name__)


def share_clip(source_dir: Path, source_shot: ShotPlan, source_record: dict, plan: RenderPlan, shot: ShotPlan,
               film_dir: Path) -> dict:
    """Copy `source_shot`'s clip from the film folder `source_dir` (another film's shot of this content hash, vouched
    for by `source_record`) to this shot's clip under `film_dir`, with its sound latents and the control video its
    review page shows; returns the shot's new record, status `cached`."""
    source, clip = source_dir / source_shot.clip, film_dir / shot.clip
    # As before any render: the film and manifest list the clip being replaced, and its old record must go first.
    invalidate_film(plan, film_dir)
    record_path(clip).unlink(missing_ok=True)
    audio_latents_path(clip).unlink(missing_ok=True)
    clip.parent.mkdir(parents=True, exist_ok=True)
    if audio_latents_path(source).is_file():
        copy_atomic(audio_latents_path(source), audio_latents_path(clip))
    copy_atomic(source, clip)
    if shot.control is not None and source_shot.control is not None and (source_dir / source_shot.control.video).is_file():
        copy_atomic(source_dir / source_shot.control.video, film_dir / shot.control.video)
    made = {key: source_record.get(key) for key in ("attempts", "memory", "render_seconds", "rendered_by")}
    record = {**made, **clip_record(clip, shot.content_hash, source_record["frames"]), "id": shot.id,
              "clip": shot.clip, "shared_from": str(source)}
    record["rendered_at"] = source_record.get("rendered_at") or record["rendered_at"]
    record["attempts"] = record["attempts"] or []
    record["render_seconds"] = record["render_seconds"] or 0.0
    write_record(record, clip)
    log.info("Shot %s of %s: the same shot as %s, copied, no render", shot.id, plan.name, source)
    return {**record, "status": "cached"}
