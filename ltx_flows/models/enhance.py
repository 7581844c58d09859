"""Prompt enhancement through the LTX-2 pipeline's own method, `LTX2ConditionPipeline.enhance_prompt`.

For LTX-2.0 / 2.3 the pipeline's Gemma 3 text encoder writes the longer prompt, from its chat template (the
`processor/` component) and Lightricks' system prompt (with the first frame's picture where a keyframe pins it),
sampling as ltx-pipelines does (diffusers' defaults: temperature 0.7, 512 new tokens) with a fixed seed, so the
same inputs give the same text.
"""

from ..plan.enhance import EnhancementPlan


def enhance_prompt(pipe, enhance: EnhancementPlan, device: str) -> str:
    """The enhanced prompt `pipe` writes for `enhance.prompt`."""
    from diffusers.pipelines.ltx2 import utils

    if getattr(pipe, "processor", None) is None:
        raise ValueError(f"{enhance.checkpoint} has no `processor/` (the Gemma chat template the enhancer needs): "
                         "use a checkpoint that ships one, or remove `enhance_prompt`")
    system_prompt = getattr(utils, enhance.system_prompt)
    image = None
    if enhance.image is not None:  # the first frame, as diffusers takes it (a PIL image; it resizes it itself)
        from PIL import Image

        with Image.open(enhance.image) as opened:
            image = opened.convert("RGB")
    return pipe.enhance_prompt(enhance.prompt, system_prompt, seed=enhance.seed, device=device, image=image)[0]
