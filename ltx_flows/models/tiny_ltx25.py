"""The tiny twin of LTX-2.5, in the layout of `Lightricks/LTX-2.5-Diffusers`.

LTX-2.5 is LTX-2.3's pipeline (LTX2ConditionPipeline, same VAEs, 48 kHz vocoder, gated attention) with:
a Gemma-4 text encoder (`Gemma4UnifiedForConditionalGeneration`); a transformer without the video feed-forward
bias and with a keyframe position embedding; its distilled weights in `transformer/` and the dev (full) ones in
`transformer_full/`, a subfolder the pipeline does not load by itself; a diffusion video decoder in
`diffusion_decoder/` (`LTX2VideoDiffusionDecoderModel`, run by `LTX2VideoDiffusionDecodePipeline`), also left
out by the pipeline; a duration head (`duration_head/`, an optional pipeline component); and the dedicated prompt
enhancer with its Gemma 4 processor (`prompt_enhancer/`, `processor/`, optional components: `tiny_prompt_enhancer`).

`twin()` builds it at the sizes of `tiny_ltx2` (random weights), `save()` writes it as published: the pipeline's
own `save_pretrained`, then the two extra subfolders with their entries in `model_index.json`, as the published
repo lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..storyboard.generations import Generation
from . import tiny_ltx2, tiny_prompt_enhancer
from .tiny_ltx2 import AUDIO_HEAD_DIM, AUDIO_HEADS, HEAD_DIM, HEADS, TEXT_DIM, TEXT_LAYERS

# The diffusion decoder at toy widths. Its neighbourhood-attention windows are shrunk too: they hold no weights,
# and the published (3, 7, 7) latent and (11, 11, 11) pixel windows need clips of at least 224 px and 17 frames,
# whose dense attention masks do not fit a CPU test (they are sizes in generations.SIZE_KEYS).
_DECODER_SIZES = dict(
    decoder_head_dim=8, decoder_stage_channels=(128, 64, 32, 32, 16), decoder_stage_depths=(1, 1, 1, 1, 1),
    decoder_t_emb_dim=16, decoder_stage_kernels=((3, 1, 1),) * 4, decoder_stage5_kernel=(3, 3, 3),
)


@dataclass(frozen=True)
class TinyLtx25:
    base: tiny_ltx2.TinyLtx2  # the pipeline's components (Gemma-4 text encoder, distilled transformer, ...)
    transformer_full: Any  # LTX2VideoTransformer3DModel: the dev weights
    diffusion_decoder: Any  # LTX2VideoDiffusionDecoderModel

    @property
    def components(self) -> dict:
        return self.base.components

    @property
    def upsampler(self):
        return self.base.upsampler

    def pipeline(self, schedule: dict):
        return self.base.pipeline(schedule)


def text_encoder():
    """Gemma 4 (unified) at the toy sizes of the LTX-2 twins' Gemma 3: same width and layer count, so the
    connectors read the same stack of hidden states."""
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration, Gemma4UnifiedTextConfig

    text = Gemma4UnifiedTextConfig(
        vocab_size=128, hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024, sliding_window=64,
        layer_types=["sliding_attention"] * (TEXT_LAYERS - 1) + ["full_attention"],  # Gemma 4 ends on full
    )
    return Gemma4UnifiedForConditionalGeneration(Gemma4UnifiedConfig(text_config=text.to_dict()))


def twin(generation: Generation) -> TinyLtx25:
    import torch
    from diffusers import LTX2VideoDiffusionDecoderModel
    from diffusers.pipelines.ltx2 import LTX2DurationHead

    base = tiny_ltx2.twin(generation)
    torch.manual_seed(25)  # the extra parts draw from their own stream: the base twin stays as it was
    # 2.5 enhances prompts with a dedicated Gemma 4 `prompt_enhancer` and its Gemma 4 `processor` (its own seed).
    chat = tiny_prompt_enhancer.processor()
    components = {**base.components, "text_encoder": text_encoder(), "processor": chat,
                  "prompt_enhancer": tiny_prompt_enhancer.prompt_enhancer(chat)}
    components["duration_head"] = LTX2DurationHead(
        video_cross_attention_dim=HEADS * HEAD_DIM, audio_cross_attention_dim=AUDIO_HEADS * AUDIO_HEAD_DIM,
        pooler_hidden_dim=16, num_pooler_heads=2, mlp_hidden_dim=16,
    )
    structure = generation.components
    return TinyLtx25(
        base=tiny_ltx2.TinyLtx2(components, base.upsampler),
        transformer_full=tiny_ltx2.transformer(dict(structure["transformer_full"].structure)),
        diffusion_decoder=LTX2VideoDiffusionDecoderModel(**structure["diffusion_decoder"].structure, **_DECODER_SIZES),
    )


def save_extras(models: TinyLtx25, folder: Path) -> None:
    """Write the subfolders LTX2ConditionPipeline.save_pretrained leaves out, and list them in model_index.json."""
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    for name, model in (("transformer_full", models.transformer_full), ("diffusion_decoder", models.diffusion_decoder)):
        model.save_pretrained(folder / name, safe_serialization=True)
        index[name] = ["diffusers", type(model).__name__]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
