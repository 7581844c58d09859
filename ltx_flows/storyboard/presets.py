"""Model presets: the published LTX checkpoints diffusers 0.42 loads, each with its documented recipe.

A preset is a name in the storyboard (`model.preset: ltx2-distilled`). It knows its generation (see
`generations.py`), checkpoint, latent upsampler, stage-2 LoRA, IC-LoRAs per control kind (a LoRA only
works with the generation it was trained on) and its recipe: the keyword arguments each pipeline call
receives. Its values fill in whatever the storyboard leaves out of `model` and `output`; what the
storyboard writes always wins. With `checkpoint: tiny` a preset renders its generation's tiny twin.

Sources of the recipe values, named next to each: diffusers' docs pages `api/pipelines/ltx_video.md` and
`api/pipelines/ltx2.md` ("docs"), and the installed diffusers 0.42.1 source ("installed"), which wins where
the two disagree. Pure data: importing this module is instant; docs/models.md's table is generated from it.
"""

from dataclasses import dataclass, field, replace

from .generations import GENERATIONS, MAX_FPS, MAX_FPS_SOURCES, NO_TEMPORAL_UPSCALER, TEMPORAL_UPSCALERS

# LTX-2's distilled schedule (8 steps) and its stage-2 refine schedule: diffusers' `DISTILLED_SIGMA_VALUES`
# and `STAGE_2_DISTILLED_SIGMA_VALUES` (installed, pipelines/ltx2/utils.py), repeated so the storyboard layer
# does not import diffusers.
DISTILLED_SIGMAS = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
REFINE_SIGMAS = [0.909375, 0.725, 0.421875]
# LTX-Video 0.9.7 / 0.9.8 distilled (docs, ltx_video.md): the first pass's timesteps and the refine pass's.
LTXV_DISTILLED_TIMESTEPS = [1000, 993, 987, 981, 975, 909, 725, 0.03]
LTXV_REFINE_TIMESTEPS = [1000, 909, 725, 421, 0]


# The negative prompt of shots that set none, per family. LTX-Video: Lightricks' LTX-Video `inference.py` default
# (and diffusers' ltx_video.md examples). LTX-2: Lightricks' `DEFAULT_NEGATIVE_PROMPT` (LTX-2 ltx-pipelines
# `utils/constants.py`), which diffusers repeats as `pipelines/ltx2/utils.py` DEFAULT_NEGATIVE_PROMPT (installed).
NEGATIVE_PROMPTS = {
    "ltxv": "worst quality, inconsistent motion, blurry, jittery, distorted",
    "ltx2": (
        "blurry, out of focus, overexposed, underexposed, low contrast, washed out colors, excessive noise, "
        "grainy texture, poor lighting, flickering, motion blur, distorted proportions, unnatural skin tones, "
        "deformed facial features, asymmetrical face, missing facial features, extra limbs, disfigured hands, "
        "wrong hand count, artifacts around text, inconsistent perspective, camera shake, incorrect depth of "
        "field, background too sharp, background clutter, distracting reflections, harsh shadows, inconsistent "
        "lighting direction, color banding, cartoonish rendering, 3D CGI look, unrealistic materials, uncanny "
        "valley effect, incorrect ethnicity, wrong gender, exaggerated expressions, wrong gaze direction, "
        "mismatched lip sync, silent or muted audio, distorted voice, robotic voice, echo, background noise, "
        "off-sync audio, incorrect dialogue, added dialogue, repetitive speech, jittery movement, awkward "
        "pauses, incorrect timing, unnatural transitions, inconsistent framing, tilted camera, flat lighting, "
        "inconsistent tone, cinematic oversaturation, stylized filters, or AI artifacts."
    ),
}


@dataclass(frozen=True)
class Recipe:
    """What each pipeline call of a preset receives beyond the storyboard's own `model` values."""

    first: dict  # the (first) generation pass
    upsample: dict = field(default_factory=dict)  # the latent upsampler (two-pass)
    refine: dict = field(default_factory=dict)  # the refine pass at full size (two-pass), its schedule included
    # Tone mapping of the refine's final latents before decoding (LTX-Video 0.9.8: 0.6); 0 is none.
    refine_tone_map: float = 0.0
    # Two-pass: the first pass renders at this fraction of the asked size, rounded down to multiples of 32.
    first_pass_scale: float = 0.5
    sources: dict[str, str] = field(default_factory=dict)  # argument -> where its value comes from


@dataclass(frozen=True)
class Preset:
    description: str
    generation: str  # a key of generations.GENERATIONS
    checkpoint: str  # hub repo id (a pipeline repo in diffusers format)
    steps: int
    guidance_scale: float
    width: int
    height: int
    recipe: Recipe
    window_frames: int = 257  # the longest shot one window renders well
    sigmas: list[float] | None = None
    # The latent upsampler two-pass rendering loads: `owner/repo/subfolder` for a model in a subfolder (of a
    # pipeline repo), `owner/repo` for a model at a repo root.
    upsampler: str | None = None
    stage2_lora: str | None = None  # `owner/repo/file.safetensors` loaded for the refine pass
    control_loras: dict[str, str] = field(default_factory=dict)  # IC-LoRA file per control kind
    # The default output size with `two_pass: true`, where it differs from the one-pass size.
    two_pass_size: tuple[int, int] | None = None
    # Parameters in billions (transformer, text encoder): what the VRAM estimate starts from.
    params_b: tuple[float, float] = (0.0, 0.0)
    # The checkpoint's subfolder the transformer is loaded from, where not the pipeline's own `transformer/`
    # (LTX-2.5 dev: `transformer_full/`, which LTX2ConditionPipeline does not load by itself).
    transformer_subfolder: str | None = None

    @property
    def diffusion_decode(self) -> bool:
        """Whether the generation decodes with a diffusion decoder, a pass of its own (LTX-2.5 on)."""
        return "diffusion_decoder" in GENERATIONS[self.generation].components

    @property
    def family(self) -> str:
        return GENERATIONS[self.generation].family

    def model_defaults(self) -> dict:
        """The `model:` keys this preset fills in."""
        values = {"family": self.family, "checkpoint": self.checkpoint, "steps": self.steps,
                  "guidance_scale": self.guidance_scale}
        if self.sigmas is not None:
            values["sigmas"] = list(self.sigmas)
        return values

    def output_defaults(self, two_pass: bool = False) -> dict:
        """The `output:` keys this preset fills in (two-pass: its two-stage size, where it has one)."""
        width, height = self.two_pass_size if two_pass and self.two_pass_size else (self.width, self.height)
        return {"width": width, "height": height}

    def loras(self) -> list[str]:
        """Every LoRA file this preset may load."""
        return sorted({*self.control_loras.values(), *([self.stage2_lora] if self.stage2_lora else [])})


_DOCS_LTXV = "docs ltx_video.md"
_DOCS_LTX2 = "docs ltx2.md"

# LTX-Video 0.9.7 / 0.9.8: the documented two-pass recipe. The first pass at 2/3 of the size, the
# upsampler with AdaIN toward the first pass, hard conditions not re-noised (the pipeline default 0.15
# would re-noise every keyframe and every long-take tail), guidance rescale 0.7.
LTXV_PASS = {"guidance_rescale": 0.7, "image_cond_noise_scale": 0.0}
_LTXV_SOURCES = {
    "guidance_rescale": _DOCS_LTXV, "image_cond_noise_scale": _DOCS_LTXV, "adain_factor": _DOCS_LTXV,
    "decode_timestep": _DOCS_LTXV, "decode_noise_scale": _DOCS_LTXV, "first_pass_scale": _DOCS_LTXV,
}


def _ltxv_distilled(tone_map: bool) -> Recipe:
    sources = {**_LTXV_SOURCES, "timesteps": _DOCS_LTXV, "denoise_strength": _DOCS_LTXV}
    if tone_map:
        # Chosen on purpose where the sources disagree: Lightricks' LTX-Video configs/ltxv-13b-0.9.8-distilled.yaml
        # sets tone_map_compression_ratio 0.6 and its pipeline_ltx_video.py applies it to the final latents just
        # before decoding; diffusers' ltx_video.md passes it to the upsample call instead. Lightricks' is followed:
        # the refine's last step tone-maps its latents (models/ltxv.py).
        sources["tone_map_compression_ratio"] = ("Lightricks' LTX-Video configs/ltxv-13b-0.9.8-distilled.yaml and "
                                                 "pipeline_ltx_video.py (final latents), over docs ltx_video.md "
                                                 "(upsample call)")
    return Recipe(
        first=dict(LTXV_PASS),
        upsample={"adain_factor": 1.0},
        refine_tone_map=0.6 if tone_map else 0.0,
        # The pipeline keeps the last int(5 x 0.999) = 4 timesteps: it re-noises the upsampled latents to
        # t=909 and runs 909, 725, 421, 0 (installed: LTXConditionPipeline.get_timesteps).
        refine={**LTXV_PASS, "timesteps": LTXV_REFINE_TIMESTEPS, "denoise_strength": 0.999},
        first_pass_scale=2 / 3,
        sources=sources,
    )


_LTXV_DEV = Recipe(
    first=dict(LTXV_PASS),
    upsample={"adain_factor": 1.0},
    refine={**LTXV_PASS, "denoise_strength": 0.4, "num_inference_steps": 10},
    first_pass_scale=2 / 3,
    sources={**_LTXV_SOURCES, "num_inference_steps": _DOCS_LTXV, "guidance_scale": _DOCS_LTXV,
             "denoise_strength": _DOCS_LTXV},
)

# LTX-2 distilled: the distilled sigmas unshifted, guidance off; stage 2 refines with the stage-2 sigmas,
# re-noising the upsampled latents to their first value. STG and modality guidance are off with CFG off:
# the installed pipeline's defaults (stg 1.0, modality 3.0, audio guidance 7.0) are the dev recipe's, so
# the distilled recipe sets them back explicitly.
LTX2_NO_GUIDANCE = {
    "stg_scale": 0.0, "audio_stg_scale": 0.0, "modality_scale": 1.0, "audio_modality_scale": 1.0,
    "audio_guidance_scale": 1.0, "guidance_rescale": 0.0, "audio_guidance_rescale": 0.0,
}
_LTX2_REFINE = {"sigmas": REFINE_SIGMAS, "num_inference_steps": len(REFINE_SIGMAS), "noise_scale": REFINE_SIGMAS[0],
                "guidance_scale": 1.0, **LTX2_NO_GUIDANCE}
# `use_cross_timestep`: whether the audio-video cross-attention is modulated by the other modality's sigma.
# Installed (pipeline_ltx2_condition.py `__call__` docstring): "`True` is the LTX-2.3/2.5 behavior; `False` is the
# legacy LTX-2.0 behavior", default True since diffusers' LTX-2.5 change, so 2.0 presets pass False in every call.
CROSS_TIMESTEP = {"ltx2-2.0": False, "ltx2-2.3": True, "ltx2-2.5": True}
_CROSS_TIMESTEP_SOURCE = ("installed (LTX2ConditionPipeline `__call__` docstring: False is LTX-2.0's behaviour, "
                          "True 2.3/2.5's; the default is True)")


def _ltx2_distilled(generation: str) -> Recipe:
    cross = {"use_cross_timestep": CROSS_TIMESTEP[generation]}
    return Recipe(
        first={**LTX2_NO_GUIDANCE, **cross},
        refine={**_LTX2_REFINE, **cross},
        sources={"sigmas": _DOCS_LTX2 + "; installed DISTILLED_SIGMA_VALUES / STAGE_2_DISTILLED_SIGMA_VALUES",
                 "noise_scale": _DOCS_LTX2, "guidance_scale": _DOCS_LTX2,
                 "num_inference_steps": _DOCS_LTX2 + " (one step per sigma)",
                 "guidance_rescale": "installed (as stg_scale)",
                 "stg_scale": "installed (defaults are the dev recipe's; off without guidance)",
                 "modality_scale": "installed (as stg_scale)", "audio_guidance_scale": "installed (as stg_scale)",
                 "use_cross_timestep": _CROSS_TIMESTEP_SOURCE},
    )


def _ltx2_dev(generation: str, stg_block: int) -> Recipe:
    cross = {"use_cross_timestep": CROSS_TIMESTEP[generation]}
    return Recipe(
        first={"audio_guidance_scale": 7.0, "stg_scale": 1.0, "audio_stg_scale": 1.0, "modality_scale": 3.0,
               "audio_modality_scale": 3.0, "guidance_rescale": 0.7, "audio_guidance_rescale": 0.7,
               "spatio_temporal_guidance_blocks": [stg_block], **cross},
        refine={**_LTX2_REFINE, **cross},
        sources={"guidance_scale": _DOCS_LTX2, "audio_guidance_scale": _DOCS_LTX2, "stg_scale": _DOCS_LTX2,
                 "modality_scale": _DOCS_LTX2, "guidance_rescale": _DOCS_LTX2,
                 "spatio_temporal_guidance_blocks": "installed (LTX2ConditionPipeline docstring: [29] for 2.0, "
                 "[28] for 2.3)",
                 "use_cross_timestep": _CROSS_TIMESTEP_SOURCE,
                 "num_inference_steps": _DOCS_LTX2 + " (40 for 2.0, 30 for 2.3; stage 2: one step per sigma)",
                 "sigmas": _DOCS_LTX2 + " (stage 2); installed STAGE_2_DISTILLED_SIGMA_VALUES",
                 "noise_scale": _DOCS_LTX2 + " (stage 2: the first stage-2 sigma)",
                 "refine": _DOCS_LTX2 + " (stage 2: distilled LoRA, stage-2 sigmas, guidance 1.0)",
                 "stage2_lora": "2.0: the file in Lightricks/LTX-2; 2.3: Lightricks' LTX-2 MODELS-LTX-2.3.md "
                 "(ltx-2.3-22b-distilled-lora-384-1.1, original key layout, converted on load by diffusers' "
                 "lora_conversion_utils.py)"},
    )


# LTX-2.3's latent upsampler: Lightricks' LTX-2 MODELS-LTX-2.3.md publishes ltx-2.3-spatial-upscaler-x2-1.1 (original
# format only); its diffusers-format conversion is a community repo (its card: no official diffusers-format repo of
# any version exists; `diffusers/LTX-2.3-Diffusers` was never shown to hold a latent_upsampler/).
_LTX23_UPSAMPLER = "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers/latent_upsampler"

# LTX-2.3 distilled: Lightricks publishes only ltx-2.3-22b-distilled-1.1 now (LTX-2 MODELS-LTX-2.3.md);
# diffusers/LTX-2.3-Distilled-Diffusers was converted from 1.0, so the preset loads the 1.1 conversion (a community
# repo, as rootonchair/LTX-2-19b-distilled is for 2.0). `checkpoint: diffusers/LTX-2.3-Distilled-Diffusers` still
# renders 1.0.
_LTX23_DISTILLED = "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers"

# LTX-2's two-stage default output: 1536x1024, stage 1 at 768x512 (Lightricks' LTX-2 ltx_pipelines/utils/constants.py,
# the two-stage defaults; diffusers' ltx2.md two-stage example renders the same). One pass keeps 768x512.
LTX2_TWO_PASS_SIZE = (1536, 1024)

_LTX2_IC_LORAS = {
    "canny": "Lightricks/LTX-2-19b-IC-LoRA-Canny-Control/ltx-2-19b-ic-lora-canny-control.safetensors",
    "depth": "Lightricks/LTX-2-19b-IC-LoRA-Depth-Control/ltx-2-19b-ic-lora-depth-control.safetensors",
    "pose": "Lightricks/LTX-2-19b-IC-LoRA-Pose-Control/ltx-2-19b-ic-lora-pose-control.safetensors",
}
_UNION = "Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control/ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
_LTX23_IC_LORAS = {"canny": _UNION, "depth": _UNION, "pose": _UNION}
# Lightricks' LTX-2 MODELS-LTX-2.3.md: the stage-2 distilled LoRA of 2.3 (1.1, the one published now), in the
# original key layout (`diffusion_model.`); diffusers' LTX-2 LoRA loader converts it (lora_conversion_utils.py).
_LTX23_STAGE2_LORA = "Lightricks/LTX-2.3/ltx-2.3-22b-distilled-lora-384-1.1.safetensors"

# LTX-2.5 (Lightricks/LTX-2.5-Diffusers): one repo holds the distilled transformer (`transformer/`), the dev one
# (`transformer_full/`), the x2 upsampler (`latent_upsampler/`), the diffusion decoder, the duration head and the
# stage-2 distilled LoRA (reference: the 2.5 conversion's layout). diffusers 0.42.1 documents no 2.5-specific
# sampling values: the distilled sigmas are LTX-2's (installed DISTILLED_SIGMA_VALUES, shared by every distilled
# LTX-2), the dev recipe is 2.3's (30 steps, CFG 3.0, STG at block 28), and every call decodes through
# LTX2VideoDiffusionDecodePipeline (Lightricks' native decoder from 2.5 on, installed modular_blocks_ltx25.py).
_LTX25 = "Lightricks/LTX-2.5-Diffusers"
_LTX25_SOURCES = {
    "values shared with 2.3": "no 2.5-specific value in installed diffusers 0.42.1 (docstrings name 2.0 and 2.3 "
    "only): 2.3's recipe, as installed modular_blocks_ltx25.py reuses LTX-2's blocks but the decoder",
    "decode": "installed LTX2VideoDiffusionDecodePipeline on output_type='latent' with denormalize=False (its "
    "docstring); the diffusion decoder is LTX-2.5's native default (installed modular_blocks_ltx25.py)",
}


def _ltx25(recipe: Recipe, **more: str) -> Recipe:
    return replace(recipe, sources={**recipe.sources, **_LTX25_SOURCES, **more})


PRESETS: dict[str, Preset] = {
    "ltxv-0.9.7-dev": Preset(
        description="LTX-Video 0.9.7 13B dev: keyframes, CFG, two-pass with the 0.9.7 upsampler",
        generation="ltxv-0.9.7", checkpoint="Lightricks/LTX-Video-0.9.7-dev",
        steps=30, guidance_scale=5.0, width=1216, height=704, recipe=_LTXV_DEV,
        upsampler="Lightricks/ltxv-spatial-upscaler-0.9.7/latent_upsampler", params_b=(13.0, 4.8),
    ),
    "ltxv-0.9.7-distilled": Preset(
        description="LTX-Video 0.9.7 13B distilled: 8 steps, no CFG",
        generation="ltxv-0.9.7", checkpoint="Lightricks/LTX-Video-0.9.7-distilled",
        steps=len(LTXV_DISTILLED_TIMESTEPS), guidance_scale=1.0, width=1216, height=704,
        sigmas=[t / 1000 for t in LTXV_DISTILLED_TIMESTEPS], recipe=_ltxv_distilled(tone_map=False),
        upsampler="Lightricks/ltxv-spatial-upscaler-0.9.7/latent_upsampler", params_b=(13.0, 4.8),
    ),
    "ltxv-0.9.8-distilled": Preset(
        description="LTX-Video 0.9.8 13B distilled: 8 steps, no CFG, tone-mapped final latents (two-pass)",
        generation="ltxv-0.9.8", checkpoint="Lightricks/LTX-Video-0.9.8-13B-distilled",
        steps=len(LTXV_DISTILLED_TIMESTEPS), guidance_scale=1.0, width=1216, height=704,
        sigmas=[t / 1000 for t in LTXV_DISTILLED_TIMESTEPS], recipe=_ltxv_distilled(tone_map=True),
        upsampler="a-r-r-o-w/LTX-0.9.8-Latent-Upsampler", params_b=(13.0, 4.8),
    ),
    "ltx2-dev": Preset(
        description="LTX-2.0 19B dev: video and sound with CFG, STG and modality guidance; stage 2 with the "
        "distilled LoRA",
        generation="ltx2-2.0", checkpoint="Lightricks/LTX-2", steps=40, guidance_scale=3.0, width=768, height=512,
        recipe=_ltx2_dev("ltx2-2.0", stg_block=29), upsampler="Lightricks/LTX-2/latent_upsampler",
        stage2_lora="Lightricks/LTX-2/ltx-2-19b-distilled-lora-384.safetensors", control_loras=_LTX2_IC_LORAS,
        two_pass_size=LTX2_TWO_PASS_SIZE,
        params_b=(19.0, 12.0),
    ),
    "ltx2-distilled": Preset(
        description="LTX-2.0 19B distilled: video and sound, 8 steps + 3 refine steps, no CFG (a community "
        "diffusers conversion, the one diffusers' docs use)",
        generation="ltx2-2.0", checkpoint="rootonchair/LTX-2-19b-distilled", steps=8, guidance_scale=1.0,
        width=768, height=512, sigmas=DISTILLED_SIGMAS, recipe=_ltx2_distilled("ltx2-2.0"),
        upsampler="Lightricks/LTX-2/latent_upsampler", control_loras=_LTX2_IC_LORAS,
        two_pass_size=LTX2_TWO_PASS_SIZE, params_b=(19.0, 12.0),
    ),
    "ltx2.3-dev": Preset(
        description="LTX-2.3 22B dev: gated attention, 48 kHz sound, CFG + STG + modality guidance; union "
        "IC-LoRA; stage 2 with the 2.3 distilled LoRA (1.1)",
        generation="ltx2-2.3", checkpoint="diffusers/LTX-2.3-Diffusers", steps=30, guidance_scale=3.0,
        width=768, height=512, recipe=_ltx2_dev("ltx2-2.3", stg_block=28), upsampler=_LTX23_UPSAMPLER,
        stage2_lora=_LTX23_STAGE2_LORA, control_loras=_LTX23_IC_LORAS,
        two_pass_size=LTX2_TWO_PASS_SIZE, params_b=(22.0, 12.0),
    ),
    "ltx2.3-distilled": Preset(
        description="LTX-2.3 22B distilled 1.1: 8 steps + 3 refine steps, no CFG, 48 kHz sound; union IC-LoRA (a "
        "community diffusers conversion of Lightricks' 1.1)",
        generation="ltx2-2.3", checkpoint=_LTX23_DISTILLED, steps=8, guidance_scale=1.0,
        width=768, height=512, sigmas=DISTILLED_SIGMAS, recipe=_ltx2_distilled("ltx2-2.3"),
        upsampler=_LTX23_UPSAMPLER, control_loras=_LTX23_IC_LORAS,
        two_pass_size=LTX2_TWO_PASS_SIZE, params_b=(22.0, 12.0),
    ),
    "ltx2.5-dev": Preset(
        description="LTX-2.5 22B dev (transformer_full/): CFG + STG + modality guidance, 48 kHz sound, decoded by "
        "the diffusion decoder; stage 2 with the 2.5 distilled LoRA",
        generation="ltx2-2.5", checkpoint=_LTX25, steps=30, guidance_scale=3.0, width=768, height=512,
        recipe=_ltx25(_ltx2_dev("ltx2-2.5", stg_block=28), transformer_full="reference: the 2.5 conversion's layout (dev "
                      "weights in transformer_full/), loaded as the pipeline's transformer",
                      stage2_lora="reference: the 2.5 conversion ships ltx-2.5-22b-distilled-lora-450-bf16 at its "
                      "root"), upsampler=f"{_LTX25}/latent_upsampler",
        stage2_lora=f"{_LTX25}/ltx-2.5-22b-distilled-lora-450-bf16.safetensors", transformer_subfolder="transformer_full",
        two_pass_size=LTX2_TWO_PASS_SIZE, params_b=(22.0, 12.0),
    ),
    "ltx2.5-distilled": Preset(
        description="LTX-2.5 22B distilled: 8 steps + 3 refine steps, no CFG, 48 kHz sound, decoded by the "
        "diffusion decoder",
        generation="ltx2-2.5", checkpoint=_LTX25, steps=8, guidance_scale=1.0, width=768, height=512,
        sigmas=DISTILLED_SIGMAS, recipe=_ltx25(_ltx2_distilled("ltx2-2.5")), upsampler=f"{_LTX25}/latent_upsampler",
        two_pass_size=LTX2_TWO_PASS_SIZE, params_b=(22.0, 12.0),
    ),
}


def apply_preset(data: dict) -> dict:
    """The raw storyboard with its preset's values filled in under what it sets itself.

    Unknown names are left alone: validating `model.preset` reports them with the valid names.
    """
    model = data.get("model")
    if not isinstance(model, dict) or model.get("preset") not in PRESETS:
        return data
    preset = PRESETS[model["preset"]]
    output = data.get("output") if isinstance(data.get("output"), dict) else {}
    return {
        **data,
        "model": {**preset.model_defaults(), **model},
        "output": {**preset.output_defaults(two_pass=model.get("two_pass") is True), **output},
    }


def preset_file(preset: str, checkpoint: str, path: str | None) -> str | None:
    """A preset's upsampler or LoRA (`owner/repo/...`) as the storyboard renders it: from the hub, or with
    `checkpoint: tiny` from the generation's twin (`twin:<generation>:owner/repo/...`)."""
    if path is None or checkpoint != "tiny":
        return path
    return f"twin:{PRESETS[preset].generation}:{path}"


def presets_json() -> list[dict]:
    """`ltx-flows presets --json`: one object per preset."""
    return [
        {"name": name, "generation": p.generation, "family": p.family, "checkpoint": p.checkpoint,
         "upsampler": p.upsampler, "stage2_lora": p.stage2_lora, "loras": dict(p.control_loras),
         "steps": p.steps, "guidance_scale": p.guidance_scale, "sigmas": p.sigmas, "width": p.width, "height": p.height,
         "two_pass_size": list(p.two_pass_size) if p.two_pass_size else None,
         "description": p.description,
         "recipe": {"first": p.recipe.first, "upsample": p.recipe.upsample, "refine": p.recipe.refine,
                    "first_pass_scale": p.recipe.first_pass_scale, "refine_tone_map": p.recipe.refine_tone_map}}
        for name, p in PRESETS.items()
    ]


def value_sources(preset: Preset) -> dict[str, str]:
    """Where each value a preset sets comes from: its recipe's arguments, and the values around them."""
    ltx2 = preset.family == "ltx2"
    found = {
        "checkpoint, upsampler, LoRAs": "reference: Lightricks' model cards and MODELS-LTX-2.3.md; see generations.py",
        "steps, guidance_scale, size": _DOCS_LTX2 if ltx2 else _DOCS_LTXV,
        "negative_prompt": ("Lightricks' LTX-2 constants.py DEFAULT_NEGATIVE_PROMPT (= installed ltx2/utils.py)" if ltx2
                            else "Lightricks' LTX-Video inference.py"),
        "frame_rate": "the film's fps, as Lightricks' pipelines pass the rate they write (chosen over the 25 default); "
                      "with frame-rate upscaling the rate generated at, doubled per round",
        "highest rate": f"{MAX_FPS[preset.generation]} fps: {MAX_FPS_SOURCES[preset.generation]}",
    }
    if preset.generation in TEMPORAL_UPSCALERS:
        found["temporal upscaler"] = (f"`{TEMPORAL_UPSCALERS[preset.generation]}` (Lightricks' original file; loaded "
                                      "as diffusers' conversion script loads a latent upsampler); each round refines "
                                      "with the recipe's refine schedule and stage-2 LoRA, as after the spatial "
                                      "upsampler (installed DFR temporal round: x2 then a short distilled schedule)")
    else:
        found["temporal upscaler"] = "none ltx-flows can run: " + NO_TEMPORAL_UPSCALER[preset.generation]
    if preset.two_pass_size:
        found["two-pass size"] = "Lightricks' LTX-2 constants.py (two-stage 1536x1024); " + _DOCS_LTX2
    if ltx2:
        found["freeze_audio (refine)"] = "Lightricks' LTX-2 ti2vid_two_stages.py (chosen over " + _DOCS_LTX2 + ")"
    return {**found, **preset.recipe.sources}


def presets_markdown() -> str:
    """The preset table of docs/models.md."""
    lines = [
        "| preset | generation | what | checkpoint | steps | guidance | size (two-pass) | upsampler (two-pass) | stage-2 LoRA | IC-LoRAs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in PRESETS.items():
        steps = f"{p.steps} (distilled schedule)" if p.sigmas else str(p.steps)
        loras = ", ".join(f"{kind}: `{lora.split('/')[-1]}`" for kind, lora in p.control_loras.items()) or "-"
        lines.append(
            f"| `{name}` | {p.generation} | {p.description} | `{p.checkpoint}` | {steps} | {p.guidance_scale} | "
            f"{p.width}x{p.height}{f' ({p.two_pass_size[0]}x{p.two_pass_size[1]})' if p.two_pass_size else ''} | `{p.upsampler}` | {f'`{p.stage2_lora}`' if p.stage2_lora else '-'} | {loras} |"
        )
    lines += ["", "Where each value comes from (\"docs\": diffusers' docs pages; \"installed\": diffusers 0.42.1's source):",
              "", "| preset | value: source |", "|---|---|"]
    for name, p in PRESETS.items():
        lines.append(f"| `{name}` | " + "<br>".join(f"`{key}`: {source}" for key, source in value_sources(p).items()) + " |")
    return "\n".join(lines) + "\n"
