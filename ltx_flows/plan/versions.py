"""Planning every version of a storyboard: one render plan per variant, in its own folder, and how many unique
shots (content hashes) they hold between them.

A storyboard without `variants:` plans exactly as before (plan_storyboard, same folder, same hashes); each variant's
shots hash from their own resolved inputs, so a shot that is equal in two variants has one content hash.
"""

import posixpath
from pathlib import Path

from pydantic import BaseModel

from ..layout import delivery_file_name, variant_film_name, variant_folder
from .deliveries import crop_plan, delivery_plan
from ..storyboard.loading import Version
from .planner import RenderPlan, plan_storyboard


class FilmEntry(BaseModel):
    """One file a storyboard makes (`plan --json` and `render --json` list them as `films`)."""

    variant: str | None
    deliverable: str | None
    width: int
    height: int
    path: str  # relative to the render root until rendered; then where it is


class VersionsPlan(BaseModel):
    """`plan --json` of a storyboard with variants: every film, the unique shots, and each variant's plan."""

    name: str
    films: list[FilmEntry]
    shots: int  # shots over every film
    unique_shots: int  # distinct content hashes: what a render of every variant generates at most
    plans: list[RenderPlan]


def plan_versions(versions: list[Version], source: Path) -> list[RenderPlan]:
    """The films of every version: without `variants:` and `deliverables:` the storyboard's own plan, unchanged.

    With deliverables, a version's film carries its `crop` deliverables (made from it, no render), and each
    `render` deliverable is a film of its own at its size, in `<folder>/<deliverable>/`; a version whose
    deliverables are all `render` makes no film at the storyboard's own size.
    """
    plans = []
    for version in versions:
        plan = plan_storyboard(version.storyboard, source)
        if version.variant is not None:
            plan = plan.model_copy(update={
                "variant": version.variant, "vars": version.vars, "name": film_name(version),
                "folder": variant_folder(version.storyboard.name, version.variant),
            })
        plans += _with_deliverables(plan, version, source)
    return plans


def _with_deliverables(plan: RenderPlan, version: Version, source: Path) -> list[RenderPlan]:
    storyboard = version.storyboard
    if not storyboard.deliverables:
        return [plan]
    folder = film_folder(plan)
    starts, start = [], 0
    for shot in plan.shots:
        starts.append(start)
        start += shot.frames - shot.crossfade_frames
    crops = [
        delivery_plan(deliverable, plan.output.fps, delivery_file_name(storyboard.name, version.variant, deliverable.name),
                      crop_plan(deliverable, plan.output.width, plan.output.height, storyboard.shots, starts))
        for deliverable in storyboard.deliverables if deliverable.framing == "crop"
    ]
    plans = [plan.model_copy(update={"deliveries": crops, "overlays": storyboard.overlays})] if crops else []
    for deliverable in storyboard.deliverables:
        if deliverable.framing != "render":
            continue
        output = storyboard.output.model_copy(update={"width": deliverable.width, "height": deliverable.height,
                                                      "fps": deliverable.fps or storyboard.output.fps})
        own = plan_storyboard(storyboard.model_copy(update={"output": output}), source)
        # Its file goes beside the crop deliverables, in the version's folder; its working film in its own.
        file = "../" + delivery_file_name(storyboard.name, version.variant, deliverable.name)
        plans.append(own.model_copy(update={
            "variant": version.variant, "vars": version.vars, "name": f"{plan.name}_{deliverable.name}",
            "folder": f"{folder}/{deliverable.name}", "deliverable": deliverable.name,
            "deliveries": [delivery_plan(deliverable, output.fps, file, None)], "overlays": storyboard.overlays,
        }))
    return plans


def film_folder(plan: RenderPlan) -> str:
    """The plan's render folder, relative to the render root."""
    return plan.folder or plan.name


def film_entries(plan: RenderPlan) -> list[FilmEntry]:
    """The files a plan makes, paths relative to the render root: its deliverables, or its film."""
    if plan.deliveries:
        return [FilmEntry(variant=plan.variant, deliverable=d.deliverable, width=d.width, height=d.height,
                          path=posixpath.normpath(f"{film_folder(plan)}/{d.file}")) for d in plan.deliveries]
    return [FilmEntry(variant=plan.variant, deliverable=None, width=plan.output.width, height=plan.output.height,
                      path=f"{film_folder(plan)}/{plan.name}.mp4")]


def unique_shots(plans: list[RenderPlan]) -> int:
    """How many distinct shots (content hashes) the plans hold: what rendering all of them generates at most."""
    return len({shot.content_hash for plan in plans for shot in plan.shots})


def versions_plan(plans: list[RenderPlan], name: str) -> VersionsPlan:
    return VersionsPlan(name=name, films=[entry for plan in plans for entry in film_entries(plan)],
                        shots=sum(len(plan.shots) for plan in plans), unique_shots=unique_shots(plans), plans=plans)


def film_name(version: Version) -> str:
    """The name of a version's film (and of its progress bar): the storyboard's, or `<name>_<variant>`."""
    name = version.storyboard.name
    return name if version.variant is None else variant_film_name(name, version.variant)
