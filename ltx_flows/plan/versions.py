"""Planning every version of a storyboard: one render plan per variant, in its own folder, and how many unique
shots (content hashes) they hold between them.

A storyboard without `variants:` plans exactly as before (plan_storyboard, same folder, same hashes); each variant's
shots hash from their own resolved inputs, so a shot that is equal in two variants has one content hash.
"""

from pathlib import Path

from pydantic import BaseModel

from ..layout import variant_film_name, variant_folder
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
    """One plan per version: without `variants:` the storyboard's own plan, unchanged."""
    plans = []
    for version in versions:
        plan = plan_storyboard(version.storyboard, source)
        if version.variant is not None:
            plan = plan.model_copy(update={
                "variant": version.variant, "vars": version.vars,
                "name": film_name(version),
                "folder": variant_folder(version.storyboard.name, version.variant),
            })
        plans.append(plan)
    return plans


def film_folder(plan: RenderPlan) -> str:
    """The plan's render folder, relative to the render root."""
    return plan.folder or plan.name


def film_entries(plan: RenderPlan) -> list[FilmEntry]:
    """The files a plan makes, paths relative to the render root."""
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
