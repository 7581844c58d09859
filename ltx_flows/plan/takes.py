"""Takes and quality retries: a shot planned again with other seeds, each candidate cached as a shot is.

`takes: N` (a shot's, else `defaults.takes`) makes N candidates. Their seeds come from the storyboard's seed and the
shot's id only, never from the shot's own `seed:`: `ltx-flows pick` writes the chosen take's seed there, and the
takes (and their cached clips) must stay the same after a pick. Take 1 has the seed the shot has without `seed:`;
take n >= 2 `derive_seed(take 1, "take", n)`. A `seed:` that is one of them picks that take; any other seed takes
the place of take 1 (a storyboard that set its seed by hand keeps it as its first take).

A shot's `qc.retries` are further candidates, tried one after another while none has passed: retry n has seed
`derive_seed(take 1's seed, "qc", n)`. Each candidate's clip lives in `takes/<shot>/` under its own content hash
(`layout.take_clip_name`); the chosen one is copied to the shot's clip (`render/takes.py`).
"""

from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from ..layout import take_clip_name
from ..storyboard.approvals import pinned_clip
from ..storyboard.editing import set_shot_seed
from ..storyboard.loading import load_storyboard
from ..storyboard.frames import derive_seed
from ..storyboard.models import Shot, Storyboard
from ..storyboard.quality import resolve_qc


def take_seeds(storyboard: Storyboard, shot: Shot) -> list[int]:
    """The seed of each take, take 1 first."""
    count = shot.takes or storyboard.defaults.takes
    first = derive_seed(storyboard.defaults.seed, shot.id)
    seeds = [first, *(derive_seed(first, "take", number) for number in range(2, count + 1))]
    if shot.seed is not None and shot.seed not in seeds:
        seeds[0] = shot.seed
    return seeds


def retry_seeds(first: int, retries: int) -> list[int]:
    return [derive_seed(first, "qc", number) for number in range(1, retries + 1)]


def with_candidates(storyboard: Storyboard, shot: Shot, plan_one: Callable[[Shot], BaseModel], source: Path) -> BaseModel:
    """The shot's `ShotPlan` (`plan_one` plans a shot; planner.py imports this module) with its quality policy, its
    takes and retries (each a full plan of the shot with that seed, its clip under `takes/`), which take its `seed:`
    picks (None: not picked), and the clip an approval pins (storyboard/approvals.py, beside `source`)."""
    policy = resolve_qc(storyboard.qc, shot.qc)
    seeds = take_seeds(storyboard, shot)
    planned = plan_one(shot).model_copy(update={"approved": pinned_clip(source, shot, storyboard)})
    # A shot renders plainly (as it always has) unless there is a choice to make: several takes, retries, or a
    # failing check that must stop the storyboard (its candidate is kept under takes/ so a re-run judges it again).
    if len(seeds) == 1 and policy.retries == 0 and policy.on_fail == "keep":
        return planned.model_copy(update={"qc": policy})

    def candidate(seed: int, number: int) -> BaseModel:
        plan = plan_one(shot.model_copy(update={"seed": seed, "takes": None}))
        return plan.model_copy(update={"clip": take_clip_name(shot.id, plan.content_hash), "take": number, "qc": policy})

    takes = [candidate(seed, number) for number, seed in enumerate(seeds, start=1)]
    retries = [candidate(seed, len(seeds) + number) for number, seed in enumerate(retry_seeds(seeds[0], policy.retries), 1)]
    picked = seeds.index(shot.seed) + 1 if len(seeds) > 1 and shot.seed in seeds else None
    return planned.model_copy(update={"qc": policy, "takes": takes, "retries": retries, "take": picked})


def pick_take(storyboard_file: Path, shot_id: str, take: int, root: Path | None = None) -> int:
    """Write take `take`'s seed (numbered from 1 as the review page numbers them: takes, then retries) into the
    shot's `seed:`, keeping the file's comments and layout; returns that seed. ValueError says what is wrong."""
    storyboard = load_storyboard(storyboard_file, root)
    shot = next((shot for shot in storyboard.shots if shot.id == shot_id), None)
    if shot is None:
        set_shot_seed(Path(storyboard_file), shot_id, 0, root)  # raises EditError naming the shots (did-you-mean)
    seeds = take_seeds(storyboard, shot)
    seeds += retry_seeds(seeds[0], resolve_qc(storyboard.qc, shot.qc).retries)
    if not 1 <= take <= len(seeds):
        raise ValueError(f"shot `{shot_id}` has {len(seeds)} take{'s' if len(seeds) != 1 else ''} (takes and retries, "
                         f"numbered from 1); there is no take {take}")
    set_shot_seed(Path(storyboard_file), shot_id, seeds[take - 1], root)
    return seeds[take - 1]
