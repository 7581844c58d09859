"""Frame-rate upscaling: which rate the model generates at, and whether `output.fps` needs a pass above it.

Each generation has a highest rate it is published to generate at, and some a temporal upscaler Lightricks
publishes (an x2 latent upsampler in time). A film whose `output.fps` is above the model's rate is generated at
`output.fps / 2` (or `/ 4`) and every generation is doubled in time once per x2: the latents through the temporal
upscaler, then a short refine at the doubled rate (`plan/recipes.py` lists these calls, `models/frame_rate.py`
runs them). Pure data and rules: no torch.
"""

from dataclasses import dataclass

from .look_checks import film_generation
from .models import ModelConfig, OutputConfig, Storyboard
from .problems import Loc

# The highest rate each generation is published to generate at, and where that comes from.
MAX_FPS: dict[str, int] = {
    "ltxv-0.9.7": 30, "ltxv-0.9.8": 30,  # LTX-Video README: "30 FPS videos at 1216x704"
    "ltx2-2.0": 50, "ltx2-2.3": 50,  # LTX-2 model cards: up to 50 FPS
    "ltx2-2.5": 60,  # installed diffusers pipelines/ltx2/utils.py MAX_CONDITIONING_FPS (trained around 24-30 and 60)
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
ROUNDS = {1: 0, 2: 1, 4: 2}  # frame-rate factor -> x2 rounds


@dataclass(frozen=True)
class FrameRate:
    """The rate every generation runs at, and how many times it is doubled in time to reach `output.fps`."""

    generate_fps: int
    factor: int  # output.fps / generate_fps: 1, 2 or 4
    upscaler: str | None  # the temporal upscaler file (`owner/repo/file.safetensors`), with factor > 1

    @property
    def rounds(self) -> int:
        return ROUNDS.get(self.factor, 0)


def max_fps(model: ModelConfig) -> int:
    generation = film_generation(model)
    return MAX_FPS[generation] if generation in MAX_FPS else FAMILY_MAX_FPS[model.family]


def frame_rate(model: ModelConfig, output: OutputConfig) -> FrameRate:
    """The film's generation rate: `model.generate_fps`, else `output.fps` where the model makes it, else the
    largest of `output.fps / 2`, `output.fps / 4` that it makes (whole numbers only)."""
    top = max_fps(model)
    if model.generate_fps is not None:
        base = model.generate_fps
    else:
        base = next((output.fps // factor for factor in (1, 2, 4)
                     if output.fps % factor == 0 and output.fps // factor <= top), output.fps)
    factor = output.fps // base if base and output.fps % base == 0 else 0
    generation = film_generation(model)
    return FrameRate(generate_fps=base, factor=factor,
                     upscaler=TEMPORAL_UPSCALERS.get(generation) if factor > 1 else None)


def frame_rate_rules(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """`output.fps` above the model's rate needs a published temporal upscaler and a x2 / x4 step down to it."""
    model, output = storyboard.model, storyboard.output
    rate = frame_rate(model, output)
    top = max_fps(model)
    where: Loc = ("model", "generate_fps") if model.generate_fps is not None else ("output", "fps")
    if rate.generate_fps > top:
        if model.generate_fps is None:
            return [(where, f"output.fps {output.fps} is above what the model generates ({top} fps) and not twice or "
                            f"four times a rate it does (frame-rate upscaling doubles in x2 steps): use `output.fps` "
                            f"{top} or lower, or e.g. {2 * top}")]
        return [(where, f"the model generates at most {top} fps, not {rate.generate_fps}: set `model.generate_fps` "
                        f"to {top} or lower, with `output.fps` twice or four times it")]
    if rate.factor == 1:
        return []
    if rate.factor not in ROUNDS:
        return [(where, f"output.fps {output.fps} is not the generation rate ({rate.generate_fps} fps) times 2 or "
                        f"4, the steps a temporal upscaler doubles in: set `model.generate_fps` to half or a quarter of "
                        f"`output.fps`, or remove it")]
    generation = film_generation(model)
    if generation in NO_TEMPORAL_UPSCALER:
        return [(where, f"output.fps {output.fps} needs frame-rate upscaling from {rate.generate_fps} fps, and "
                        f"{NO_TEMPORAL_UPSCALER[generation]}: generate at the film's rate (`output.fps` {top} or "
                        "lower, without `model.generate_fps`), or use a 2.3 / 2.0 / LTX-Video preset")]
    if rate.upscaler is None:
        return [(where, f"output.fps {output.fps} is above the model's rate ({rate.generate_fps} fps are "
                        "generated) and frame-rate upscaling loads the generation's published temporal upscaler, "
                        "which needs a `preset:` (or a hub checkpoint of a known generation): add one, or use "
                        f"`output.fps` {top} or lower")]
    return []
