"""The published LTX generations ltx-flows renders, as facts: which diffusers class each component is, its
*structural* config (patch sizes, compression, block types, scaling flags, timestep conditioning, gated
attention, vocoder kind and rate, scheduler shifting) and how each hub repo is laid out.

Sizes (layers, widths, heads) are left out on purpose: the tiny twins (`twins.py`) shrink them and keep
everything stated here, and `tests/test_twins.py` checks every twin against these facts. Values are those
diffusers' conversion scripts (`scripts/convert_ltx_to_diffusers.py`, `convert_ltx2_to_diffusers.py`) write
for the published checkpoints; the installed diffusers 0.42.1 accepts each key. Pure data: no torch.
"""

from dataclasses import dataclass, field, replace

_LTXV_TRANSFORMER = {
    "in_channels": 128, "out_channels": 128, "patch_size": 1, "patch_size_t": 1,
    "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads", "norm_elementwise_affine": False,
    "norm_eps": 1e-6, "attention_bias": True, "attention_out_bias": True,
}
# 0.9.5+ VAE (0.9.8 reuses 0.9.7's): 0.9.5 down blocks, spatio-temporal scaling on all four, residual
# 2x upsampling, a timestep-conditioned decoder; 32 x 32 spatial and 8x temporal compression.
_LTXV_095_VAE = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 128,
    "down_block_types": ["LTXVideo095DownBlock3D"] * 4,
    "spatio_temporal_scaling": [True, True, True, True],
    "decoder_spatio_temporal_scaling": [True, True, True],
    "decoder_inject_noise": [False, False, False, False],
    "downsample_type": ["spatial", "temporal", "spatiotemporal", "spatiotemporal"],
    "upsample_residual": [True, True, True],
    "upsample_factor": [2, 2, 2],
    "timestep_conditioning": True, "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6,
    "scaling_factor": 1.0, "encoder_causal": True, "decoder_causal": False,
    "spatial_compression_ratio": 32, "temporal_compression_ratio": 8,
}
_LTXV_UPSAMPLER = {"in_channels": 128, "dims": 3, "spatial_upsample": True, "temporal_upsample": False}

_LTX2_TRANSFORMER = {
    "in_channels": 128, "out_channels": 128, "patch_size": 1, "patch_size_t": 1, "vae_scale_factors": [8, 32, 32],
    "pos_embed_max_pos": 20, "base_height": 2048, "base_width": 2048,
    "audio_patch_size": 1, "audio_patch_size_t": 1,
    "audio_scale_factor": 4, "audio_pos_embed_max_pos": 20, "audio_sampling_rate": 16000, "audio_hop_length": 160,
    "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads", "norm_elementwise_affine": False,
    "norm_eps": 1e-6, "attention_bias": True, "attention_out_bias": True, "rope_theta": 10000.0,
    "rope_double_precision": True, "causal_offset": 1, "timestep_scale_multiplier": 1000,
    "cross_attn_timestep_scale_multiplier": 1000, "rope_type": "split",
    # Not written by the conversion for 2.0 and 2.3, so diffusers' defaults hold (LTX-2.5 changes the first and
    # last: no feed-forward bias, keyframe position embedding; transformer_ltx2.py's docstring).
    "ff_bias": True, "audio_ff_bias": True, "use_prompt_adaln_single": True, "use_keyframes_abs_pos_embedding": False,
}
_LTX2_CONNECTORS = {
    "rope_theta": 10000.0, "rope_double_precision": True, "causal_temporal_positioning": False, "rope_type": "split",
    "connector_rope_base_seq_len": 4096, "video_connector_num_learnable_registers": 128,
    "audio_connector_num_learnable_registers": 128,
}
_LTX2_AUDIO_VAE = {
    "output_channels": 2, "ch_mult": [1, 2, 4], "attn_resolutions": None, "in_channels": 2, "latent_channels": 8,
    "norm_type": "pixel", "causality_axis": "height", "mid_block_add_attention": False, "sample_rate": 16000,
    "mel_hop_length": 160, "is_causal": True, "double_z": True, "dropout": 0.0,
}
# Widths, not structure, though the published checkpoints fix them together: 64 mel bins make the audio
# latent 8 x 64 / 4 = 128 wide (the transformer's audio_in_channels, the audio VAE's base_channels, which
# sizes its normalisation statistics) and the vocoder's input 2 x 64 = 128. The twins shrink them together.
PUBLISHED_MEL_BINS = 64
_LTX2_VIDEO_VAE = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 128, "down_block_types": ["LTX2VideoDownBlock3D"] * 4,
    "spatio_temporal_scaling": [True, True, True, True],
    "downsample_type": ["spatial", "temporal", "spatiotemporal", "spatiotemporal"],
    "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6, "encoder_causal": True, "decoder_causal": False,
    "encoder_spatial_padding_mode": "zeros", "spatial_compression_ratio": 32, "temporal_compression_ratio": 8,
    # The conversion writes no timestep-conditioned decoder for LTX-2 (unlike LTX-Video 0.9.5+).
    "timestep_conditioning": False, "scaling_factor": 1.0,
}
_LTX2_UPSAMPLER = {"in_channels": 128, "dims": 3, "spatial_upsample": True, "temporal_upsample": False,
                   "rational_spatial_scale": 2.0}
_RESNET = {"resnet_kernel_sizes": [3, 7, 11], "resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]]}
# The activation's slope and the anti-aliased resampling (read only where `antialias` is on, stated everywhere).
_VOCODER_ACT = {"leaky_relu_negative_slope": 0.1, "antialias_ratio": 2, "antialias_kernel_size": 12}
_BWE_ACT = {"bwe_leaky_relu_negative_slope": 0.1, "bwe_antialias_ratio": 2, "bwe_antialias_kernel_size": 12,
            "bwe_resnet_kernel_sizes": [3, 7, 11], "bwe_resnet_dilations": [[1, 3, 5], [1, 3, 5], [1, 3, 5]]}
# What LTX-2's pipelines read: the dev checkpoints shift their schedule by the token count; the distilled
# ones ship it off (their sigmas are used as given).
_LTX2_SCHEDULER = {"base_shift": 0.95, "max_shift": 2.05, "base_image_seq_len": 1024, "max_image_seq_len": 4096}
LTX2_DEV_SCHEDULER = {**_LTX2_SCHEDULER, "use_dynamic_shifting": True, "shift_terminal": 0.1}
LTX2_DISTILLED_SCHEDULER = {**_LTX2_SCHEDULER, "use_dynamic_shifting": False, "shift_terminal": None}

# Config keys that only size a model (layer counts, widths, heads, and the mel bins and resolution the audio
# widths follow), per component: the twins shrink these and nothing else. Every other config key of a
# component's class is structure and stated above; tests/test_twins.py holds both against the classes' own
# arguments and against the published configs.
_HEADS = {"num_layers", "num_attention_heads", "attention_head_dim", "cross_attention_dim", "caption_channels"}
SIZE_KEYS: dict[str, frozenset] = {
    "transformer": frozenset({*_HEADS, "audio_in_channels", "audio_out_channels", "audio_num_attention_heads",
                              "audio_attention_head_dim", "audio_cross_attention_dim"}),
    "connectors": frozenset({
        "caption_channels", "text_proj_in_factor", "video_hidden_dim", "audio_hidden_dim",
        *(f"{m}_connector_{k}" for m in ("video", "audio") for k in ("num_attention_heads", "attention_head_dim",
                                                                     "num_layers")),
    }),
    "vae": frozenset({"block_out_channels", "decoder_block_out_channels", "layers_per_block",
                      "decoder_layers_per_block"}),
    "audio_vae": frozenset({"base_channels", "num_res_blocks", "resolution", "mel_bins"}),
    "vocoder": frozenset({"in_channels", "hidden_channels", "bwe_in_channels", "bwe_hidden_channels"}),
    "upsampler": frozenset({"mid_channels", "num_blocks_per_stage"}),
    "transformer_full": frozenset({*_HEADS, "audio_in_channels", "audio_out_channels", "audio_num_attention_heads",
                                   "audio_attention_head_dim", "audio_cross_attention_dim"}),
    # LTX-2.5's diffusion decoder: widths, depths, and the neighbourhood-attention windows (no weights: they only
    # bound how far each token attends, and the published ones need clips of at least 224 px to fit at all).
    "diffusion_decoder": frozenset({"decoder_head_dim", "decoder_stage_channels", "decoder_stage_depths",
                                    "decoder_t_emb_dim", "decoder_stage_kernels", "decoder_stage5_kernel"}),
    "duration_head": frozenset({"video_cross_attention_dim", "audio_cross_attention_dim", "pooler_hidden_dim",
                                "num_queries", "num_pooler_heads", "mlp_hidden_dim"}),
}


@dataclass(frozen=True)
class Component:
    """One subfolder of a pipeline repo: its diffusers/transformers class and its structural config."""

    cls: str
    structure: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Generation:
    id: str
    family: str  # "ltxv" or "ltx2"
    pipeline: str  # the diffusers pipeline class the checkpoints load into
    components: dict[str, Component]
    upsampler: Component
    # hub repo -> what it is, as published (pipeline repo with subfolders, model at the root, LoRA files)
    repos: dict[str, str]


_LTX23_TRANSFORMER = {
    **_LTX2_TRANSFORMER, "gated_attn": True, "cross_attn_mod": True, "audio_gated_attn": True,
    "audio_cross_attn_mod": True, "use_prompt_embeddings": False, "perturbed_attn": True,
}
_LTX23_CONNECTORS = {**_LTX2_CONNECTORS, "video_gated_attn": True, "audio_gated_attn": True,
                     "per_modality_projections": True, "proj_bias": True}
_LTX23_VAE = {
    **_LTX2_VIDEO_VAE,
    "decoder_spatio_temporal_scaling": [True, True, True, True],
    "decoder_inject_noise": [False, False, False, False, False],
    "upsample_type": ["spatiotemporal", "spatiotemporal", "temporal", "spatial"],
    "upsample_residual": [False, False, False, False], "upsample_factor": [2, 2, 1, 2],
    "decoder_spatial_padding_mode": "zeros",
}
# A vocoder at 16 kHz followed by a bandwidth-extension stage up to 48 kHz (2.3 and 2.5).
_LTX23_VOCODER = {
    "out_channels": 2, "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
    "upsample_factors": [5, 2, 2, 2, 2, 2], **_RESNET, **_VOCODER_ACT, **_BWE_ACT, "act_fn": "snakebeta",
    "antialias": True, "final_act_fn": None, "final_bias": False, "bwe_out_channels": 2,
    "bwe_upsample_kernel_sizes": [12, 11, 4, 4, 4], "bwe_upsample_factors": [6, 5, 2, 2, 2],
    "bwe_act_fn": "snakebeta", "bwe_antialias": True, "bwe_final_act_fn": None, "bwe_final_bias": False,
    "filter_length": 512, "hop_length": 80, "window_length": 512, "num_mel_channels": 64,
    "input_sampling_rate": 16000, "output_sampling_rate": 48000,
}
# LTX-2.5's transformer: 2.3's, without the video feed-forward bias and with the keyframe position embedding
# (reference: the 2.5 conversion's config; installed transformer_ltx2.py docstring: "`False` for LTX-2.5").
# `use_prompt_adaln_single` stays True: the published 2.5 weights carry `prompt_adaln_single.*`.
_LTX25_TRANSFORMER = {**_LTX23_TRANSFORMER, "ff_bias": False, "use_keyframes_abs_pos_embedding": True}
# The diffusion decoder's structure as diffusers 0.42.1 defines it (ltx2_diffusion_decoder.py, the defaults are
# LTX-2.5's): 4x4 patches, pixel-shuffle upsampling to 32x spatial / 8x temporal, x0 output in one step.
_LTX25_DIFFUSION_DECODER = {
    "out_channels": 3, "latent_channels": 128, "patch_size": 4, "scaling_factor": 1.0,
    "decoder_upsample_strides": [[1, 2, 2], [2, 1, 1], [2, 2, 2], [2, 2, 2]],
    "decoder_upsample_channel_reductions": [2, 2, 1, 2], "decoder_timestep_scale_multiplier": 1000.0,
    "decoder_model_output_type": "x0", "decoder_num_inference_steps": 1,
    "spatial_compression_ratio": 32, "temporal_compression_ratio": 8,
}
GENERATIONS: dict[str, Generation] = {
    "ltxv-0.9.7": Generation(
        id="ltxv-0.9.7", family="ltxv", pipeline="LTXConditionPipeline",
        components={
            "transformer": Component("LTXVideoTransformer3DModel", _LTXV_TRANSFORMER),
            "vae": Component("AutoencoderKLLTXVideo", _LTXV_095_VAE),
            "text_encoder": Component("T5EncoderModel"),
            "tokenizer": Component("T5Tokenizer"),
            "scheduler": Component("FlowMatchEulerDiscreteScheduler", {"use_dynamic_shifting": False}),
        },
        upsampler=Component("LTXLatentUpsamplerModel", _LTXV_UPSAMPLER),
        repos={
            "Lightricks/LTX-Video-0.9.7-dev": "pipeline",
            "Lightricks/LTX-Video-0.9.7-distilled": "pipeline",
            # A LTXLatentUpsamplePipeline repo: model_index.json, latent_upsampler/ and vae/.
            "Lightricks/ltxv-spatial-upscaler-0.9.7": "upsampler pipeline",
        },
    ),
    "ltxv-0.9.8": Generation(
        id="ltxv-0.9.8", family="ltxv", pipeline="LTXConditionPipeline",
        components={
            "transformer": Component("LTXVideoTransformer3DModel", _LTXV_TRANSFORMER),
            "vae": Component("AutoencoderKLLTXVideo", _LTXV_095_VAE),
            "text_encoder": Component("T5EncoderModel"),
            "tokenizer": Component("T5Tokenizer"),
            "scheduler": Component("FlowMatchEulerDiscreteScheduler", {"use_dynamic_shifting": False}),
        },
        upsampler=Component("LTXLatentUpsamplerModel", _LTXV_UPSAMPLER),
        repos={
            "Lightricks/LTX-Video-0.9.8-13B-distilled": "pipeline",
            # The upsampler diffusers' docs use for 0.9.8: a LTXLatentUpsamplerModel at the repo root.
            "a-r-r-o-w/LTX-0.9.8-Latent-Upsampler": "upsampler model",
        },
    ),
    "ltx2-2.0": Generation(
        id="ltx2-2.0", family="ltx2", pipeline="LTX2ConditionPipeline",
        components={
            "transformer": Component("LTX2VideoTransformer3DModel", {
                **_LTX2_TRANSFORMER, "gated_attn": False, "cross_attn_mod": False, "audio_gated_attn": False,
                "audio_cross_attn_mod": False, "use_prompt_embeddings": True, "perturbed_attn": False,
            }),
            "connectors": Component("LTX2TextConnectors", {
                **_LTX2_CONNECTORS, "video_gated_attn": False, "audio_gated_attn": False,
                "per_modality_projections": False, "proj_bias": False,
            }),
            "vae": Component("AutoencoderKLLTX2Video", {
                **_LTX2_VIDEO_VAE,
                "decoder_spatio_temporal_scaling": [True, True, True],
                "decoder_inject_noise": [False, False, False, False],
                "upsample_type": ["spatiotemporal"] * 3, "upsample_residual": [True, True, True],
                "upsample_factor": [2, 2, 2], "decoder_spatial_padding_mode": "reflect",
            }),
            "audio_vae": Component("AutoencoderKLLTX2Audio", _LTX2_AUDIO_VAE),
            "vocoder": Component("LTX2Vocoder", {
                "out_channels": 2, "upsample_kernel_sizes": [16, 15, 8, 4, 4],
                "upsample_factors": [6, 5, 2, 2, 2], **_RESNET, **_VOCODER_ACT, "act_fn": "leaky_relu", "antialias": False,
                "final_act_fn": "tanh", "final_bias": True, "output_sampling_rate": 24000,
            }),
            "text_encoder": Component("Gemma3ForConditionalGeneration"),
            "tokenizer": Component("GemmaTokenizer"),  # transformers 5: GemmaTokenizerFast is an alias
            "scheduler": Component("FlowMatchEulerDiscreteScheduler"),  # dev / distilled: see the repos
        },
        upsampler=Component("LTX2LatentUpsamplerModel", {**_LTX2_UPSAMPLER, "use_rational_resampler": True}),
        repos={
            # The dev pipeline; latent_upsampler/ and the stage-2 distilled LoRA file live in it too.
            "Lightricks/LTX-2": "pipeline",
            # A community diffusers conversion of the distilled model (the one diffusers' docs use).
            "rootonchair/LTX-2-19b-distilled": "pipeline (distilled)",
            "Lightricks/LTX-2-19b-IC-LoRA-Canny-Control": "lora",
            "Lightricks/LTX-2-19b-IC-LoRA-Depth-Control": "lora",
            "Lightricks/LTX-2-19b-IC-LoRA-Pose-Control": "lora",
        },
    ),
    "ltx2-2.3": Generation(
        id="ltx2-2.3", family="ltx2", pipeline="LTX2ConditionPipeline",
        components={
            # Gated attention, cross-attention modulation, prompt-free AdaLN and STG-ready perturbed attention.
            "transformer": Component("LTX2VideoTransformer3DModel", _LTX23_TRANSFORMER),
            "connectors": Component("LTX2TextConnectors", _LTX23_CONNECTORS),
            "vae": Component("AutoencoderKLLTX2Video", _LTX23_VAE),
            "audio_vae": Component("AutoencoderKLLTX2Audio", _LTX2_AUDIO_VAE),
            "vocoder": Component("LTX2VocoderWithBWE", _LTX23_VOCODER),
            "text_encoder": Component("Gemma3ForConditionalGeneration"),
            "tokenizer": Component("GemmaTokenizer"),  # transformers 5: GemmaTokenizerFast is an alias
            "scheduler": Component("FlowMatchEulerDiscreteScheduler"),
        },
        upsampler=Component("LTX2LatentUpsamplerModel", {**_LTX2_UPSAMPLER, "use_rational_resampler": False}),
        repos={
            "diffusers/LTX-2.3-Diffusers": "pipeline",
            # Converted from the distilled 1.0 checkpoint, before Lightricks published 1.1 (its successor's card).
            "diffusers/LTX-2.3-Distilled-Diffusers": "pipeline (distilled)",
            # Lightricks publishes only ltx-2.3-22b-distilled-1.1 now (MODELS-LTX-2.3.md): its diffusers-format
            # conversion, a community repo (by the converter of rootonchair/LTX-2-19b-distilled).
            "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers": "pipeline (distilled)",
            # The x2 spatial upsampler 1.1 (the one Lightricks publishes now, ltx-2.3-spatial-upscaler-x2-1.1) in
            # diffusers format: a community conversion (an LTX2LatentUpsamplePipeline repo, the model in
            # latent_upsampler/, the VAE from diffusers/LTX-2.3-Diffusers), by the converter of rootonchair/LTX-2-19b-distilled.
            "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers": "upsampler pipeline",
            # One LoRA for depth, pose and edges; "ref0.5" reads the reference at half size.
            "Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control": "lora",
            # Lightricks' original-format 2.3 repo: ltx-flows loads only its stage-2 distilled LoRA file from it.
            "Lightricks/LTX-2.3": "lora",
        },
    ),
    "ltx2-2.5": Generation(
        id="ltx2-2.5", family="ltx2", pipeline="LTX2ConditionPipeline",
        components={
            "transformer": Component("LTX2VideoTransformer3DModel", _LTX25_TRANSFORMER),  # distilled
            # The dev (full) weights: a subfolder LTX2ConditionPipeline does not load by itself; ltx-flows loads it
            # explicitly and passes it as the pipeline's transformer (models/loading.py).
            "transformer_full": Component("LTX2VideoTransformer3DModel", _LTX25_TRANSFORMER),
            "connectors": Component("LTX2TextConnectors", _LTX23_CONNECTORS),
            "vae": Component("AutoencoderKLLTX2Video", _LTX23_VAE),
            "audio_vae": Component("AutoencoderKLLTX2Audio", _LTX2_AUDIO_VAE),
            "vocoder": Component("LTX2VocoderWithBWE", _LTX23_VOCODER),
            # Lightricks' native decoder from 2.5 on, run as a pass of its own (LTX2VideoDiffusionDecodePipeline).
            "diffusion_decoder": Component("LTX2VideoDiffusionDecoderModel", _LTX25_DIFFUSION_DECODER),
            # Predicts a shot's length from its prompt when no frame count is given; ltx-flows always gives one.
            "duration_head": Component("LTX2DurationHead"),
            "text_encoder": Component("Gemma4UnifiedForConditionalGeneration"),
            "tokenizer": Component("GemmaTokenizer"),
            "scheduler": Component("FlowMatchEulerDiscreteScheduler"),
        },
        upsampler=Component("LTX2LatentUpsamplerModel", {**_LTX2_UPSAMPLER, "use_rational_resampler": False}),
        repos={
            # transformer/ (distilled), transformer_full/ (dev), latent_upsampler/, diffusion_decoder/, duration_head/
            # and the stage-2 distilled LoRA at the root (reference-ltx-checkpoints.json, the 2.5 conversion).
            "Lightricks/LTX-2.5-Diffusers": "pipeline",
        },
    ),
}

# Subfolders of a pipeline repo that LTX2ConditionPipeline.from_pretrained ignores ("not expected"): ltx-flows
# loads them itself.
EXTRA_SUBFOLDERS = ("transformer_full", "diffusion_decoder")


def pipeline_generation(checkpoint: str) -> str | None:
    """The generation whose published pipeline repo `checkpoint` is, or None (a local folder, `tiny`, unknown)."""
    for generation in GENERATIONS.values():
        if generation.repos.get(checkpoint, "").startswith("pipeline"):
            return generation.id
    return None


@dataclass(frozen=True)
class Unsupported:
    """A published checkpoint ltx-flows refuses at validation: what it is, why, and what to use instead."""

    name: str
    why: str
    instead: str


_NO_MU = Unsupported(
    name="", why="its scheduler shifts by token count and diffusers' LTXConditionPipeline never passes the `mu` "
    "that needs", instead="use LTX-Video 0.9.5 or later (e.g. `preset: ltxv-0.9.7-distilled`)",
)
# Lightricks' original-format 2.5 repo: single files for Lightricks' own pipelines, no diffusers layout.
_LTX25_ORIGINAL = Unsupported(
    name="LTX-2.5 (original format)",
    why="`Lightricks/LTX-2.5` holds single files for Lightricks' own pipelines, not a diffusers layout",
    instead="use `preset: ltx2.5-distilled` or `preset: ltx2.5-dev` (`Lightricks/LTX-2.5-Diffusers`)",
)
# Refused at validation where a storyboard names them (`model.checkpoint`).
UNSUPPORTED_CHECKPOINTS: dict[str, Unsupported] = {
    "Lightricks/LTX-Video": replace(_NO_MU, name="LTX-Video 0.9.0"),
    "Lightricks/LTX-Video-0.9.1": replace(_NO_MU, name="LTX-Video 0.9.1"),
    "Lightricks/LTX-2.5": _LTX25_ORIGINAL,
}
# The same, for a local checkpoint folder in LTX-2.5's diffusers layout named without a `ltx2.5-*` preset: plain
# LTX2ConditionPipeline.from_pretrained ignores `transformer_full/` (the dev weights) and `diffusion_decoder/` ("not
# expected ... will be ignored", installed pipelines/pipeline_utils.py), so it would render the distilled
# transformer decoded by the convolutional VAE whatever the recipe. A 2.5 preset loads both (models/ltx25.py).
_LTX25_FOLDER = Unsupported(
    name="LTX-2.5",
    why="without a `ltx2.5-*` preset diffusers' LTX2ConditionPipeline loads only its distilled `transformer/` (it "
    "ignores the dev weights in `transformer_full/` and the `diffusion_decoder/`) and decodes with the convolutional "
    "VAE instead of LTX-2.5's diffusion decoder",
    instead="add `preset: ltx2.5-distilled` or `preset: ltx2.5-dev` to render it as published",
)
UNSUPPORTED_SUBFOLDERS: dict[str, Unsupported] = {"transformer_full": _LTX25_FOLDER, "diffusion_decoder": _LTX25_FOLDER}

# Frame rates (storyboard/frame_rate.py).
# The highest rate each generation is published to generate at, and where that comes from.
MAX_FPS: dict[str, int] = {"ltxv-0.9.7": 30, "ltxv-0.9.8": 30, "ltx2-2.0": 50, "ltx2-2.3": 50, "ltx2-2.5": 60}
_LTXV_RATE = "Lightricks' LTX-Video README (30 FPS at 1216x704; inference.py's default frame rate 30)"
_LTX2_RATE = "Lightricks' LTX-2 model cards (up to 50 FPS)"
MAX_FPS_SOURCES: dict[str, str] = {
    "ltxv-0.9.7": _LTXV_RATE, "ltxv-0.9.8": _LTXV_RATE, "ltx2-2.0": _LTX2_RATE, "ltx2-2.3": _LTX2_RATE,
    "ltx2-2.5": "installed pipelines/ltx2/utils.py MAX_CONDITIONING_FPS (trained around 24-30 and 60 fps)",
}
# Without a known generation (a local checkpoint, `checkpoint: tiny` without a preset): the family's.
FAMILY_MAX_FPS = {"ltxv": 30, "ltx2": 50}

# The x2 temporal upscaler Lightricks publishes per generation: a single .safetensors file in its original layout
# (no diffusers-format repo of any of them is published; models/frame_rate.py loads it as diffusers' conversion
# script loads a latent upsampler: the file's weights into LTXLatentUpsamplerModel / LTX2LatentUpsamplerModel with
# `temporal_upsample=True`).
TEMPORAL_UPSCALERS: dict[str, str] = {
    "ltxv-0.9.7": "Lightricks/LTX-Video/ltxv-temporal-upscaler-0.9.7.safetensors",
    "ltxv-0.9.8": "Lightricks/LTX-Video/ltxv-temporal-upscaler-0.9.8.safetensors",
    "ltx2-2.0": "Lightricks/LTX-2/ltx-2-temporal-upscaler-x2-1.0.safetensors",
    "ltx2-2.3": "Lightricks/LTX-2.3/ltx-2.3-temporal-upscaler-x2-1.0.safetensors",
}
# Why a generation without one in TEMPORAL_UPSCALERS has none ltx-flows can run.
NO_TEMPORAL_UPSCALER = {
    "ltx2-2.5": "LTX-2.5's frame-rate x2 / x4 is the temporal round of its DFR recipe (diffusers' "
    "LTX2DFRTemporalRefinePipeline), which refines a canvas of keyframe slots only LTX2DFRPipeline's passes make, "
    "with a temporal upsampler Lightricks has not published in a form diffusers loads; ltx-flows renders LTX-2.5 "
    "through LTX2ConditionPipeline",
}
