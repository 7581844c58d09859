"""The fp8 memory rung on the CPU (torch stores and casts float8 there too): the transformer's weights stored in
float8 e4m3 and computed in the pipeline's dtype (diffusers' enable_layerwise_casting) render the same shot close
to, not exactly like, the full-precision weights. On CUDA with bfloat16: tests/test_gpu.py, every memory rung."""

import numpy as np
import pytest
import torch

from ltx_flows.models.loading import MODELS, load_pipeline
from ltx_flows.plan.memory import memory_steps
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.generate import generate_shot
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


def test_fp8_rung_stores_the_transformer_in_float8_and_still_renders(write_storyboard, tiny_cache):
    path = write_storyboard("""
        version: 1
        name: fp8
        model: {preset: ltx2.3-distilled, checkpoint: tiny, device: cpu, dtype: float32}
        output: {width: 96, height: 64}
        shots: [{id: a, prompt: a red ball, frames: 9}]
        """)
    plan = plan_storyboard(load_storyboard(path), path)
    ladder = memory_steps(plan.model)
    [fp8] = [rung for rung in ladder if rung.fp8_storage and not rung.sequential_offload]
    MODELS.pipelines.clear()  # a fresh load: fp8 cannot be undone on a loaded model
    try:
        pipe = load_pipeline(plan.model)
        full = generate_shot(pipe, plan.shots[0], plan.model, plan.output, memory=ladder[0]).frames
        weight = pipe.transformer.transformer_blocks[0].attn1.to_q.weight  # a block's (norms, embeddings stay put)
        before = weight.detach().clone()

        stored = generate_shot(pipe, plan.shots[0], plan.model, plan.output, memory=fp8).frames
        assert weight.dtype == torch.float8_e4m3fn
        # The stored weights are the float32 ones rounded to e4m3 (3 mantissa bits: within 1/16 relative).
        np.testing.assert_allclose(weight.detach().float().numpy(), before.numpy(), rtol=1 / 16, atol=1e-3)
        assert stored.shape == full.shape and not np.array_equal(stored, full)
        assert np.abs(stored.astype(int) - full.astype(int)).mean() < 32  # the same shot, slightly off

        # A later shot asking for the storyboard's own settings keeps fp8: the float32 weights are gone.
        generate_shot(pipe, plan.shots[0], plan.model, plan.output, memory=ladder[0])
        assert MODELS.applied_memory[id(pipe)].fp8_storage and weight.dtype == torch.float8_e4m3fn
    finally:
        MODELS.pipelines.clear()  # the next test loads the twin afresh, in full precision
