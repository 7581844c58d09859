"""Which LTX-2 generation a LoRA file fits, read from its safetensors header only (no weights, no torch).

A LoRA reaches named layers of one transformer. Lightricks: "a LoRA works only with the model generation it was
trained on" (MODELS-LTX-2.3.md). LTX-2.0 and 2.3 have the same widths, so the layers tell them apart: only 2.3 has
gated attention (`to_gate_logits`) and prompt modulation (`prompt_adaln`), only 2.0 the caption projection. Where the
model's transformer config is on disk, the widths and layer count are checked too (a real model's LoRA on a tiny
twin, or the reverse). Keys in Lightricks' original layout (`diffusion_model.`) and diffusers' (`transformer.`) both
read; the module names are the same in both for every layer this looks at.
"""

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from .generations import GENERATIONS

# The most a safetensors header may take: it is JSON names and shapes, a few MB even for a 22B model's LoRA.
_MAX_HEADER = 64 * 2**20
_PREFIXES = ("diffusion_model.", "transformer.")
_SUFFIX = re.compile(r"\.(lora_A|lora_B|lora_down|lora_up)(\.[\w]+)?\.weight$|\.alpha$")
# A layer name fragment -> the transformer flags of which at least one must be on for the layer to exist.
_LAYERS_NEEDING = {
    "to_gate_logits": ("gated_attn", "audio_gated_attn"),
    "prompt_adaln": ("cross_attn_mod", "audio_cross_attn_mod"),
    "caption_projection": ("use_prompt_embeddings",),
}


@dataclass(frozen=True)
class LoraLayers:
    """The transformer layers a LoRA file reaches: name -> (in features, out features), as its A/B shapes say."""

    layers: dict[str, tuple[int | None, int | None]]
    connectors: bool  # it also reaches the text connectors (`text_embedding_projection.` keys)


def read_header(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from the safetensors header of `path` (8-byte length, then JSON)."""
    with open(path, "rb") as file:
        size = struct.unpack("<Q", file.read(8))[0]
        if size > _MAX_HEADER:
            raise ValueError(f"its safetensors header claims {size} bytes")
        header = json.loads(file.read(size))
    return {name: entry["shape"] for name, entry in header.items() if name != "__metadata__"}


def lora_layers(header: dict[str, list[int]]) -> LoraLayers:
    """The layers a LoRA reaches; raises ValueError when the file is not a LoRA for an LTX-2 transformer."""
    if not header or not any("lora" in name or name.endswith(".alpha") for name in header):
        raise ValueError("it holds no LoRA layers (no `lora_A`/`lora_B` tensors): is it a model, not a LoRA?")
    layers: dict[str, list[int | None]] = {}
    connectors = False
    for name, shape in header.items():
        if name.startswith("text_embedding_projection.") or name.startswith("connectors."):
            connectors = True
            continue
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"its tensor `{name}` is not under `diffusion_model.` (Lightricks' layout) or "
                             "`transformer.` (diffusers'): it is not a LoRA for an LTX-2 transformer")
        layer = _SUFFIX.sub("", name[len(prefix):])
        sizes = layers.setdefault(layer, [None, None])
        if len(shape) == 2 and (".lora_A" in name or ".lora_down" in name):
            sizes[0] = shape[1]
        elif len(shape) == 2 and (".lora_B" in name or ".lora_up" in name):
            sizes[1] = shape[0]
    return LoraLayers({name: (i, o) for name, (i, o) in layers.items()}, connectors)


def foreign_layers(lora: LoraLayers, generation: str) -> list[str]:
    """The layers of `lora` that `generation`'s transformer does not have (by its structural flags)."""
    structure = GENERATIONS[generation].components["transformer"].structure
    return sorted(
        name for name in lora.layers
        for fragment, flags in _LAYERS_NEEDING.items()
        if fragment in name and not any(structure.get(flag) for flag in flags)
    )


def fitting_generations(lora: LoraLayers) -> list[str]:
    """The LTX-2 generations whose transformer has every layer `lora` reaches."""
    return [g.id for g in GENERATIONS.values() if g.family == "ltx2" and not foreign_layers(lora, g.id)]


def size_problem(lora: LoraLayers, config: dict) -> str | None:
    """Why `lora` does not fit a transformer with this config (widths, layer count), or None."""
    video = config.get("num_attention_heads", 0) * config.get("attention_head_dim", 0)
    audio = config.get("audio_num_attention_heads", 0) * config.get("audio_attention_head_dim", 0)
    layers = config.get("num_layers")
    for name, (inputs, outputs) in sorted(lora.layers.items()):
        block = re.match(r"transformer_blocks\.(\d+)\.(attn1|audio_attn1)\.to_q$", name)
        if block is None:
            continue
        index, width = int(block.group(1)), video if block.group(2) == "attn1" else audio
        if layers is not None and index >= layers:
            return f"it reaches transformer block {index}, and this model has {layers} blocks"
        if width and {inputs, outputs} - {width, None}:
            return (f"its layer `{name}` is {inputs} wide, and this model's is {width} "
                    "(a LoRA for a model of another size: the published model's LoRA on a tiny twin, or the reverse)")
    return None
