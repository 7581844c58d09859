"""Frame-rate upscaling at validation and in the plan (storyboard/frame_rate.py, plan/recipes.py): which rate a
film generates at, the calls `plan` shows for it, and the located refusals. Real storyboards; nothing stubbed."""

import pytest

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.frame_rate import TEMPORAL_UPSCALERS, frame_rate
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

BOARD = """
version: 1
name: rate
model: {{preset: {preset}{model}}}
output: {{width: 64, height: 64, fps: {fps}}}
shots:
  - {{id: a, prompt: x, frames: 17}}
"""


def _load(write_storyboard, preset, fps, model=""):
    path = write_storyboard(BOARD.format(preset=preset, fps=fps, model=model))
    return load_storyboard(path), path


@pytest.mark.parametrize("preset, fps, model, generated, factor", [
    ("ltxv-0.9.7-distilled", 24, "", 24, 1),
    ("ltxv-0.9.7-distilled", 30, "", 30, 1),  # LTX-Video's own rate: no pass
    ("ltxv-0.9.7-distilled", 60, "", 30, 2),
    ("ltxv-0.9.8-distilled", 120, "", 30, 4),
    ("ltx2-distilled", 48, "", 48, 1),  # LTX-2 makes up to 50 fps itself
    ("ltx2-distilled", 100, "", 50, 2),
    ("ltx2.3-dev", 48, ", generate_fps: 24", 24, 2),  # doubled on purpose
    ("ltx2.5-distilled", 60, "", 60, 1),
])
def test_the_film_generates_at_the_models_rate(write_storyboard, preset, fps, model, generated, factor):
    storyboard, _ = _load(write_storyboard, preset, fps, model)
    rate = frame_rate(storyboard.model, storyboard.output)
    assert (rate.generate_fps, rate.factor) == (generated, factor)


def test_plan_shows_one_upscale_and_refine_per_round_with_the_generations_file(write_storyboard):
    storyboard, path = _load(write_storyboard, "ltxv-0.9.8-distilled", 120, ", two_pass: true")
    calls = plan_storyboard(storyboard, path).calls
    assert [c.step for c in calls] == ["generate", "upsample", "refine", "upsample_time", "retime", "upsample_time",
                                       "retime"]
    assert [c.kwargs["frame_rate"] for c in calls if "frame_rate" in c.kwargs] == [30, 30, 60, 120]
    assert [c.kwargs["output_type"] for c in calls] == ["latent"] * 6 + ["np"]
    assert {c.upscaler for c in calls if c.step == "upsample_time"} == {TEMPORAL_UPSCALERS["ltxv-0.9.8"]}
    # 0.9.8's tone map goes to the final latents: the last round's, not the refine's any more.
    assert [c.tone_map_compression_ratio for c in calls] == [0.0] * 6 + [0.6]


def test_a_dev_presets_rounds_refine_with_its_stage2_lora_and_keep_the_sound(write_storyboard):
    storyboard, path = _load(write_storyboard, "ltx2.3-dev", 48, ", generate_fps: 24")
    plan = plan_storyboard(storyboard, path)
    retime = plan.calls[-1]
    refine_sigmas = storyboard.model.refine_sigmas
    assert (retime.step, retime.freeze_audio, retime.kwargs["sigmas"]) == ("retime", True, refine_sigmas)
    assert retime.lora and retime.lora.endswith("ltx-2.3-22b-distilled-lora-384-1.1.safetensors")
    assert plan.calls[0].kwargs["frame_rate"] == 24 and retime.kwargs["frame_rate"] == 48


def test_the_rounds_move_the_content_hash_only_where_they_run(write_storyboard):
    hashes = {}
    for fps in (30, 60):
        storyboard, path = _load(write_storyboard, "ltxv-0.9.7-distilled", fps)
        hashes[fps] = plan_storyboard(storyboard, path).shots[0].content_hash
    assert hashes[30] != hashes[60]


@pytest.mark.parametrize("preset, fps, model, where, says", [
    ("ltxv-0.9.7-distilled", 90, "", "output.fps", "not twice or four times a rate it does"),
    ("ltx2.5-distilled", 120, "", "output.fps", "DFR recipe"),
    ("ltx2.5-dev", 48, ", generate_fps: 24", "model.generate_fps", "LTX2DFRTemporalRefinePipeline"),
    ("ltx2-distilled", 110, ", generate_fps: 55", "model.generate_fps", "at most 50 fps, not 55"),
    ("ltx2-distilled", 60, ", generate_fps: 20", "model.generate_fps", "times 2 or 4"),
])
def test_what_cannot_be_upscaled_is_refused_at_its_key(write_storyboard, preset, fps, model, where, says):
    with pytest.raises(StoryboardError) as error:
        _load(write_storyboard, preset, fps, model)
    message = str(error.value)
    line = 3 if where.startswith("model") else 4
    assert f"board.yaml:{line}:" in message and where in message and says in message


def test_without_a_preset_the_pass_is_refused_for_want_of_its_file(write_storyboard):
    path = write_storyboard(BOARD.format(preset="null", fps=60, model="").replace("preset: null", "family: ltxv"))
    with pytest.raises(StoryboardError, match="needs a `preset:`"):
        load_storyboard(path)
