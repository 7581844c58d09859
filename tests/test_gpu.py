"""GPU path on the tiny checkpoint: CUDA, bfloat16, CPU offload. Skipped without a GPU."""

import numpy as np
import pytest
import torch

from ltx_flows import generate
from ltx_flows.plan import plan_storyboard
from ltx_flows.storyboard import load_storyboard

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BOARD = """
version: 1
name: gpu
model: {{checkpoint: tiny, steps: 2, dtype: {dtype}, device: cuda, cpu_offload: {offload}, vae_tiling: {tiling}}}
output: {{width: 256, height: 160, fps: 24}}
shots:
  - id: a
    prompt: "a red ball"
    frames: 25
    keyframes: [{{image: keyframes/a.png, at: 8}}]
"""


@pytest.mark.parametrize(
    "dtype, offload, tiling", [("bfloat16", "false", "false"), ("bfloat16", "true", "true"), ("float16", "false", "true")]
)
def test_cuda_render(tiny_cache, write_storyboard, dtype, offload, tiling):
    path = write_storyboard(BOARD.format(dtype=dtype, offload=offload, tiling=tiling))
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = generate.load_pipeline(plan.model)
    assert pipe.transformer.dtype == getattr(torch, dtype)
    frames = generate.generate_shot(pipe, plan.shots[0], plan.model, plan.output)
    again = generate.generate_shot(pipe, plan.shots[0], plan.model, plan.output)
    assert frames.shape == (25, 160, 256, 3) and frames.dtype == np.uint8
    assert frames.std() > 0
    # Same seed, same GPU: equal up to non-deterministic CUDA kernels.
    assert np.abs(frames.astype(int) - again.astype(int)).mean() < 2


def test_cuda_long_take(tiny_cache, write_storyboard, workspace):
    """A 3-segment take in bfloat16: the tail condition and keyframes go through the GPU path."""
    from ltx_flows.media import read_frames

    path = write_storyboard(
        BOARD.format(dtype="bfloat16", offload="false", tiling="false").replace(
            "frames: 25", "frames: 41\n    segments: {frames: 25, overlap: 17}"
        ).replace("at: 8", "at: end")
    )
    plan = plan_storyboard(load_storyboard(path), path)
    assert [(s.start, s.frames) for s in plan.shots[0].segments] == [(0, 25), (8, 25), (16, 25)]
    clip = generate.render_shot(plan, plan.shots[0], workspace / "renders")
    frames = read_frames(clip)
    assert frames.shape == (41, 160, 256, 3) and frames.std() > 0
