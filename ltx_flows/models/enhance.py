"""Prompt enhancement through the LTX-2 pipeline's own method, `LTX2ConditionPipeline.enhance_prompt`.

For LTX-2.0 / 2.3 the pipeline's Gemma 3 text encoder writes the longer prompt, from its chat template (the
`processor/` component) and Lightricks' system prompt (with the first frame's picture where a keyframe pins it),
sampling as ltx-pipelines does (diffusers' defaults: temperature 0.7, 512 new tokens) with a fixed seed, so the
same inputs give the same text.

For LTX-2.5 the same method writes it with the pipeline's dedicated `prompt_enhancer` (Gemma 4; 2.5's text encoder
is not trained to write prompts): given one, `enhance_prompt` switches by itself to GEMMA4_PROMPT_ENHANCEMENT_CONFIG
(greedy, no repeated 5-grams, 600 new tokens) and to the `processor/` of the 2.5 repo (a Gemma 4 processor), under
Lightricks' 2.5 system prompts (LTX2_5_T2V / I2V_DEFAULT_SYSTEM_PROMPT), as LTX2DFRPipeline and the modular 2.5
blocks do. The render's pipeline is loaded without it (models/ltx25.py): it is loaded here, once per pipeline, on
the first enhancement, kept on the CPU beside the pipeline (not one of its components, so the memory settings never
place it) and made the pipeline's `prompt_enhancer` only for the call.
"""

from contextlib import contextmanager

from ..plan.enhance import EnhancementPlan
from ..storyboard.enhance import DEDICATED_ENHANCER

_LOADED = "_ltx_flows_prompt_enhancer"  # the pipeline's dedicated enhancer, once loaded


def enhance_prompt(pipe, enhance: EnhancementPlan, device: str, checkpoint: str) -> str:
    """The enhanced prompt `pipe` (loaded from `checkpoint`) writes for `enhance.prompt`."""
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
    with _enhancer(pipe, enhance, checkpoint, device):
        return pipe.enhance_prompt(enhance.prompt, system_prompt, seed=enhance.seed, device=device, image=image)[0]


@contextmanager
def _enhancer(pipe, enhance: EnhancementPlan, checkpoint: str, device: str):
    """`pipe` with the enhancer `enhance` names: its text encoder as it is, or its dedicated `prompt_enhancer`
    (loaded once) registered for the call and moved back to the CPU after, so the render's memory is as planned."""
    if enhance.enhancer != DEDICATED_ENHANCER:
        yield
        return
    enhancer = getattr(pipe, _LOADED, None)
    if enhancer is None:
        from . import ltx25

        enhancer = ltx25.load_prompt_enhancer(checkpoint, pipe.text_encoder.dtype)
        setattr(pipe, _LOADED, enhancer)
    pipe.register_modules(prompt_enhancer=enhancer)
    try:
        yield
    finally:
        pipe.register_modules(prompt_enhancer=None)
        if device != "cpu":
            enhancer.to("cpu")
