"""Unit tests: choosing a shot's clip among its candidates (render/takes.py) and what the summary says of it.

The renderer is stubbed here, and only it: `_choose` is handed an `obtain` that returns records with scores (as the
shot cache writes them) for small files standing in for clips. The choice, the copy, the record, the flags and the
summary line are the real code. The real renders are in tests/test_quality_integration.py and test_takes_integration.py.
"""

import json

import pytest

from ltx_flows.finish.quality import checks_line
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.takes import QualityFailure, _choose
from ltx_flows.storyboard.loading import load_storyboard

BOARD = """\
version: 1
name: choose
output: {{width: 96, height: 64}}
qc: {{retries: 1, on_fail: {on_fail}, flicker: 5}}
shots:
  - {{id: hero, prompt: fog, frames: 9, takes: 2}}
"""


def _setup(tmp_path, on_fail, flicker_by_take):
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "board.yaml"
    path.write_text(BOARD.format(on_fail=on_fail))
    plan = plan_storyboard(load_storyboard(path, tmp_path), path)
    shot = plan.shots[0]
    film_dir = tmp_path / "renders" / "choose"
    asked = []

    def obtain(candidate):
        asked.append(candidate.take)
        clip = film_dir / candidate.clip
        clip.parent.mkdir(parents=True, exist_ok=True)
        clip.write_bytes(f"clip of take {candidate.take}".encode())
        return {"frames": 9, "status": "rendered", "render_seconds": 1.5, "attempts": [], "sha256": str(candidate.take),
                "qc": {"scores": {"flicker": flicker_by_take[candidate.take]}, "notes": {}, "seconds": 0.1}}

    return plan, shot, film_dir, obtain, asked


def test_the_first_take_that_passes_is_used_and_retries_wait_until_none_has(tmp_path):
    plan, shot, film_dir, obtain, asked = _setup(tmp_path, "keep", {1: 9.0, 2: 1.0, 3: 0.5})
    record = _choose(plan, shot, film_dir, obtain)
    assert asked == [1, 2] and record["take"] == 2 and not record["needs_review"]
    assert (film_dir / "shots" / "hero.mp4").read_bytes() == b"clip of take 2"
    assert json.loads((film_dir / "shots" / "hero.mp4.json").read_text())["content_hash"] == shot.content_hash
    line = checks_line(shot, record, film_dir)
    assert "take 1 seed" in line and "failed: flicker 9 > 5" in line and f"in the film: take 2 (seed {shot.takes[1].seed})" in line


def test_none_passing_keeps_the_best_flagged_or_fails_the_shot(tmp_path):
    plan, shot, film_dir, obtain, asked = _setup(tmp_path, "keep", {1: 9.0, 2: 7.0, 3: 8.0})
    record = _choose(plan, shot, film_dir, obtain)
    assert asked == [1, 2, 3] and record["needs_review"] and record["take"] == 1  # fewest failures; the first on a tie
    assert "**needs review**" in checks_line(shot, record, film_dir)
    plan, shot, film_dir, obtain, asked = _setup(tmp_path / "fail", "fail", {1: 9.0, 2: 7.0, 3: 8.0})
    with pytest.raises(QualityFailure, match="shot hero failed its checks on every attempt"):
        _choose(plan, shot, film_dir, obtain)
    assert not (film_dir / "shots" / "hero.mp4").exists()


def test_a_clip_rendered_before_its_shot_had_retries_is_its_first_attempt_not_rendered_again(tmp_path):
    from ltx_flows.render.records import clip_record, write_record
    from ltx_flows.render.takes import restore_chosen, settled

    path = tmp_path / "board.yaml"
    path.write_text(BOARD.format(on_fail="keep").replace(", takes: 2", ""))
    plan = plan_storyboard(load_storyboard(path, tmp_path), path)
    shot = plan.shots[0]
    film_dir = tmp_path / "renders" / "choose"
    clip = film_dir / shot.clip
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"the plain render")
    # As the shot cache wrote it before `qc.retries` was added: checks recorded, failing today's flicker threshold.
    record = {**clip_record(clip, shot.content_hash, 9), "attempts": [], "memory": None, "render_seconds": 2.0,
              "rendered_by": None, "qc": {"scores": {"flicker": 9.0}, "notes": {}, "seconds": 0.1}}
    write_record(record, clip)
    assert not settled(shot, record, film_dir)  # it fails and may now be retried
    assert restore_chosen(plan, shot, film_dir) is None  # the retry is not rendered yet: the flow renders it
    adopted = film_dir / shot.takes[0].clip
    assert adopted.read_bytes() == b"the plain render"  # the first attempt, copied, not rendered again
    passing = {**record, "qc": {"scores": {"flicker": 1.0}, "notes": {}, "seconds": 0.1}}
    assert settled(shot, passing, film_dir)  # a clip that passes stands as it is
