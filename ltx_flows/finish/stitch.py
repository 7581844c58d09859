"""Stitch: join a storyboard's shot clips into its film with ffmpeg, and lay a music bed under it."""

from pathlib import Path

from ..media.clips import Join, VideoInfo, lay_audio_bed, stitch
from ..plan.planner import RenderPlan


def film_path(plan: RenderPlan, film_dir: Path) -> Path:
    return film_dir / f"{plan.name}.mp4"


def stitch_film(plan: RenderPlan, film_dir: Path) -> VideoInfo:
    """Join every shot's clip with its planned transition; checks the film has the planned frame count.

    With `output.audio` a music bed, the bed then goes under the whole film.
    """
    clips = [film_dir / shot.clip for shot in plan.shots]
    joins = [Join(kind=shot.transition, frames=shot.crossfade_frames) for shot in plan.shots[:-1]]
    film = film_path(plan, film_dir)
    info = stitch(clips, joins, film, fps=plan.output.fps, crf=plan.output.crf)
    if info.frames != plan.film_frames:
        raise RuntimeError(f"the film has {info.frames} frames but the plan expects {plan.film_frames}")
    if plan.audio_bed is not None:
        info = lay_audio_bed(film, plan.audio_bed)
    return info
