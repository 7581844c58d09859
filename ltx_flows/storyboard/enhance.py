"""Prompt enhancement (`model.enhance_prompt`, `shots[].enhance_prompt`): which shots ask for it, and where it can run.

The enhancer is the LTX-2 pipeline's own (`LTX2ConditionPipeline.enhance_prompt`): the Gemma 3 text encoder of
LTX-2.0 / 2.3 writing a longer prompt under Lightricks' system prompt, or for LTX-2.5 (whose text encoder is not
trained for it) the dedicated Gemma 4 `prompt_enhancer` of its repo. LTX-Video has none: refused at the key.
"""

from .frames import snap_frames
from .look_checks import film_generation
from .models import Shot, Storyboard
from .problems import Loc
from .sources import model_source

# The pipeline component that writes a generation's enhanced prompts where it is not the text encoder: LTX-2.5's
# `prompt_enhancer/` (diffusers' LTX-2 pipelines use it, when loaded, in place of the text encoder).
DEDICATED_ENHANCER = "prompt_enhancer"
_DEDICATED = {"ltx2-2.5"}


def enhancer_of(model) -> str:
    """The component of `model` (a ModelConfig) that enhances its prompts: `text_encoder` or DEDICATED_ENHANCER."""
    return DEDICATED_ENHANCER if film_generation(model) in _DEDICATED else "text_encoder"


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
    missing = _missing_enhancer(storyboard)
    return [(loc, missing) for loc in places] if missing else _long_takes(storyboard)


def _missing_enhancer(storyboard: Storyboard) -> str | None:
    """A local LTX-2.5 folder without the dedicated enhancer's folder (a hub repo's is fetched by `download`)."""
    model = storyboard.model
    source = model_source(model.checkpoint)
    if enhancer_of(model) != DEDICATED_ENHANCER or source.kind != "local":
        return None
    folder = source.path
    if not (folder / "model_index.json").is_file() or (folder / DEDICATED_ENHANCER).is_dir():
        return None  # (a missing folder is said at `model.checkpoint`)
    return (f"`{model.checkpoint}` ({folder.resolve()}) has no `{DEDICATED_ENHANCER}/`: LTX-2.5 enhances prompts with "
            f"that dedicated Gemma 4 model, as its published repo ships it; add the folder, or remove `enhance_prompt`")


def _long_takes(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """A long take renders its one enhanced prompt in every window; one with a prompt per window (`segments.prompts`)
    would need one enhancement per window: refused rather than silently not enhanced."""
    problems = []
    for index, shot in enumerate(storyboard.shots):
        frames = snap_frames(shot.requested_frames(storyboard.output.fps))
        layout = shot.segment_layout(storyboard.model.family, frames)
        per_window = shot.segments is not None and shot.segments.prompts
        if wants_enhancement(storyboard, shot) and per_window and layout is not None and frames > layout[0]:
            where = ("shots", index, "enhance_prompt") if shot.enhance_prompt else ("shots", index, "segments", "prompts")
            problems.append((where, f"a long take with a prompt per window (`segments.prompts`, {frames} frames in "
                                    f"windows of {layout[0]}) is not enhanced: set `enhance_prompt: false` on this shot, "
                                    "or give it one `prompt` (every window renders its enhanced text)"))
    return problems
