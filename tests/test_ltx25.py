"""LTX-2.5 on its tiny twin (real diffusers classes, CPU): the dev preset runs the weights in transformer_full/,
every preset decodes with the diffusion decoder in a call of its own. Forward hooks on the real models count what
ran; nothing under test is stubbed. (The presets' offline render from their hub ids through the flow is in
tests/test_presets_integration.py, which renders every preset.)"""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ltx_flows.models import ltx25
from ltx_flows.models.loading import checkpoint_path, load_pipeline
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.generate import generate_shot
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


def _plan(write_storyboard, preset: str):
    path = write_storyboard(f"""
        version: 1
        name: t
        model: {{preset: {preset}, checkpoint: tiny, steps: 2, sigmas: null}}
        output: {{width: 96, height: 64}}
        shots: [{{id: a, prompt: a red ball, frames: 9}}]
        """)
    return plan_storyboard(load_storyboard(path), path)


def _weights(folder) -> dict:
    [file] = folder.glob("*.safetensors")
    return load_file(file)


def test_dev_loads_transformer_full_and_both_decode_with_the_diffusion_decoder(write_storyboard, tiny_cache):
    dev, distilled = _plan(write_storyboard, "ltx2.5-dev"), _plan(write_storyboard, "ltx2.5-distilled")
    assert [call.step for call in dev.calls] == ["generate", "decode"]
    root = Path(checkpoint_path(dev.model))
    full, plain = _weights(root / "transformer_full"), _weights(root / "transformer")
    key = "proj_in.weight"
    assert not torch.equal(full[key], plain[key])  # the twin's two transformers differ, as dev and distilled do

    pipe = load_pipeline(dev.model)
    assert torch.equal(pipe.transformer.state_dict()[key], full[key])
    assert ltx25.has_diffusion_decoder(pipe)
    assert type(pipe.text_encoder).__name__ == "Gemma4UnifiedForConditionalGeneration"
    # The distilled preset: the same repo, its own pipeline with the distilled transformer/.
    other = load_pipeline(distilled.model)
    assert other is not pipe and torch.equal(other.transformer.state_dict()[key], plain[key])

    decoded = []
    handle = pipe._ltx_flows_diffusion_decode.diffusion_decoder.decoder.register_forward_pre_hook(
        lambda module, args: decoded.append(1))
    vae_decodes = []
    vae_handle = pipe.vae.decoder.register_forward_pre_hook(lambda module, args: vae_decodes.append(1))
    try:
        clip = generate_shot(pipe, dev.shots[0], dev.model, dev.output, calls=dev.calls)
    finally:
        handle.remove()
        vae_handle.remove()
    assert decoded and not vae_decodes  # the diffusion decoder, not the convolutional VAE's decoder
    assert clip.frames.shape == (9, 64, 96, 3) and clip.audio.samples.shape[0] == 2
    assert np.abs(clip.audio.samples).max() > 0
    # Without the decode call the same latents go through the convolutional VAE: another picture.
    conv = [call.model_copy(deep=True) for call in dev.calls[:-1]]
    conv[-1].kwargs["output_type"] = "np"
    assert not np.array_equal(generate_shot(pipe, dev.shots[0], dev.model, dev.output, calls=conv).frames, clip.frames)
