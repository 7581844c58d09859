"""Recipes: the keyword arguments each pipeline call of a shot receives, from the model settings and preset.

One pure function, `pipeline_calls`, used twice: by the plan (so `ltx-flows plan --json` shows them) and by
`ltxv.py` / `ltx2.py` (which add what is per shot or a tensor: prompt, frames, conditions, generator,
latents). What the plan shows is what the pipelines receive. No torch here.
"""

from pydantic import BaseModel

from ..storyboard.frame_rate import FrameRate, frame_rate
from ..storyboard.generations import pipeline_generation
from ..storyboard.presets import CROSS_TIMESTEP, LTX2_NO_GUIDANCE, LTXV_PASS, LTXV_REFINE_TIMESTEPS, PRESETS, Preset, Recipe, preset_file
from ..storyboard.models import SIZE_STEP, ModelConfig, OutputConfig

# Without a preset: the conditioning values of the LTX-Video 0.9.7/0.9.8 recipe, and the distilled refine
# (ltxv); LTX-2 with CFG only, as ltx-flows has always rendered it (ltx2).
_FAMILY_RECIPES = {
    "ltxv": Recipe(
        first=dict(LTXV_PASS), upsample={"adain_factor": 1.0},
        refine={**LTXV_PASS, "timesteps": LTXV_REFINE_TIMESTEPS, "denoise_strength": 0.999}, first_pass_scale=2 / 3,
    ),
    "ltx2": Recipe(first=dict(LTX2_NO_GUIDANCE), refine=dict(LTX2_NO_GUIDANCE)),
}
_PIPELINES = {
    "ltxv": ("LTXConditionPipeline", "LTXLatentUpsamplePipeline"),
    "ltx2": ("LTX2ConditionPipeline", "LTX2LatentUpsamplePipeline"),
}


class PipelineCall(BaseModel):
    """One pipeline call of a shot: which pipeline, the keyword arguments it receives (all but the per-shot
    prompt, frames, conditions, generator and latents), and the LoRA active during it."""

    step: str  # "generate", "upsample", "refine", "upsample_time", "retime" or "decode"
    pipeline: str
    kwargs: dict
    lora: str | None = None
    denoising_steps: int = 0  # steps it runs (what `on_step` counts)
    # LTX-2 refine: the first pass's sound is kept, its whole track held frozen at sigma 0 (Lightricks'
    # `freeze_audio=True` in ti2vid_two_stages.py; diffusers' ltx2.md example re-denoises it instead).
    freeze_audio: bool = False
    # LTX-Video 0.9.8 refine: its final latents tone-mapped by this ratio before decoding (Lightricks'
    # pipeline_ltx_video.py; not a pipeline argument in diffusers, so models/ltxv.py applies it); 0 is none.
    tone_map_compression_ratio: float = 0.0
    # Frame-rate upscaling ("upsample_time"): the temporal upscaler file it loads (`owner/repo/file.safetensors`).
    upscaler: str | None = None

    def extras(self) -> dict:
        """The fields beyond the pipeline's keyword arguments that are set (shown and hashed only then)."""
        return {name: value for name, value in (("freeze_audio", self.freeze_audio),
                                                ("tone_map_compression_ratio", self.tone_map_compression_ratio),
                                                ("upscaler", self.upscaler)) if value}


def preset_of(model: ModelConfig) -> Preset | None:
    return PRESETS[model.preset] if model.preset is not None else None


def recipe_of(model: ModelConfig) -> Recipe:
    preset = preset_of(model)
    return preset.recipe if preset is not None else _FAMILY_RECIPES[model.family]


def first_pass_size(model: ModelConfig, output: OutputConfig) -> tuple[int, int]:
    """(width, height) of the first pass: the asked size, or a fraction of it for two-pass, in multiples of 32."""
    if not model.two_pass:
        return output.width, output.height
    scale = recipe_of(model).first_pass_scale
    return (max(SIZE_STEP, int(output.width * scale) // SIZE_STEP * SIZE_STEP),
            max(SIZE_STEP, int(output.height * scale) // SIZE_STEP * SIZE_STEP))


def _steps_run(kwargs: dict) -> int:
    """How many denoising steps a call runs: its schedule's length, cut by `denoise_strength` (LTX-Video keeps
    the last int(n x strength) steps of its schedule)."""
    schedule = kwargs.get("timesteps") or kwargs.get("sigmas")
    count = len(schedule) if schedule else kwargs["num_inference_steps"]
    if "denoise_strength" in kwargs:
        count = min(int(count * kwargs["denoise_strength"]), count)
    return count


def _cross_timestep(model: ModelConfig, preset: Preset | None) -> dict:
    """Without a preset, an LTX-2 hub checkpoint of a known generation still gets its `use_cross_timestep` (the
    preset recipes carry their own); elsewhere the pipeline's default (True, the 2.3 behaviour) stands."""
    generation = pipeline_generation(model.checkpoint) if model.family == "ltx2" and preset is None else None
    return {"use_cross_timestep": CROSS_TIMESTEP[generation]} if generation in CROSS_TIMESTEP else {}


def pipeline_calls(model: ModelConfig, output: OutputConfig) -> list[PipelineCall]:
    """Every pipeline call one shot makes, in order, with its keyword arguments."""
    recipe = recipe_of(model)
    preset = preset_of(model)
    rate = frame_rate(model, output)
    generator_pipeline, upsample_pipeline = _PIPELINES[model.family]
    width, height = first_pass_size(model, output)
    first = {"width": width, "height": height, "frame_rate": rate.generate_fps, "num_inference_steps": model.steps,
             "guidance_scale": model.guidance_scale}
    if model.family == "ltxv":
        first.update(decode_timestep=model.decode_timestep, decode_noise_scale=model.decode_noise_scale)
        if model.sigmas:  # LTXConditionPipeline takes a custom schedule as timesteps (sigma x 1000)
            first["timesteps"] = [round(1000 * sigma, 6) for sigma in model.sigmas]
    else:
        first["sigmas"] = model.sigmas
        if preset is None:  # one guidance scale for picture and sound
            first["audio_guidance_scale"] = model.guidance_scale
    first.update(recipe.first)
    first.update(_cross_timestep(model, preset))
    first["output_type"] = "latent" if model.two_pass else "np"
    calls = [PipelineCall(step="generate", pipeline=generator_pipeline, kwargs=first, denoising_steps=_steps_run(first))]
    # With `checkpoint: tiny` the twin's LoRA file of the same name.
    lora = preset_file(model.preset, model.checkpoint, preset.stage2_lora) if preset is not None else None
    if model.two_pass:
        calls.append(PipelineCall(step="upsample", pipeline=upsample_pipeline,
                                  kwargs={**recipe.upsample, "output_type": "latent"}))
        # The upsampler doubles the first pass's size; LTX-Video then resizes the frames to the asked size.
        refine = _refine_kwargs(model, preset, recipe, 2 * width, 2 * height, rate.generate_fps)
        calls.append(PipelineCall(step="refine", pipeline=generator_pipeline, kwargs=refine, lora=lora,
                                  denoising_steps=_steps_run(refine), freeze_audio=model.family == "ltx2",
                                  tone_map_compression_ratio=recipe.refine_tone_map))
    calls += _retime_calls(model, preset, recipe, rate, calls[-1], lora)
    return _diffusion_decode(calls, preset)


def _refine_kwargs(model: ModelConfig, preset: Preset | None, recipe: Recipe, width: int, height: int, fps: int) -> dict:
    """A refine pass's arguments: the recipe's short schedule over latents from an upsampler, at `fps`."""
    refine = {"width": width, "height": height, "frame_rate": fps, "guidance_scale": model.guidance_scale}
    if model.family == "ltxv":
        refine.update(decode_timestep=model.decode_timestep, decode_noise_scale=model.decode_noise_scale)
        refine.update(recipe.refine)
    else:
        refine.update(recipe.refine)
        # The storyboard's refine schedule (default: the stage-2 distilled one), re-noised to its first value.
        refine.update(sigmas=model.refine_sigmas, num_inference_steps=len(model.refine_sigmas),
                      noise_scale=model.refine_sigmas[0])
        if preset is None:
            refine["audio_guidance_scale"] = model.guidance_scale
        refine.update(_cross_timestep(model, preset))
    refine["output_type"] = "np"
    return refine


def _retime_calls(model: ModelConfig, preset: Preset | None, recipe: Recipe, rate: FrameRate, last: PipelineCall,
                  lora: str | None) -> list[PipelineCall]:
    """Frame-rate upscaling, once per x2: the temporal upscaler doubles the latents in time, then a refine at the
    doubled rate with the recipe's refine schedule and stage-2 LoRA, as after the spatial upsampler (diffusers'
    LTX-2.5 DFR temporal round is likewise a temporal x2 then a short distilled schedule). LTX-2 keeps the first
    pass's sound, frozen."""
    if rate.rounds == 0:
        return []
    upscaler = preset_file(model.preset, model.checkpoint, rate.upscaler) if model.preset else rate.upscaler
    last.kwargs["output_type"] = "latent"
    tone_map, last.tone_map_compression_ratio = last.tone_map_compression_ratio, 0.0  # on the final latents only
    width, height = last.kwargs["width"], last.kwargs["height"]
    calls = []
    for round_ in range(1, rate.rounds + 1):
        calls.append(PipelineCall(step="upsample_time", pipeline=_PIPELINES[model.family][1],
                                  kwargs={"output_type": "latent"}, upscaler=upscaler))
        refine = _refine_kwargs(model, preset, recipe, width, height, rate.generate_fps * 2**round_)
        refine["output_type"] = "np" if round_ == rate.rounds else "latent"
        calls.append(PipelineCall(step="retime", pipeline=_PIPELINES[model.family][0], kwargs=refine, lora=lora,
                                  denoising_steps=_steps_run(refine), freeze_audio=model.family == "ltx2",
                                  tone_map_compression_ratio=tone_map if round_ == rate.rounds else 0.0))
    return calls


def _diffusion_decode(calls: list[PipelineCall], preset: Preset | None) -> list[PipelineCall]:
    """LTX-2.5 on: the last pass hands over its latents and the diffusion decoder decodes them, a call of its own
    (installed LTX2VideoDiffusionDecodePipeline: latents from `output_type="latent"` are already denormalized)."""
    if preset is None or not preset.diffusion_decode:
        return calls
    calls[-1].kwargs["output_type"] = "latent"
    return [*calls, PipelineCall(step="decode", pipeline="LTX2VideoDiffusionDecodePipeline",
                                 kwargs={"output_type": "np", "denormalize": False})]
