"""Frame-rate upscaling: which rate the model generates at, and whether `output.fps` needs a pass above it.

Each generation has a highest rate it is published to generate at, and some a temporal upscaler Lightricks
publishes (an x2 latent upsampler in time). A film whose `output.fps` is above the model's rate is generated at
`output.fps / 2` (or `/ 4`) and every generation is doubled in time once per x2: the latents through the temporal
upscaler, then a short refine at the doubled rate (`plan/recipes.py` lists these calls, `models/frame_rate.py`
runs them). Pure data and rules: no torch.
"""

from dataclasses import dataclass

from .generations import FAMILY_MAX_FPS, MAX_FPS, NO_TEMPORAL_UPSCALER, TEMPORAL_UPSCALERS
from .look_checks import film_generation
from .models import ModelConfig, OutputConfig, Storyboard
from .problems import Loc

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
