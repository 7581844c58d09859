"""Tiny LoRA files for the LTX-2 twins, in the layout Lightricks publishes LoRAs in.

Lightricks' LoRA files (IC-LoRAs, the stage-2 distilled LoRA, camera-control LoRAs) use the original key layout
of their own trainer: `diffusion_model.<module>.lora_A.weight` / `.lora_B.weight`, module names as in
Lightricks' LTX-2 code. diffusers' `LTX2LoraLoaderMixin.lora_state_dict` sees the `diffusion_model.` prefix and
converts them (`lora_conversion_utils._convert_non_diffusers_ltx2_lora_to_diffusers`); written here the same way,
the twins' LoRAs go through that conversion in the suite, as real files do. `save_original_lora` writes that
layout, `save_diffusers_lora` (`tiny_ltx2.save_lora`) diffusers' own (`transformer.` keys): both load.

The module names this writes are the diffusers transformer's, mapped back through the inverse of diffusers'
renames (`ORIGINAL_NAMES`), so the conversion's renames run too where a LoRA reaches a renamed module.
"""

from __future__ import annotations

from pathlib import Path

# diffusers' module name -> Lightricks' original one: the inverse of the renames in diffusers'
# `_convert_non_diffusers_ltx2_lora_to_diffusers` for the modules a LoRA can reach (Linear layers).
ORIGINAL_NAMES = {
    "audio_proj_in": "audio_patchify_proj",
    "proj_in": "patchify_proj",
    "av_cross_attn_video_scale_shift": "av_ca_video_scale_shift_adaln_single",
    "av_cross_attn_video_a2v_gate": "av_ca_a2v_gate_adaln_single",
    "av_cross_attn_audio_scale_shift": "av_ca_audio_scale_shift_adaln_single",
    "av_cross_attn_audio_v2a_gate": "av_ca_v2a_gate_adaln_single",
    "audio_prompt_adaln": "audio_prompt_adaln_single",
    "prompt_adaln": "prompt_adaln_single",
    "audio_time_embed": "audio_adaln_single",
    "time_embed": "adaln_single",
}
ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")


def original_key(key: str) -> str:
    """A diffusers LoRA key (`transformer.` prefix or none) in Lightricks' original layout (`diffusion_model.`)."""
    key = key.removeprefix("transformer.")
    head, dot, rest = key.partition(".")
    return "diffusion_model." + ORIGINAL_NAMES.get(head, head) + dot + rest


def lora_layers(transformer, seed: int | None, targets: tuple[str, ...] = ATTENTION, rank: int = 4) -> dict:
    """A real PEFT LoRA's tensors on `targets` of the transformer, keyed as PEFT names them (no prefix).

    Random A and B (`init_lora_weights=False`), so loading it changes what the model does (a freshly initialised
    LoRA is a no-op). `seed` restarts the random stream first; None draws on where the caller left it. The
    transformer is left without the adapter.
    """
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    if seed is not None:
        torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, target_modules=list(targets), init_lora_weights=False),
        adapter_name="tiny",
    )
    layers = get_peft_model_state_dict(transformer, adapter_name="tiny")
    transformer.delete_adapters("tiny")
    return {key: value.detach().clone().contiguous() for key, value in layers.items()}


def save_original_lora(transformer, path: Path, seed: int | None, reference_downscale: int | None = None,
                       targets: tuple[str, ...] = ATTENTION) -> Path:
    """A tiny LoRA for `transformer` saved to `path` in Lightricks' original key layout (see the module docstring).

    `reference_downscale` (IC-LoRAs) goes in the file's metadata as `reference_downscale_factor`, where
    Lightricks' IC-LoRAs keep it.
    """
    from safetensors.torch import save_file

    layers = lora_layers(transformer, seed, targets)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {} if reference_downscale is None else {"reference_downscale_factor": str(reference_downscale)}
    save_file({original_key(key): value for key, value in layers.items()}, path, metadata=metadata)
    return path


def generation_targets(transformer) -> tuple[str, ...]:
    """Attention, plus the layers only this generation's transformer has: LTX-2.3's attention gates
    (`to_gate_logits`) and prompt modulation, LTX-2.0's caption projection. A LoRA on them fits its own
    generation only, as a LoRA trained on it does (Lightricks: a LoRA works only with its generation)."""
    names = {name for name, _ in transformer.named_modules()}
    extra = []
    if any(name.endswith(".to_gate_logits") for name in names):
        extra.append("to_gate_logits")
    if "caption_projection.linear_1" in names:
        extra.append("caption_projection.linear_1")
    return ATTENTION + tuple(extra)
