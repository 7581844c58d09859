"""models/frame_rate.py without a model: the padded length the rounds reach, a shot and its conditions seen at a
lower rate, and sound tokens fitted to the same seconds (plain numpy / torch; nothing stubbed)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ltx_flows.models import frame_rate
from ltx_flows.models.ltxv import Held, Tail
from ltx_flows.plan.planner import KeyframePlan, ShotPlan
from ltx_flows.plan.recipes import PipelineCall


def _rounds(count):
    call = PipelineCall(step="upsample_time", pipeline="p", kwargs={})
    return [(call, call.model_copy(update={"step": "retime"}))] * count


@pytest.mark.parametrize("frames, rounds, padded, first_pass", [
    (17, 1, 17, 9), (9, 1, 17, 9), (49, 1, 49, 25), (57, 1, 65, 33), (17, 2, 33, 9), (121, 2, 129, 33),
])
def test_the_rounds_reach_the_next_frame_count_they_can_make(frames, rounds, padded, first_pass):
    timing = frame_rate.retiming(_rounds(rounds), frames)
    assert (timing.factor, timing.padded, timing.frames_at(timing.factor)) == (2**rounds, padded, first_pass)
    # Each round doubles in time: N -> 2 (N - 1) + 1, ending on the padded length.
    lengths = [timing.frames_at(timing.factor // 2**r) for r in range(rounds + 1)]
    assert all(after == 2 * (before - 1) + 1 for before, after in zip(lengths, lengths[1:])) and lengths[-1] == padded
    assert frame_rate.retiming([], frames) is None


def _shot(frames, keyframe_at, family="ltx2"):
    keyframe = KeyframePlan(image=Path("a.png"), frame=keyframe_at, latent_index=5 if family == "ltx2" else None,
                            model_frame=keyframe_at, strength=1.0, sha256="x")
    return ShotPlan(index=0, id="a", prompt="p", negative_prompt="n", seed=1, requested_frames=frames, frames=frames,
                    seconds=1.0, keyframes=[keyframe], control=None, mute=False, transition="cut", crossfade_frames=0,
                    content_hash="h", clip="shots/a.mp4")


def test_a_shot_at_half_the_rate_keeps_its_keyframes_at_the_same_seconds():
    timing = frame_rate.retiming(_rounds(1), 49)
    half = frame_rate.shot_at(_shot(49, 40), timing, 2)
    assert half.frames == 25 and half.keyframes[0].frame == 20
    assert half.keyframes[0].latent_index == 3  # frame 20 of 25 -> latent (20 - 1) / 8 + 1, rounded
    same = frame_rate.shot_at(_shot(49, 40), timing, 1)
    assert same.frames == 49 and same.keyframes[0].frame == 40


def test_tails_held_runs_and_controls_take_every_nth_frame():
    frames = np.arange(17)[:, None, None, None] * np.ones((17, 2, 2, 3))
    tail = frame_rate.tail_at(Tail(frames=frames, strength=0.9), 2)
    assert [int(f[0, 0, 0]) for f in tail.frames] == list(range(0, 17, 2)) and tail.strength == 0.9
    held = frame_rate.held_at([Held(frames=frames[:9], at=32)], 2)
    assert held[0].at == 16 and len(held[0].frames) == 5
    control = frame_rate.video_at(frames[:9], 2, 9)  # 5 sampled frames, the last held over the padding
    assert [int(f[0, 0, 0]) for f in control] == [0, 2, 4, 6, 8, 8, 8, 8, 8]


def test_sound_tokens_are_fitted_to_the_same_seconds():
    latents = torch.arange(12.0).reshape(6, 2)
    assert frame_rate.fit_tokens(latents, 4).tolist() == latents[:4].tolist()
    padded = frame_rate.fit_tokens(latents, 7)
    assert padded[:6].tolist() == latents.tolist() and padded[6].tolist() == [0.0, 0.0]


def test_a_file_not_in_the_upsamplers_layout_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "lora.safetensors"
    save_file({"diffusion_model.blocks.0.lora_A.weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ValueError, match="not a latent upsampler"):
        frame_rate.load_temporal_upscaler("ltxv", path, vae=None, dtype=torch.float32)
