"""Choosing a shot's clip from its candidates: its takes, then its quality retries (plan/takes.py).

`render_chosen` is what the flow calls for each shot. A plain shot (no takes, no retries) is `render_shot_cached`
as it always was, its checks recorded. A shot with candidates:
1. reuses its clip while its record vouches for it (the choice was made and nothing changed);
2. else renders (or reuses, each cached under `takes/` by its own hash) the take its `seed:` picks, or every take,
   and chooses the first that passes its checks; while none has, renders its retries one by one;
3. copies the chosen candidate to the shot's clip, with a record of every candidate tried: take number, seed,
   whether it was rendered now, its check results. None passing: the best (fewest failed checks) is used and the
   shot is flagged `needs_review`, or with `qc.on_fail: fail` the shot fails (the storyboard with it).

Checks are judged again from each candidate's recorded scores against today's thresholds: loosening one never
needs a render. `restore_chosen` makes the same choice from cached candidates only (a pick, re-made without a
model: finish/film.py's fast path).
"""

import logging
from pathlib import Path
from typing import Callable

from ..files import copy_atomic, file_sha256
from ..layout import audio_latents_path
from ..plan.planner import RenderPlan, ShotPlan
from ..storyboard.quality import QcPolicy
from .records import cached_record, clip_record, read_record, write_record
from .shot import invalidate_film, render_shot_cached

log = logging.getLogger(__name__)


class QualityFailure(RuntimeError):
    """Every candidate of a shot with `qc.on_fail: fail` failed its checks."""


def verdict_of(record: dict, policy: QcPolicy) -> dict:
    """A clip's check results judged against `policy` from the scores its record keeps (no decode)."""
    qc = record.get("qc") or {}
    scores = qc.get("scores", {})
    failed = {name: f"{scores[name]:.3g} > {threshold:g}" for name, threshold in policy.thresholds().items()
              if name in scores and scores[name] > threshold}
    return {"passed": not failed, "failed": failed, "scores": scores, "notes": qc.get("notes", {}),
            "seconds": qc.get("seconds", 0.0)}


def render_chosen(plan: RenderPlan, shot: ShotPlan, film_dir: Path, force: bool, failed_attempts: list[dict],
                  on_step=None) -> dict:
    """The shot's record (see module doc): rendered, reused, or chosen from its candidates."""
    if not shot.takes:
        record = render_shot_cached(plan, shot, film_dir, force, failed_attempts, on_step=on_step)
        return {**record, "needs_review": not verdict_of(record, shot.qc)["passed"]} if record.get("qc") else record
    clip = film_dir / shot.clip
    record = None if force else cached_record(clip, shot.content_hash, shot.frames)
    if record and settled(shot, record, film_dir):
        return {**record, "status": "cached"}
    # A retry of this task (after running out of memory) keeps what its earlier attempts rendered.
    again = force and not failed_attempts

    def obtain(candidate: ShotPlan) -> dict:
        if not again:
            _adopt(shot, candidate, film_dir)
        return render_shot_cached(plan, candidate, film_dir, again, failed_attempts, on_step=on_step)

    return _choose(plan, shot, film_dir, obtain)


def pinned_records(plan: RenderPlan, film_dir: Path) -> dict[str, dict]:
    """The records of the approved shots whose pinned clip is there, byte for byte (storyboard/approvals.py): they
    are never rendered again, whatever changed around them, until their own inputs do."""
    pinned = {}
    for shot in plan.shots:
        clip = film_dir / shot.clip
        if shot.approved and clip.is_file() and file_sha256(clip) == shot.approved:
            record = read_record(clip) or {}
            pinned[shot.id] = {"attempts": [], "memory": None, "render_seconds": 0.0, "rendered_by": None,
                               "rendered_at": "", **record, "status": "cached", "approved": True}
    return pinned


def settled(shot: ShotPlan, record: dict, film_dir: Path) -> bool:
    """The shot's cached clip (its record matches the plan) still stands as the shot's choice: always for a shot
    without candidates; for one with, when it was chosen among them and they are unchanged, or, rendered before the
    shot had any, when there is only one take and it passes its checks today (retries just added re-try a failing
    clip; takes just added are rendered)."""
    if not shot.takes:
        return True
    if record.get("candidates"):
        return _still_chosen(record, film_dir)
    return len(shot.takes) == 1 and verdict_of(record, shot.qc)["passed"]


def _adopt(shot: ShotPlan, candidate: ShotPlan, film_dir: Path) -> None:
    """A shot clip rendered before the shot had candidates is already the candidate with its seed: it is copied
    under `takes/` (with its record and sound latents) instead of being rendered again."""
    source, target = film_dir / shot.clip, film_dir / candidate.clip
    if cached_record(target, candidate.content_hash, candidate.frames) is not None:
        return
    record = cached_record(source, candidate.content_hash, candidate.frames)
    if record is None or record.get("candidates"):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if audio_latents_path(source).is_file():
        copy_atomic(audio_latents_path(source), audio_latents_path(target))
    copy_atomic(source, target)
    write_record({**record, "clip": candidate.clip, "seed": candidate.seed}, target)


def _still_chosen(record: dict, film_dir: Path) -> bool:
    """The candidates the shot's clip was chosen from are still the clips they were (none rendered again since)."""
    for tried in record.get("candidates", []):
        again = read_record(film_dir / tried["clip"])
        if again is None or again.get("sha256") != tried.get("sha256"):
            return False
    return True


def restore_chosen(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> dict | None:
    """The choice `render_chosen` would make, when every candidate it needs is cached: its record, else None."""
    if not shot.takes:
        return None

    def obtain(candidate: ShotPlan) -> dict:
        _adopt(shot, candidate, film_dir)
        record = cached_record(film_dir / candidate.clip, candidate.content_hash, candidate.frames)
        if record is None:
            raise LookupError(candidate.clip)
        return {**record, "status": "cached"}

    try:
        return _choose(plan, shot, film_dir, obtain)
    except LookupError:
        return None


def _choose(plan: RenderPlan, shot: ShotPlan, film_dir: Path, obtain: Callable[[ShotPlan], dict]) -> dict:
    tried: list[dict] = []
    records: dict[int, dict] = {}

    def attempt(candidate: ShotPlan) -> bool:
        record = records[candidate.take] = obtain(candidate)
        verdict = verdict_of(record, shot.qc)
        tried.append({"take": candidate.take, "seed": candidate.seed, "clip": candidate.clip,
                      "kind": "retry" if candidate.take > len(shot.takes) else "take", "sha256": record.get("sha256"),
                      "status": record["status"], "render_seconds": record.get("render_seconds"), "qc": verdict})
        return verdict["passed"]

    chosen = None
    if shot.take is not None:  # a person picked: that take, whatever its checks say
        attempt(shot.takes[shot.take - 1])
        chosen = shot.takes[shot.take - 1]
    else:
        passed = [take for take in shot.takes if attempt(take)]
        chosen = passed[0] if passed else None
        for retry in shot.retries if chosen is None else []:
            if attempt(retry):
                chosen = retry
                break
    needs_review = chosen is None
    if chosen is None:
        summary = "; ".join(f"take {t['take']} (seed {t['seed']}): {', '.join(f'{k} {v}' for k, v in t['qc']['failed'].items())}"
                            for t in tried)
        if shot.qc.on_fail == "fail":
            raise QualityFailure(f"shot {shot.id} failed its checks on every attempt: {summary}")
        log.warning("Shot %s needs review: every attempt failed its checks: %s", shot.id, summary)
        best = min(tried, key=lambda t: len(t["qc"]["failed"]))
        chosen = next(c for c in [*shot.takes, *shot.retries] if c.take == best["take"])
    return _settle(plan, shot, film_dir, chosen, records[chosen.take], tried, needs_review)


def _settle(plan: RenderPlan, shot: ShotPlan, film_dir: Path, chosen: ShotPlan, source: dict, tried: list[dict],
            needs_review: bool) -> dict:
    """Copy the chosen candidate to the shot's clip and write its record."""
    clip = film_dir / shot.clip
    invalidate_film(plan, film_dir)  # the film lists the clip being replaced
    clip.parent.mkdir(parents=True, exist_ok=True)
    for path in (clip.with_name(clip.name + ".json"), audio_latents_path(clip)):
        path.unlink(missing_ok=True)
    if audio_latents_path(film_dir / chosen.clip).is_file():
        copy_atomic(audio_latents_path(film_dir / chosen.clip), audio_latents_path(clip))
    copy_atomic(film_dir / chosen.clip, clip)
    rendered = any(t["status"] == "rendered" for t in tried)
    record = {
        "attempts": [], "memory": None, "render_seconds": 0.0, "rendered_by": None,
        **{key: value for key, value in source.items() if key != "status"},
        **clip_record(clip, shot.content_hash, source["frames"]),
        "id": shot.id, "clip": shot.clip, "seed": chosen.seed, "take": chosen.take, "source": chosen.clip,
        "picked": shot.take is not None, "candidates": tried, "needs_review": needs_review,
        "qc": next(t["qc"] for t in tried if t["take"] == chosen.take),
    }
    record["render_seconds"] = round(sum(t["render_seconds"] or 0.0 for t in tried if t["status"] == "rendered"), 3)
    write_record(record, clip)
    log.info("Shot %s: take %d (seed %d) of %d tried%s", shot.id, chosen.take, chosen.seed, len(tried),
             ", needs review" if needs_review else "")
    return {**record, "status": "rendered" if rendered else "cached"}
