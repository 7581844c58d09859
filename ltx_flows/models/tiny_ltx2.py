"""Tiny LTX-2 models: the real diffusers and transformers classes at toy sizes, with random weights.

One builder per component (tokenizer, the processor prompt enhancement uses, Gemma 3 text encoder, text connectors, video VAE, audio VAE, vocoder,
transformer, scheduler, latent upsampler, and a LoRA file for the transformer), then the two models made of
them: `checkpoint()`, the offline model `checkpoint: tiny` names, and `twin(generation)`, a published
generation's structure (its facts in storyboard/generations.py) at the same toy sizes. The video VAE keeps
the real 128 latent channels and compression (32 x 32 spatial, 8 temporal); the sound is 16 mel bins, a
32-wide audio latent, and lasts as long as the video.

Every build starts from seed 0 and draws its components in the same order, so the saved files are the same
on every build: tiny renders depend on them (bump the cache versions in checkpoints.py and twins.py when a
builder changes what it makes). torch, diffusers and transformers are imported inside the builders.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..storyboard.generations import LTX2_DEV_SCHEDULER, Generation

TEXT_DIM = 32
TEXT_LAYERS = 2
HEADS, HEAD_DIM = 2, 16
AUDIO_HEADS, AUDIO_HEAD_DIM = 2, 8
LATENT_CHANNELS = 128  # the real video VAE's, so latents have the real shape
# 16 mel bins instead of 64 (see generations.PUBLISHED_MEL_BINS): the packed audio latent is 8 x 16 / 4 = 32
# wide, which the audio VAE's base_channels (sizing its normalisation statistics), the transformer's audio
# channels and the vocoder's input (2 x 16) follow.
MEL_BINS = 16
AUDIO_WIDTH = 8 * MEL_BINS // 4


@dataclass(frozen=True)
class TinyLtx2:
    components: dict  # every LTX2ConditionPipeline component but the scheduler (a twin's pipeline repos share them)
    upsampler: Any  # LTX2LatentUpsamplerModel

    def pipeline(self, schedule: dict = LTX2_DEV_SCHEDULER):
        """An LTX2ConditionPipeline of these components whose scheduler has the config `schedule` (dev
        checkpoints shift their schedule by the token count; distilled ones ship shifting off)."""
        from diffusers import LTX2ConditionPipeline

        return LTX2ConditionPipeline(scheduler=scheduler(schedule), **self.components)


def tokenizer():
    """A Gemma tokenizer over printable ASCII characters, built offline from a `tokenizers.Tokenizer`.

    Gemma's special-token layout (<pad>=0, <eos>=1, <bos>=2, <unk>=3), a leading <bos>, and one token
    per character, so different prompts map to different ids.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import GemmaTokenizerFast

    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581", *(string.ascii_letters + string.digits + string.punctuation)]
    backend = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Split("", "isolated")])
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    # Real LTX-2 checkpoints pad prompts on the left to 1024 tokens.
    return GemmaTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>",
        model_max_length=1024, padding_side="left",
    )


# Gemma's chat template, cut to what prompt enhancement sends (diffusers' `enhance_prompt`): a system turn folded
# into the first user turn, text or an image marker, and the model's turn opened for generation.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] + '\\n\\n' %}"
    "{% set turns = messages[1:] %}{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if loop.first %}{{ system }}{% endif %}{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<start_of_image>{% else %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def processor():
    """The pipeline's `processor` (a Gemma3Processor) that prompt enhancement reads its chat template from.

    Its tokenizer is `tokenizer()`'s characters plus Gemma's turn and image tokens, filled with `<unusedN>` up to
    the text encoder's 128 ids, so every id the tiny encoder generates decodes (to noise text). Nothing random:
    adding it changes no weight of a twin.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Gemma3ImageProcessor, Gemma3Processor, GemmaTokenizerFast

    special = ["<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581", *(string.ascii_letters + string.digits + string.punctuation)]
    assert len(tokens) == 99  # so the image tokens are 101-103, as text_encoder() states them
    tokens += special + [f"<unused{i}>" for i in range(128 - len(tokens) - len(special))]
    backend = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Split("", "isolated")])
    backend.decoder = decoders.Metaspace()
    chat = GemmaTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>",
        model_max_length=1024, padding_side="left",
        extra_special_tokens={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                              "image_token": "<image_soft_token>"},
    )
    chat.add_tokens(special, special_tokens=True)  # each one token, as in Gemma's own tokenizer
    chat.chat_template = CHAT_TEMPLATE
    # The tiny vision tower's 32 px images make mm_tokens_per_image (4) soft tokens.
    return Gemma3Processor(image_processor=Gemma3ImageProcessor(size={"height": 32, "width": 32}), tokenizer=chat,
                           chat_template=CHAT_TEMPLATE, image_seq_length=4)


def text_encoder():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    return Gemma3ForConditionalGeneration(Gemma3Config(
        text_config=dict(
            vocab_size=128, hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=TEXT_LAYERS,
            num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024, sliding_window=64,
        ),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        # The processor's image tokens (`processor()`), so image-conditioned enhancement reaches the vision tower.
        mm_tokens_per_image=4, boi_token_index=101, eoi_token_index=102, image_token_index=103,
    ))


def connectors(structure: dict, sizes: dict):
    """The text connectors; `sizes` holds what differs between the models (registers, audio head width)."""
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    # The pipeline feeds the connectors every Gemma layer's hidden states, stacked (layers + embeddings).
    return LTX2TextConnectors(
        **structure, caption_channels=TEXT_DIM, text_proj_in_factor=TEXT_LAYERS + 1,
        video_connector_num_attention_heads=HEADS, video_connector_attention_head_dim=HEAD_DIM,
        video_connector_num_layers=1, audio_connector_num_attention_heads=AUDIO_HEADS, audio_connector_num_layers=1,
        **sizes,
    )


def vae(structure: dict, sizes: dict):
    """The video VAE with a checkpoint's `structure` and tiny `sizes` (widths and layers, which follow its
    block count)."""
    from diffusers import AutoencoderKLLTX2Video

    return AutoencoderKLLTX2Video(**structure, **sizes)


def audio_vae(structure: dict):
    from diffusers import AutoencoderKLLTX2Audio

    return AutoencoderKLLTX2Audio(**{"dropout": 0.0, **structure}, mel_bins=MEL_BINS, base_channels=AUDIO_WIDTH,
                                  num_res_blocks=1, resolution=32)


def vocoder(cls: str, structure: dict, sizes: dict):
    """The vocoder class `cls` (of diffusers.pipelines.ltx2.vocoder); it upsamples mel frames by the hop length."""
    from diffusers.pipelines.ltx2 import vocoder as vocoders

    return getattr(vocoders, cls)(**structure, in_channels=2 * MEL_BINS, **sizes)


def transformer(structure: dict):
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel(
        **structure, num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, cross_attention_dim=HEADS * HEAD_DIM,
        audio_num_attention_heads=AUDIO_HEADS, audio_attention_head_dim=AUDIO_HEAD_DIM,
        audio_cross_attention_dim=AUDIO_HEADS * AUDIO_HEAD_DIM, num_layers=1, caption_channels=TEXT_DIM,
        audio_in_channels=AUDIO_WIDTH, audio_out_channels=AUDIO_WIDTH,
    )


def scheduler(config: dict):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**config)


def upsampler(cls: str, structure: dict):
    """The latent upsampler class `cls` (of diffusers.pipelines.ltx2.latent_upsampler)."""
    from diffusers.pipelines.ltx2 import latent_upsampler as upsamplers

    return getattr(upsamplers, cls)(**structure, mid_channels=32, num_blocks_per_stage=1)


def save_lora(transformer, path: Path, reference_downscale: int, seed: int | None = None) -> None:
    """A real PEFT LoRA on the transformer's attention, saved to `path` the way diffusers saves LoRAs.

    Random A and B (`init_lora_weights=False`), so loading it changes what the model does (a freshly initialised
    LoRA is a no-op). `seed` restarts the random stream first; None draws on where the build left it. The scale
    an IC-LoRA reads its control at goes in the file's metadata under `reference_downscale_factor`, where
    Lightricks' IC-LoRAs keep it. The transformer is left without the adapter.
    """
    import torch
    from diffusers import LTX2ConditionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors import safe_open
    from safetensors.torch import save_file

    if seed is not None:
        torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False),
        adapter_name="tiny",
    )
    layers = get_peft_model_state_dict(transformer, adapter_name="tiny")
    transformer.delete_adapters("tiny")
    path.parent.mkdir(parents=True, exist_ok=True)
    LTX2ConditionPipeline.save_lora_weights(path.parent, transformer_lora_layers=layers, weight_name=path.name,
                                            safe_serialization=True)
    with safe_open(path, framework="pt") as lora:
        tensors = {key: lora.get_tensor(key) for key in lora.keys()}
        metadata = lora.metadata() or {}
    save_file(tensors, path, metadata={**metadata, "reference_downscale_factor": str(reference_downscale)})


def _build(connectors_structure: dict, connectors_sizes: dict, vae_structure: dict, vae_sizes: dict,
           audio_vae_structure: dict, vocoder_class: str, vocoder_structure: dict, vocoder_sizes: dict,
           transformer_structure: dict, upsampler_class: str, upsampler_structure: dict) -> TinyLtx2:
    import torch

    torch.manual_seed(0)  # same seed, same order: every build of a given version is identical
    components = dict(text_encoder=text_encoder(), tokenizer=tokenizer(), processor=processor())
    components["connectors"] = connectors(connectors_structure, connectors_sizes)
    components["vae"] = vae(vae_structure, vae_sizes)
    components["audio_vae"] = audio_vae(audio_vae_structure)
    components["vocoder"] = vocoder(vocoder_class, vocoder_structure, vocoder_sizes)
    components["transformer"] = transformer(transformer_structure)
    return TinyLtx2(components, upsampler(upsampler_class, upsampler_structure))


def checkpoint() -> TinyLtx2:
    """The model `checkpoint: tiny` names for the ltx2 family: older and plainer than the twins (no learnable
    registers, no rope double precision, a 16 kHz vocoder); its scheduler is LTX-2's dev one (`pipeline()`)."""
    import torch

    models = _build(
        connectors_structure=dict(connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
                                  causal_temporal_positioning=False, rope_type="split"),
        connectors_sizes=dict(video_connector_num_learnable_registers=None, audio_connector_attention_head_dim=16,
                              audio_connector_num_learnable_registers=None),
        # The real video VAE's layout with narrow decoder blocks. Its channels must grow across the blocks, and
        # the compression comes from `downsample_type`, so it is checked below by encoding, not read from the config.
        vae_structure=dict(
            in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
            spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
            decoder_inject_noise=(False, False, False, False),
            downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
            upsample_residual=(True, True, True), upsample_factor=(2, 2, 2),
            timestep_conditioning=False, patch_size=4, patch_size_t=1,
            spatial_compression_ratio=32, temporal_compression_ratio=8,
        ),
        vae_sizes=dict(block_out_channels=(128, 128, 128, 128), decoder_block_out_channels=(32, 64, 128),
                       layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1)),
        audio_vae_structure=dict(
            output_channels=2, ch_mult=(1, 2, 4), attn_resolutions=None, in_channels=2, latent_channels=8,
            norm_type="pixel", causality_axis="height", mid_block_add_attention=False, sample_rate=16000,
            mel_hop_length=160, is_causal=True,
        ),
        # Upsamples mel frames by the hop length (160), so a shot's sound lasts as long as its video.
        vocoder_class="LTX2Vocoder",
        vocoder_structure=dict(out_channels=2, upsample_kernel_sizes=[8, 8, 20], upsample_factors=[4, 4, 10],
                               resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
                               output_sampling_rate=16000),
        vocoder_sizes=dict(hidden_channels=32),
        transformer_structure=dict(in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, patch_size=1,
                                   patch_size_t=1, qk_norm="rms_norm_across_heads", rope_double_precision=False,
                                   rope_type="split"),
        upsampler_class="LTX2LatentUpsamplerModel",
        upsampler_structure=dict(in_channels=LATENT_CHANNELS),
    )
    with torch.no_grad():
        latent = models.components["vae"].encode(torch.zeros(1, 3, 9, 64, 96)).latent_dist.mode()
    assert tuple(latent.shape) == (1, LATENT_CHANNELS, 2, 2, 3), f"tiny LTX-2 VAE compresses to {tuple(latent.shape)}"
    return models


def twin(generation: Generation) -> TinyLtx2:
    """The tiny twin of a published LTX-2 generation: its structural facts, the toy sizes."""
    def structure(name: str) -> dict:
        return dict(generation.components[name].structure)

    new = generation.id != "ltx2-2.0"  # 2.3 and 2.5 share their layout
    connectors_sizes = dict(audio_connector_attention_head_dim=AUDIO_HEAD_DIM if new else HEAD_DIM)
    if new:  # per-modality projections straight to each stream's width
        connectors_sizes.update(video_hidden_dim=HEADS * HEAD_DIM, audio_hidden_dim=AUDIO_HEADS * AUDIO_HEAD_DIM)
        vae_sizes = dict(block_out_channels=(16, 32, 64, 64), decoder_block_out_channels=(32, 64, 64, 128),
                         layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1))
    else:
        vae_sizes = dict(block_out_channels=(16, 32, 64, 128), decoder_block_out_channels=(32, 64, 128),
                         layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1))
    # Each upsampling stage halves the width: 5 stages (2.0) need 32 to keep a channel, 6 (2.3) need 64; the
    # bandwidth extension (2.3) reads the first stage's mel spectrogram (its own STFT, num_mel_channels).
    vocoder_sizes = dict(hidden_channels=64, bwe_hidden_channels=32, bwe_in_channels=128) if new else dict(hidden_channels=32)
    return _build(
        connectors_structure=structure("connectors"), connectors_sizes=connectors_sizes,
        vae_structure=structure("vae"), vae_sizes=vae_sizes,
        audio_vae_structure=structure("audio_vae"),
        vocoder_class=generation.components["vocoder"].cls, vocoder_structure=structure("vocoder"),
        vocoder_sizes=vocoder_sizes,
        transformer_structure=structure("transformer"),
        upsampler_class=generation.upsampler.cls, upsampler_structure=dict(generation.upsampler.structure),
    )
