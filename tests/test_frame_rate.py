"""Frame-rate upscaling on the real diffusers pipelines and the twins' temporal upscaler files (CPU, seconds each).

Forward hooks on the real models record what ran: the passes at the lower rate, the temporal upscaler once per x2
round (its latents doubled in time), the refine at the film's rate. Then whole films through `render_shot_cached`:
a long take and a retake keep working, sound and all. Nothing under test is stubbed."""

import numpy as np
import pytest
import torch

from ltx_flows.media.read import probe
from ltx_flows.models import frame_rate
from ltx_flows.models.loading import MODELS, load_pipeline
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.generate import load_models
from ltx_flows.storyboard.loading import load_storyboard

from .test_ltx2 import Recorder

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

BOARD = """
version: 1
name: rate
model: {{preset: {preset}, checkpoint: tiny{model}}}
output: {{width: 64, height: 64, fps: {fps}}}
shots:
  - id: a
    prompt: "a red ball rolls across a table"
    frames: {frames}
    keyframes: [{{image: keyframes/a.png, at: end}}]
"""


def _plan(write_storyboard, preset, fps, frames=17, model=""):
    path = write_storyboard(BOARD.format(preset=preset, fps=fps, frames=frames, model=model))
    return plan_storyboard(load_storyboard(path), path)


class LatentFrames:
    """The latent frame counts going into and out of a module (a forward hook on the real model)."""

    def __init__(self, module):
        self.seen: list[tuple[int, int]] = []
        self.handle = module.register_forward_hook(lambda m, args, out: self.seen.append((args[0].shape[2], out.shape[2])))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("preset, fps, model, rounds", [
    ("ltxv-0.9.7-distilled", 60, "", 1),  # 30 fps x2
    ("ltxv-0.9.8-distilled", 120, "", 2),  # 30 fps x4: two rounds
    ("ltx2.3-distilled", 48, ", generate_fps: 24", 1),  # a native rate, doubled on purpose
])
def test_the_passes_run_at_the_lower_rate_and_each_round_doubles_the_latents(
    write_storyboard, tiny_cache, preset, fps, model, rounds
):
    from ltx_flows.render.generate import generate_shot

    plan = _plan(write_storyboard, preset, fps, frames=17, model=model)
    assert [c.step for c in plan.calls][-2 * rounds:] == ["upsample_time", "retime"] * rounds
    models = load_models(plan, plan.shots[0])
    assert models.temporal is not None
    with LatentFrames(models.temporal.latent_upsampler) as upscaler, Recorder(models.pipe.transformer) as passes:
        clip = generate_shot(models.pipe, plan.shots[0], plan.model, plan.output, temporal_pipe=models.temporal,
                             calls=plan.calls)
    # 17 frames at the film's rate: padded to 8 x 2^rounds x n + 1 = 17 (x2) or 33 (x4), generated at 9 frames.
    padded = 17 if rounds == 1 else 33
    base_latents = (padded - 1) // 2**rounds // 8 + 1
    expected = [(base_latents * 2**r - 2**r + 1, base_latents * 2**(r + 1) - 2**(r + 1) + 1) for r in range(rounds)]
    assert upscaler.seen == expected
    # The transformer saw the lower rate's latents in every step of the first pass, then each round's, for as many
    # steps as the plan says (2 x 2 tokens a latent frame, plus the end keyframe's 2 x 2 appended tokens).
    steps = [call.denoising_steps for call in plan.calls if call.step in ("generate", "retime")]
    latents = [base_latents] + [after for _, after in expected]
    assert passes.tokens == [4 * (frames + 1) for frames, count in zip(latents, steps) for _ in range(count)]
    assert clip.frames.shape == (17, 64, 64, 3)
    if plan.model.family == "ltx2":  # the sound lasts the 17 frames at the film's rate
        assert abs(clip.audio.samples.shape[1] / clip.audio.rate - 17 / fps) < 0.045
        assert len(clip.audio_latents) == round(17 / fps * 25)


def test_without_the_rounds_the_same_shot_is_another_render(write_storyboard, tiny_cache):
    """The pass changes the picture: the same storyboard at 30 fps (no rounds) renders other frames than at 60."""
    from ltx_flows.render.generate import generate_shot

    clips = []
    for fps in (30, 60):
        plan = _plan(write_storyboard, "ltxv-0.9.7-distilled", fps)
        models = load_models(plan, plan.shots[0])
        clips.append(generate_shot(models.pipe, plan.shots[0], plan.model, plan.output, temporal_pipe=models.temporal,
                                   calls=plan.calls).frames)
    assert clips[0].shape == clips[1].shape and not np.array_equal(clips[0], clips[1])


def test_the_published_file_loads_strictly(tiny_cache, tmp_path):
    from ltx_flows.models.checkpoints import ensure_twin
    from safetensors.torch import load_file, save_file

    twin = ensure_twin("ltx2-2.3") / "Lightricks/LTX-2.3/ltx-2.3-temporal-upscaler-x2-1.0.safetensors"
    vae = load_pipeline(_model("ltx2.3-distilled")).vae
    loaded = frame_rate.load_temporal_upscaler("ltx2", twin, vae, torch.float32)
    assert loaded.latent_upsampler.config.temporal_upsample and not loaded.latent_upsampler.config.spatial_upsample
    tensors = load_file(twin)
    tensors.pop(next(key for key in tensors if key.startswith("post_upsample_res_blocks.")))
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken))
    with pytest.raises(ValueError, match="do not fit a temporal LTX2LatentUpsamplerModel"):
        frame_rate.load_temporal_upscaler("ltx2", broken, vae, torch.float32)


def _model(preset):
    from ltx_flows.storyboard.models import ModelConfig
    from ltx_flows.storyboard.presets import apply_preset

    return ModelConfig(**{**apply_preset({"model": {"preset": preset}})["model"], "checkpoint": "tiny"})


LONG = """
version: 1
name: long
model: {preset: ltx2.3-distilled, checkpoint: tiny, generate_fps: 24}
output: {width: 64, height: 64, fps: 48}
shots:
  - id: long
    prompt: a red ball rolls
    frames: 81
    segments: {frames: 49, overlap: 17}
  - id: fix
    prompt: a blue cube
    frames: 49
    retakes:
      - {from: 20, to: 30, prompt: a green cube}
"""


def test_a_long_take_and_a_retake_at_an_upscaled_rate(write_storyboard, tiny_cache):
    from ltx_flows.render.shot import render_shot_cached

    path = write_storyboard(LONG)
    plan = plan_storyboard(load_storyboard(path), path)
    film_dir = path.parent / "renders" / "long"
    for shot in plan.shots:
        record = render_shot_cached(plan, shot, film_dir, force=False, failed_attempts=[])
        info = probe(film_dir / shot.clip)
        assert (info.frames, info.fps) == (shot.frames, 48), shot.id
        assert record["frames"] == shot.frames
    assert len(plan.shots[0].segments) == 2 and plan.shots[1].retakes
    assert any(key[1] == "temporal" for key in MODELS.upsamplers)
