"""The twins' LoRA files in Lightricks' original key layout (models/tiny_loras.py): diffusers' LTX-2 LoRA loader
converts them (its `diffusion_model.` path) to exactly the PEFT layers they were made from, renamed modules
included, and the twins write their published LoRAs that way. Real tiny transformers, real diffusers; no stubs."""

import torch
from diffusers import LTX2ConditionPipeline
from safetensors import safe_open

from ltx_flows.models import tiny_loras, tiny_ltx2
from ltx_flows.storyboard.generations import GENERATIONS


def _transformer(generation: str):
    return tiny_ltx2.transformer(dict(GENERATIONS[generation].components["transformer"].structure))


def test_original_layout_converts_back_to_the_layers_it_was_made_from(tmp_path):
    transformer = _transformer("ltx2-2.3")
    targets = (*tiny_loras.generation_targets(transformer), "proj_in", "audio_proj_in", "time_embed.linear")
    assert "to_gate_logits" in targets  # LTX-2.3's gated attention
    layers = tiny_loras.lora_layers(transformer, seed=3, targets=targets)
    path = tiny_loras.save_original_lora(transformer, tmp_path / "look.safetensors", seed=3, targets=targets)
    with safe_open(path, framework="pt") as lora:
        keys = list(lora.keys())
    assert keys and all(key.startswith("diffusion_model.") for key in keys)
    # Written under Lightricks' names where diffusers renames a module.
    assert any(key.startswith("diffusion_model.patchify_proj.") for key in keys)
    assert any(key.startswith("diffusion_model.adaln_single.linear.") for key in keys)
    converted = LTX2ConditionPipeline.lora_state_dict(str(path))
    assert set(converted) == {f"transformer.{key}" for key in layers}
    assert all(torch.equal(converted[f"transformer.{key}"], value) for key, value in layers.items())
    # The transformer is left without the adapter.
    assert not getattr(transformer, "peft_config", None)


def test_2_0_targets_its_caption_projection_and_no_gates():
    targets = tiny_loras.generation_targets(_transformer("ltx2-2.0"))
    assert "caption_projection.linear_1" in targets and "to_gate_logits" not in targets
