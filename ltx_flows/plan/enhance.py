"""The plan of a shot's prompt enhancement: what the enhancer is given, and the key its result is cached under.

The enhanced prompt is model output, so the plan cannot know it: the plan holds the enhancement's inputs (the
prompt, the system prompt, the checkpoint, the fixed seed), the worker runs the pipeline's `enhance_prompt` once
and caches the text under `key` beside the render (`layout.FilmFolder.enhanced`), and the shot renders with it.
The shot's content hash covers these inputs (only where enhancement is on, so other shots hash as before):
the same inputs give the same cached text, so the same clip.

System prompts: diffusers' copies of Lightricks' `ltx-core` prompts (`gemma_t2v_system_prompt.txt`), named here
and read from `diffusers.pipelines.ltx2.utils` by the model code (this layer imports no diffusers). LTX-2.5 has its
own pair (LTX2_5_T2V / I2V_DEFAULT_SYSTEM_PROMPT, "capstyle_plus"), written for its dedicated Gemma 4 enhancer.
"""

import json
from pathlib import Path

from pydantic import BaseModel

from ..files import json_sha256, write_json_atomic
from ..layout import FilmFolder
from ..storyboard.enhance import DEDICATED_ENHANCER, enhancer_of, wants_enhancement
from ..storyboard.models import Shot, Storyboard

# diffusers.pipelines.ltx2.utils.T2V_DEFAULT_SYSTEM_PROMPT: Lightricks' text-to-video enhancement prompt, the one
# `--enhance-prompt` uses for LTX-2.0 / 2.3 without a conditioning image.
T2V_SYSTEM_PROMPT = "T2V_DEFAULT_SYSTEM_PROMPT"
# ...and its image-to-video one (`gemma_i2v_system_prompt.txt`), for a shot whose first frame is a keyframe: the
# enhancer sees that picture too.
I2V_SYSTEM_PROMPT = "I2V_DEFAULT_SYSTEM_PROMPT"
# LTX-2.5's, which its pipeline's `__call__` picks itself for the dedicated enhancer (I2V with a conditioning image).
LTX25_SYSTEM_PROMPTS = {T2V_SYSTEM_PROMPT: "LTX2_5_T2V_DEFAULT_SYSTEM_PROMPT",
                        I2V_SYSTEM_PROMPT: "LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT"}
# diffusers' `prompt_enhancement_seed` default and ltx-pipelines' seed for the enhancer: one text per input (2.5's
# enhancer decodes greedily, so there the seed changes nothing; it is passed all the same, as diffusers does).
ENHANCE_SEED = 10


class EnhancementPlan(BaseModel):
    prompt: str  # the storyboard's prompt, what the enhancer expands
    image: Path | None = None  # the shot's first-frame keyframe, which the enhancer sees (None: text only)
    system_prompt: str  # the name of diffusers' constant
    checkpoint: str  # the model whose text encoder enhances (`model.checkpoint`, with its preset)
    enhancer: str = "text_encoder"  # the pipeline component that writes it (DEDICATED_ENHANCER for LTX-2.5)
    seed: int
    key: str  # the cache key: a hash of everything above

    def hash_inputs(self) -> dict:
        return {"system_prompt": self.system_prompt, "seed": self.seed}


def plan_enhancement(storyboard: Storyboard, shot: Shot, prompt: str, keyframes: list) -> EnhancementPlan | None:
    """The enhancement of `prompt` (the shot's; `keyframes` its KeyframePlans), or None where the shot asks for none."""
    if not wants_enhancement(storyboard, shot):
        return None
    model = storyboard.model
    checkpoint = f"{model.preset}:{model.checkpoint}" if model.preset else model.checkpoint
    first = next((keyframe for keyframe in keyframes if keyframe.frame == 0), None)
    system_prompt = I2V_SYSTEM_PROMPT if first else T2V_SYSTEM_PROMPT
    enhancer = enhancer_of(model)
    if enhancer == DEDICATED_ENHANCER:
        system_prompt = LTX25_SYSTEM_PROMPTS[system_prompt]
    # The enhancer follows from the checkpoint (and its preset), so the key need not name it: 2.0 / 2.3 keys stay.
    inputs = {"prompt": prompt, "image": first.sha256 if first else None, "system_prompt": system_prompt,
              "checkpoint": checkpoint, "seed": ENHANCE_SEED}
    return EnhancementPlan(prompt=prompt, image=first.image if first else None, system_prompt=system_prompt,
                           checkpoint=checkpoint, enhancer=enhancer, seed=ENHANCE_SEED, key=json_sha256(inputs))


def cached_enhancement(film_dir: Path, enhance: EnhancementPlan) -> str | None:
    """The enhanced prompt cached for these inputs in the render folder `film_dir`, or None."""
    path = FilmFolder(film_dir).enhanced(enhance.key)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record.get("enhanced") if record.get("key") == enhance.key else None


def store_enhancement(film_dir: Path, enhance: EnhancementPlan, enhanced: str) -> None:
    """Cache `enhanced` under the inputs' key (atomically: shots of one film may enhance at the same time)."""
    write_json_atomic({"key": enhance.key, **enhance.model_dump(mode="json", exclude={"key"}), "enhanced": enhanced},
                      FilmFolder(film_dir).enhanced(enhance.key))
