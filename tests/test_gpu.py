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
    frames = generate.generate_shot(pipe, plan.shots[0], plan.model, plan.output).frames
    again = generate.generate_shot(pipe, plan.shots[0], plan.model, plan.output).frames
    assert frames.shape == (25, 160, 256, 3) and frames.dtype == np.uint8
    assert frames.std() > 0
    # Same seed, same GPU: equal up to non-deterministic CUDA kernels.
    assert np.abs(frames.astype(int) - again.astype(int)).mean() < 2
