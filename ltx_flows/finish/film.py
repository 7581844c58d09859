"""Finishing a storyboard: which shots still need a render, and the film (stitched from every shot's clip,
a music bed under it) and manifest once every clip is there.

Plain functions (no Prefect, no torch), shared by the flow and by the command line's fast path:
a re-run where every clip is cached checks the cache, stitches only if the film no longer
matches the plan, and writes the manifest, without importing a model or starting Prefect.
"""

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..render.records import cached_record
from ..render.shot import invalidate_film, restore_kept
from ..render.takes import pinned_records, restore_chosen, settled
from ..files import file_sha256, partial_path, write_json_atomic
from ..layout import FilmFolder
from ..media.audio import lay_audio_bed
from ..media.joins import Join
from ..media.loudness import normalize_loudness
from ..media.mix import mix_bed_under_lines
from ..media.read import VideoInfo, probe
from ..media.stitch import stitch
from ..plan.planner import RenderPlan, ShotPlan
from .decoded import Decoded
from .deliveries import current_deliveries
from .manifest import build_manifest
from .review import write_review
from .voice_section import write_film_captions


@dataclass(frozen=True)
class Finished:
    """A storyboard's finished film: what `render-batch` reports for it."""

    film: Path
    manifest: Path
    review: Path
    info: VideoInfo
    stitched: bool  # False: the film on disk already matched the plan and was kept
    deliveries: tuple[dict, ...] = ()  # its deliverables' files (finish/deliveries.py), when it has any

    def summary(self, plan: RenderPlan, renders: dict[str, dict]) -> dict:
        """A storyboard's entry in `render --json`: scripts rely on these keys (docs/production.md)."""
        statuses = {shot_id: record["status"] for shot_id, record in renders.items()}
        return {
            "film": str(self.film),
            "manifest": str(self.manifest),
            "review": str(self.review),
            "frames": plan.film_frames,
            "shots": statuses,
            # Shots this run generated with a model, and shots it took from the cache without one.
            "generated": sum(status == "rendered" for status in statuses.values()),
            "reused": sum(status == "cached" for status in statuses.values()),
            # Every file the storyboard delivers: one today; one per variant and deliverable once they exist.
            "films": [{
                "variant": plan.variant,
                "deliverable": None,
                "width": self.info.width,
                "height": self.info.height,
                "path": str(self.film),
            }] if not self.deliveries else [{key: entry[key] for key in ("variant", "deliverable", "width", "height", "path")}
                                            for entry in self.deliveries],
        }


def cached_shots(plan: RenderPlan, film_dir: Path) -> dict[str, dict]:
    """The records of the shots whose clips are still good (through the shot cache's own checks)."""
    records = {}
    for shot in plan.shots:
        record = cached_record(film_dir / shot.clip, shot.content_hash, shot.frames)
        if record and settled(shot, record, film_dir):  # a shot with takes or retries: still its choice
            records[shot.id] = {**record, "status": "cached"}
    return records


def shots_to_render(plan: RenderPlan, film_dir: Path, force: bool) -> tuple[list[ShotPlan], dict[str, dict]]:
    """(the shots that need a render, the cache records of the others); with `force`, every shot renders.

    A shot whose clip the retakes cache can give back (its retakes removed, or its clip gone while every stage is
    kept) gets it back here, without a model: the caller holds the film's lock.
    """
    pinned = pinned_records(plan, film_dir)  # approved: never rendered again, not even by `force`
    if force:
        return [shot for shot in plan.shots if shot.id not in pinned], pinned
    cached = {**cached_shots(plan, film_dir), **pinned}
    for shot in plan.shots:
        if shot.id not in cached and (record := restore_kept(plan, shot, film_dir) or restore_chosen(plan, shot, film_dir)):
            cached[shot.id] = {**record, "status": "cached"}
    return [shot for shot in plan.shots if shot.id not in cached], cached


def _film_matches_plan(plan: RenderPlan, film: Path, manifest_file: Path) -> bool:
    # The last manifest describes the film beside it: same shots (content, joins), same output and sound,
    # and the film is still the file it hashed. Anything else and the film is stitched again.
    try:
        manifest = json.loads(manifest_file.read_text())
        joins = [(s["id"], s["content_hash"], s["transition"], s["crossfade_frames"]) for s in manifest["shots"]]
        same = (
            joins == [(s.id, s.content_hash, s.transition, s.crossfade_frames) for s in plan.shots]
            and manifest["output"] == plan.output.model_dump(mode="json")
            and manifest["audio"]["mode"] == plan.audio
            and manifest["audio"]["bed_sha256"] == plan.audio_bed_sha256
        )
        return same and film.is_file() and file_sha256(film) == manifest["film"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def stitch_film(plan: RenderPlan, film_dir: Path, decoded: Decoded | None = None,
                renders: dict[str, dict] | None = None) -> VideoInfo:
    """Join every shot's clip with its planned transition; checks the film has the planned frame count.

    With `output.audio` a music bed, the bed then goes under the whole film (ducked under the lines of a film with
    voices: `media/mix.py`); with `output.loudness` the film is then normalized (`media/loudness.py`). `decoded`:
    the batch's decodes (a film of the same bytes as one already decoded whole is not decoded again) and, with the
    clips' records (`renders`, their sha256), the films it stitched: a film of the same clips, joins, fps and crf is
    a copy of that film.
    """
    clips = [film_dir / shot.clip for shot in plan.shots]
    joins = [Join(kind=shot.transition, frames=shot.crossfade_frames) for shot in plan.shots[:-1]]
    film = FilmFolder(film_dir).film(plan.name)
    key = _stitch_key(plan, renders) if decoded is not None and renders else None
    info = _copy_stitched(decoded, key, film) if key is not None else None
    if info is None:
        info = stitch(clips, joins, film, fps=plan.output.fps, crf=plan.output.crf,
                      decoded=decoded.films if decoded is not None else None)
        if key is not None:
            decoded.stitched[key] = (film, info)
    if info.frames != plan.film_frames:
        raise RuntimeError(f"the film has {info.frames} frames but the plan expects {plan.film_frames}")
    if plan.audio_bed is not None:
        info = mix_bed_under_lines(film, plan.audio_bed) if plan.voiced else lay_audio_bed(film, plan.audio_bed)
    if plan.output.loudness is not None:
        info = normalize_loudness(film, plan.output.loudness, plan.output.true_peak)
    return info


def _stitch_key(plan: RenderPlan, renders: dict[str, dict]) -> tuple | None:
    """What the film is stitched from: each clip's bytes (its record's sha256) and join, the fps and crf."""
    clips = [(renders.get(shot.id, {}).get("sha256"), shot.transition if shot is not plan.shots[-1] else None,
              shot.crossfade_frames if shot is not plan.shots[-1] else 0) for shot in plan.shots]
    if plan.audio_bed is not None or any(sha is None for sha, _, _ in clips):  # a bed rewrites the film after
        return None
    return tuple(clips), plan.output.fps, plan.output.crf


def _copy_stitched(decoded: Decoded, key: tuple, film: Path) -> VideoInfo | None:
    """`film` as a copy of the film the batch stitched from the same clips, when that film is still the bytes that
    decoded whole (its sha256 among `decoded.films`, with its frames); None otherwise (then it is stitched)."""
    if key not in decoded.stitched:
        return None
    source, info = decoded.stitched[key]
    partial = partial_path(keep_suffix=True, path=film)
    try:
        shutil.copyfile(source, partial)
        digest = file_sha256(partial)
        if digest != info.sha256 or decoded.films.get(digest) != info.frames:
            return None  # the source film changed since (a music bed laid over it, a later run): stitch this one
        os.replace(partial, film)
        return dataclasses.replace(info, sha256=digest)
    except OSError:
        return None
    finally:
        partial.unlink(missing_ok=True)


def finish_storyboard(plan: RenderPlan, film_dir: Path, renders: dict[str, dict], decoded: Decoded | None = None) -> Finished:
    """Stitch the film from every shot's clip (unless the film on disk already matches) and write the manifest.

    `renders` maps every shot id to its cache record, as the shot cache returned it. `decoded`: what the batch
    decoded already (finish/decoded.py), shared by the films of one batch so equal bytes are decoded once.
    """
    folder = FilmFolder(film_dir)
    film, manifest_file = folder.film(plan.name), folder.manifest
    stitched = not _film_matches_plan(plan, film, manifest_file)
    if stitched:
        # An earlier film and manifest no longer describe this storyboard: nothing may claim
        # success until the new ones are complete.
        invalidate_film(plan, film_dir)
        info = stitch_film(plan, film_dir, decoded, renders)
    else:
        info = probe(film)
    # Every time: a caption's text changes no clip, so a kept film may have new captions.
    write_film_captions(plan, film)
    manifest = build_manifest(plan, film_dir, film, info, renders)
    manifest["version"] = {"variant": plan.variant, "vars": plan.vars, "deliverable": plan.deliverable}
    manifest["deliveries"] = current_deliveries(plan, film_dir, film, stitched, _read_json(manifest_file))
    # Before the manifest, which marks the render complete. A kept film keeps its page: the page decodes
    # every clip for its filmstrips, which an unchanged re-run must not pay for.
    review = folder.review
    if stitched or not review.is_file():
        write_review(plan, manifest, film_dir, renders, decoded.strips if decoded is not None else None)
    write_json_atomic(manifest, manifest_file)
    return Finished(film=film, manifest=manifest_file, review=review, info=info, stitched=stitched,
                    deliveries=tuple(manifest["deliveries"]))


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
