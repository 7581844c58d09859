"""Unit tests: long-take splitting, validation messages, segment plans, and the seam math.

Nothing is stubbed. The seam-score tests write real H.264 clips with ffmpeg and score
their decoded frames.
"""

import numpy as np
import pytest

from ltx_flows.storyboard.frames import derive_seed, split_take
from ltx_flows.media.write import write_clip
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.seams import colour_stats, crossfade, match_colour, seam_scores
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

TAKE = """
version: 1
name: take
output: {width: 96, height: 64, fps: 24}
defaults: {seed: 9}
shots:
  - id: orbit
    prompt: "slow orbit"
    frames: 33
    segments:
      frames: 17
      overlap: 9
      prompts: ["one", "two", "three"]
    keyframes:
      - {image: keyframes/a.png, at: 0}
      - {image: keyframes/a.png, at: 12, strength: 0.5}
      - {image: keyframes/a.png, at: end}
"""


def plan_of(write_storyboard, text):
    path = write_storyboard(text)
    return plan_storyboard(load_storyboard(path), path)


@pytest.mark.parametrize("frames, overlap", [(17, 9), (121, 25), (97, 33), (257, 249)])
def test_every_8n_plus_1_total_splits_exactly(frames, overlap):
    for total in range(frames, 8 * frames, 8):
        segments = split_take(total, frames, overlap)
        lengths = [length for _, length in segments]
        assert sum(lengths) - (len(segments) - 1) * overlap == total
        assert all((length - 1) % 8 == 0 and overlap < length <= frames for length in lengths)
        assert lengths[:-1] == [frames] * (len(segments) - 1)  # only the last one may be shorter
        assert [start for start, _ in segments] == [k * (frames - overlap) for k in range(len(segments))]
        assert segments[-1][0] + segments[-1][1] == total


def test_segment_plan_ranges_prompts_keyframes_conditions_and_seeds(write_storyboard):
    [shot] = plan_of(write_storyboard, TAKE).shots
    assert shot.frames == 33 and shot.overlap == 9
    assert [(s.start, s.frames) for s in shot.segments] == [(0, 17), (8, 17), (16, 17)]
    assert [s.prompt for s in shot.segments] == ["one", "two", "three"]
    assert [s.seed for s in shot.segments] == [derive_seed(shot.seed, "segment", k) for k in range(3)]
    assert len({s.seed for s in shot.segments}) == 3
    # Each keyframe goes to one segment, at its local frame; frame 12 lies in the first overlap,
    # so the first segment renders it and the second inherits it through the tail.
    assert [[(k.frame, k.strength) for k in s.keyframes] for s in shot.segments] == [
        [(0, 1.0), (12, 0.5)], [], [(16, 1.0)]
    ]
    assert shot.segments[0].condition is None
    assert [(s.condition.first_frame, s.condition.last_frame) for s in shot.segments[1:]] == [(8, 16), (16, 24)]
    assert shot.segments[2].cache == f"segments/orbit/02-{shot.segments[2].content_hash[:16]}.mp4"
    assert shot.content_hash == shot.segments[-1].content_hash


def test_segment_hashes_chain_so_an_edit_moves_that_segment_and_the_later_ones(write_storyboard):
    def hashes(text):
        return [s.content_hash for s in plan_of(write_storyboard, text).shots[0].segments]

    base = hashes(TAKE)
    assert hashes(TAKE) == base
    second = hashes(TAKE.replace('"two"', '"TWO"'))
    assert second[0] == base[0] and second[1] != base[1] and second[2] != base[2]
    third = hashes(TAKE.replace('"three"', '"THREE"'))
    assert third[:2] == base[:2] and third[2] != base[2]
    # The strength of the tail condition changes every segment that has one.
    stronger = hashes(TAKE.replace("overlap: 9", "overlap: 9\n      strength: 0.5"))
    assert stronger[0] == base[0] and stronger[1] != base[1]


def test_long_shot_without_segments_is_split_with_the_family_defaults(write_storyboard):
    shot, short = plan_of(
        write_storyboard,
        "version: 1\nname: s\nshots:\n  - {id: a, prompt: x, duration: 24}\n  - {id: b, prompt: y, frames: 257}\n",
    ).shots
    assert shot.frames == 577 and shot.overlap == 25
    assert [(s.start, s.frames) for s in shot.segments] == [(0, 121), (96, 121), (192, 121), (288, 121), (384, 121), (480, 97)]
    assert {s.prompt for s in shot.segments} == {"x"}
    assert short.frames == 257 and short.segments == []  # one window: a plain shot, as before


def test_segments_that_fit_one_window_make_a_plain_shot(write_storyboard):
    [shot] = plan_of(
        write_storyboard,
        "version: 1\nname: s\nshots:\n  - {id: a, prompt: x, frames: 17, segments: {frames: 17, overlap: 9, prompts: [only]}}\n",
    ).shots
    assert shot.segments == [] and shot.prompt == "only" and shot.frames == 17


def test_impossible_long_takes_are_explained_with_their_location(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: s
        model: {max_segments: 4}
        shots:
          - id: a
            prompt: x
            frames: 300
            segments: {frames: 120, overlap: 24}
          - id: b
            prompt: x
            frames: 300
            segments: {frames: 49, overlap: 49}
          - id: c
            prompt: x
            frames: 200
            segments:
              frames: 97
              prompts: [p1, p2, p3, p4]
          - id: d
            prompt: x
            duration: 60
          - id: e
            prompt: x
            frames: 100
            segments: {frames: 289}
          - id: f
            prompt: x
            frames: 100
            segments: {frames: 17}
        """
    )
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert str(info.value).splitlines() == [
        f"{path}:8:24: shots[0].segments.frames: 120 is not 8n+1; the nearest valid lengths are 113 and 121",
        f"{path}:8:38: shots[0].segments.overlap: 24 is not 8n+1; the nearest valid lengths are 17 and 25",
        f"{path}:12:37: shots[1].segments.overlap: an overlap of 49 frames must be shorter than the segments "
        "(49 frames); use at most 41",
        f"{path}:18:16: shots[2].segments.prompts: 4 prompts for 3 segments (shot frames 0-96, 72-168, 144-200); "
        "give one prompt per segment, or leave out `prompts` to use the shot's prompt for every segment",
        f"{path}:21:15: shots[3].duration: 1441 frames (60.0s) need 15 segments of 121 frames overlapping by 25, "
        "more than model.max_segments (4); shorten the shot, use longer segments, or raise model.max_segments",
        f"{path}:25:24: shots[4].segments.frames: segments of 289 frames are longer than one ltxv window (257 frames)",
        f"{path}:29:24: shots[5].segments.frames: 17-frame segments cannot hold the default ltxv overlap of 25 "
        "frames; set `overlap` (8n+1, at most 9)",
    ]


def test_crossfade_weights_fade_linearly_without_repeating_either_side():
    previous = np.zeros((3, 2, 2, 3), np.uint8)
    following = np.full((3, 2, 2, 3), 200, np.uint8)
    blended = crossfade(previous, following)
    # Weights of `previous`: linspace(1, 0, 5)[1:-1] = 0.75, 0.5, 0.25.
    assert blended[:, 0, 0, 0].tolist() == [50, 100, 150]
    with pytest.raises(ValueError):
        crossfade(previous, following[:2])


def test_colour_matching_pulls_a_quarter_of_the_way_toward_the_reference():
    rng = np.random.default_rng(0)
    reference_frames = rng.integers(60, 140, (4, 16, 16, 3)).astype(np.uint8)
    drifted = reference_frames.copy()
    drifted[..., 0] += 40  # the red channel drifted up
    reference = colour_stats(reference_frames)
    before = colour_stats(drifted).mean
    after = colour_stats(match_colour(drifted, reference)).mean
    assert before[0] - reference.mean[0] == pytest.approx(40, abs=0.01)
    assert after[0] - reference.mean[0] == pytest.approx(30, abs=0.6)  # 25% of the drift removed
    assert after[1:] == pytest.approx(reference.mean[1:], abs=0.6)  # channels that did not drift stay put


def _moving_pattern(frames: int, phase: float = 0.0, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    # Soft stripes drifting 1 pixel a frame: smooth motion with a steady frame-to-frame difference.
    x = np.arange(96)[None, None, :] + np.arange(frames)[:, None, None]
    stripes = 128 + 80 * np.sin(2 * np.pi * (x + phase) / 24.0)
    image = np.broadcast_to(stripes, (frames, 64, 96))[..., None] * np.array(tint)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_seam_score_is_low_for_a_smooth_take_and_high_for_a_jump(tmp_path):
    smooth = write_clip(_moving_pattern(41), tmp_path / "smooth.mp4", fps=24)
    [seam] = seam_scores(smooth, [16], overlap=9)
    assert seam["frame"] == 16 and seam["score"] < 2 and seam["colour_shift"] < 3

    jump = np.concatenate([_moving_pattern(41)[:20], _moving_pattern(21, phase=12, tint=(1.0, 0.6, 0.4))])
    jumped = write_clip(jump, tmp_path / "jump.mp4", fps=24)
    [seam] = seam_scores(jumped, [16], overlap=9)
    assert seam["score"] > 5 and seam["colour_shift"] > 20


def test_seam_measures_see_unrelated_segments_through_the_crossfade(tmp_path):
    # The crossfade spreads the change over the overlap, so the spike is softer than a hard cut's,
    # but still above a smooth take's; the colour shift across the join shows it plainly.
    first, second = _moving_pattern(17), _moving_pattern(17, phase=12, tint=(0.5, 0.8, 1.0))
    second[:9] = crossfade(first[8:], second[:9])
    take = np.concatenate([first[:8], second])
    [seam] = seam_scores(write_clip(take, tmp_path / "take.mp4", fps=24), [8], overlap=9)
    [smooth] = seam_scores(write_clip(_moving_pattern(25), tmp_path / "smooth.mp4", fps=24), [8], overlap=9)
    assert seam["score"] > 1.2 * smooth["score"]
    assert seam["colour_shift"] > 15 > 3 > smooth["colour_shift"]


def test_plan_command_shows_each_segment(write_storyboard):
    import json

    from typer.testing import CliRunner

    from ltx_flows.cli import app

    path = write_storyboard(TAKE)
    runner = CliRunner()
    table = runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "33 -> 33 in 3 segments" in table.output
    assert "long take orbit: 3 segments, 9 frames shared at each join, 33 frames in all" in table.output
    rows = [line for line in table.output.splitlines() if line.startswith("│ 2/3")]
    assert len(rows) == 1 and "8-24 (17)" in rows[0] and "8-16 @ 1" in rows[0] and "two" in rows[0]

    plan = json.loads(runner.invoke(app, ["plan", str(path), "--json"]).output)
    segments = plan["shots"][0]["segments"]
    assert [(s["start"], s["frames"], s["prompt"]) for s in segments] == [(0, 17, "one"), (8, 17, "two"), (16, 17, "three")]
    assert segments[2]["condition"] == {"first_frame": 16, "last_frame": 24, "strength": 1.0}
    assert [k["frame"] for k in segments[2]["keyframes"]] == [16]
