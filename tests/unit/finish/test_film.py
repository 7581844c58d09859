"""finish/film.py with a batch's `Decoded` (finish/decoded.py): the films of one batch made of the same clips.

Clips are written with real ffmpeg from made-up frames and their records made up (as in test_review.py); the stitch,
manifest and review page are real. The second film's stitch is stubbed to raise, so a stitch that happens shows.
"""

import shutil

from ltx_flows.files import file_sha256
from ltx_flows.finish import film as finishing
from ltx_flows.finish.decoded import Decoded
from ltx_flows.finish.film import finish_storyboard
from ltx_flows.media.read import decoded_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

from .test_review import fake_render

BOARD = """
version: 1
name: same
model: {family: ltx2, checkpoint: tiny, steps: 2}
output: {width: 128, height: 128, fps: 24, audio: none}
shots:
  - {id: a, prompt: one, frames: 17}
  - {id: b, prompt: two, frames: 9}
"""


def two_films(write_storyboard, workspace):
    """One plan, two film folders holding the same clips (as a variant's copies), records with their sha256."""
    path = write_storyboard(BOARD)
    plan = plan_storyboard(load_storyboard(path), path)
    first, second = workspace / "renders" / "v1", workspace / "renders" / "v2"
    renders = fake_render(plan, first)
    shutil.copytree(first, second)
    renders = {shot.id: {**renders[shot.id], "sha256": file_sha256(first / shot.clip)} for shot in plan.shots}
    return plan, first, second, renders


def test_a_film_of_the_clips_of_a_film_the_batch_stitched_is_a_copy_of_it(write_storyboard, workspace, monkeypatch):
    plan, first, second, renders = two_films(write_storyboard, workspace)
    decoded = Decoded()
    made = finish_storyboard(plan, first, renders, decoded)
    assert decoded.films == {made.info.sha256: plan.film_frames}  # decoded whole, once

    def no_stitch(*args, **kwargs):
        raise AssertionError("stitched again")

    monkeypatch.setattr(finishing, "stitch", no_stitch)
    copied = finish_storyboard(plan, second, renders, decoded)

    assert copied.stitched and copied.info == made.info and copied.info.sha256 == made.info.sha256
    assert file_sha256(copied.film) == made.info.sha256 and decoded_frames(copied.film) == plan.film_frames
    assert copied.review.is_file() and copied.manifest.is_file()
    assert not [p for p in second.iterdir() if "partial" in p.name]


def test_a_film_is_stitched_when_the_one_it_would_copy_is_no_longer_the_bytes_that_decoded(
        write_storyboard, workspace, monkeypatch):
    plan, first, second, renders = two_films(write_storyboard, workspace)
    decoded = Decoded()
    made = finish_storyboard(plan, first, renders, decoded)
    shutil.copyfile(first / plan.shots[0].clip, made.film)  # replaced since (another run, a damaged disk)

    def no_stitch(*args, **kwargs):
        raise AssertionError("stitched again")

    monkeypatch.setattr(finishing, "stitch", no_stitch)
    try:
        finish_storyboard(plan, second, renders, decoded)
    except AssertionError as error:
        assert "stitched again" in str(error)
    else:
        raise AssertionError("a film was copied from bytes that never decoded whole")
    assert not [p for p in second.iterdir() if "partial" in p.name]
    # Without the clips' sha256 nothing is keyed: each film is stitched (here: really, and checked).
    monkeypatch.undo()
    alone = finish_storyboard(plan, second, {k: {**v, "sha256": None} for k, v in renders.items()}, Decoded())
    assert decoded_frames(alone.film) == plan.film_frames
