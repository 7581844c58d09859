"""Prompt enhancement (`model.enhance_prompt`, `shots[].enhance_prompt`): which shots ask for it, and where it can run.

The enhancer is the LTX-2 pipeline's own (`LTX2ConditionPipeline.enhance_prompt`: the Gemma 3 text encoder of
LTX-2.0 / 2.3 writing a longer prompt under Lightricks' system prompt). LTX-Video has none, and LTX-2.5 enhances
through a dedicated Gemma 4 `prompt_enhancer` that ltx-flows does not load yet: both are refused at the key.
"""

from .look_checks import film_generation
from .models import Shot, Storyboard
from .problems import Loc


def wants_enhancement(storyboard: Storyboard, shot: Shot) -> bool:
    """The shot's own `enhance_prompt`, else the film's."""
    return shot.enhance_prompt if shot.enhance_prompt is not None else storyboard.model.enhance_prompt


def enhance_rules(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Every `enhance_prompt: true` on a model that has an enhancer ltx-flows can run."""
    places: list[Loc] = [("model", "enhance_prompt")] if storyboard.model.enhance_prompt else []
    places += [("shots", index, "enhance_prompt") for index, shot in enumerate(storyboard.shots) if shot.enhance_prompt]
    if not places:
        return []
    if storyboard.model.family != "ltx2":
        why = ("prompt enhancement runs through the LTX-2 pipeline's own enhancer (its Gemma text encoder); "
               "LTX-Video has none: set `model.family: ltx2` (or an LTX-2 `preset:`), or remove `enhance_prompt`")
        return [(loc, why) for loc in places]
    if film_generation(storyboard.model) == "ltx2-2.5":
        why = ("LTX-2.5 enhances prompts through a dedicated Gemma 4 `prompt_enhancer` that ltx-flows does not load "
               "yet: use an LTX-2.0 / 2.3 preset to enhance (then `ltx-flows enhance --write` to keep the prompts), "
               "or remove `enhance_prompt`")
        return [(loc, why) for loc in places]
    return []
