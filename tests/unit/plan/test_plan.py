"""Unit tests: frame arithmetic, seeds and content hashes of the plan."""

import pytest

from ltx_flows.storyboard.frames import derive_seed, resolve_position, snap_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

BOARD = """
version: 1
name: spot
output: {width: 384, height: 256, fps: 24}
defaults: {seed: 1234}
shots:
  - id: a
    prompt: "a sunset"
    duration: 5
    keyframes:
      - {image: keyframes/a.png, at: "2.5s", strength: 0.7}
      - {image: keyframes/a.png, at: end}
    transition: {crossfade: 0.5}
  - id: b
    prompt: "the night"
    frames: 40
    seed: 7
"""


@pytest.mark.parametrize(
    "requested, snapped",
    [(1, 9), (9, 9), (12, 9), (13, 17), (16, 17), (40, 41), (48, 49), (120, 121), (121, 121), (125, 129), (257, 257)],
)
def test_frames_snap_to_the_nearest_8n_plus_1(requested, snapped):
    assert snap_frames(requested) == snapped
    assert (snapped - 1) % 8 == 0


def test_positions_resolve_to_frames():
    assert resolve_position("start", 24, 121) == 0
    assert resolve_position("end", 24, 121) == 120
    assert resolve_position("2.5s", 24, 121) == 60
    assert resolve_position(17, 24, 121) == 17


def test_plan_frames_seeds_and_keyframes(write_storyboard):
    path = write_storyboard(BOARD)
    plan = plan_storyboard(load_storyboard(path), path)
    a, b = plan.shots
    assert (a.requested_frames, a.frames, b.requested_frames, b.frames) == (120, 121, 40, 41)
    assert [(k.frame, k.strength) for k in a.keyframes] == [(60, 0.7), (120, 1.0)]
    assert a.crossfade_frames == 12 and b.crossfade_frames == 0
    assert plan.film_frames == 121 + 41 - 12
    assert b.seed == 7
    assert a.seed == derive_seed(1234, "a")
    assert a.clip == "shots/a.mp4"


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(1234, "a") == derive_seed(1234, "a")
    assert len({derive_seed(1234, "a"), derive_seed(1234, "b"), derive_seed(1235, "a")}) == 3
    assert 0 <= derive_seed(0, "x") < 2**32


def test_content_hash_follows_what_changes_pixels(write_storyboard, workspace):
    def hashes(text):
        path = write_storyboard(text)
        return [s.content_hash for s in plan_storyboard(load_storyboard(path), path).shots]

    base = hashes(BOARD)
    assert hashes(BOARD) == base  # deterministic
    moon = hashes(BOARD.replace('"the night"', '"the moon"'))
    assert moon[0] == base[0] and moon[1] != base[1]  # only the edited shot changes
    assert hashes(BOARD.replace("seed: 7", "seed: 8"))[1] != base[1]
    assert all(h != b for h, b in zip(hashes(BOARD.replace("width: 384", "width: 416")), base))
    # Editing the keyframe image's pixels changes the shot that uses it, not the other one.
    from PIL import Image

    Image.new("RGB", (64, 48), (0, 0, 255)).save(workspace / "keyframes" / "a.png")
    edited = hashes(BOARD)
    assert edited[0] != base[0] and edited[1] == base[1]


def test_speed_only_settings_do_not_change_the_hash(write_storyboard):
    def first_hash(text):
        path = write_storyboard(text)
        return plan_storyboard(load_storyboard(path), path).shots[0].content_hash

    base = first_hash(BOARD)
    assert first_hash(BOARD.replace("defaults:", "model: {cpu_offload: true, vae_tiling: true}\ndefaults:")) == base
    assert first_hash(BOARD.replace("defaults:", "model: {steps: 4}\ndefaults:")) != base


@pytest.mark.parametrize("family, start, end", [
    # LTX-Video: Lightricks' LTX-Video inference.py default negative prompt.
    ("ltxv", "worst quality, inconsistent motion", "distorted"),
    # LTX-2: Lightricks' DEFAULT_NEGATIVE_PROMPT (LTX-2 ltx-pipelines utils/constants.py), repeated by diffusers'
    # pipelines/ltx2/utils.py DEFAULT_NEGATIVE_PROMPT (installed): the same text.
    ("ltx2", "blurry, out of focus, overexposed", "stylized filters, or AI artifacts."),
])
def test_shots_without_a_negative_prompt_get_their_familys_documented_one(write_storyboard, family, start, end):
    path = write_storyboard(f"""
        version: 1
        name: spot
        model: {{family: {family}, checkpoint: tiny}}
        shots:
          - {{id: a, prompt: x, frames: 9}}
          - {{id: b, prompt: x, frames: 9, negative_prompt: own}}
        """)
    a, b = plan_storyboard(load_storyboard(path), path).shots
    assert a.negative_prompt.startswith(start) and a.negative_prompt.endswith(end) and b.negative_prompt == "own"
    if family == "ltx2":
        from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT

        assert a.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    # `defaults.negative_prompt` still wins over the family's.
    path.write_text(path.read_text().replace("shots:", "defaults: {negative_prompt: mine}\nshots:"))
    assert plan_storyboard(load_storyboard(path), path).shots[0].negative_prompt == "mine"
