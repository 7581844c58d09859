"""The plan of a shot's prompt enhancement: what the enhancer is given, and the key its result is cached under.

The enhanced prompt is model output, so the plan cannot know it: the plan holds the enhancement's inputs (the
prompt, the system prompt, the checkpoint, the fixed seed), the worker runs the pipeline's `enhance_prompt` once
and caches the text under `key` beside the render (`layout.FilmFolder.enhanced`), and the shot renders with it.
The shot's content hash covers these inputs (only where enhancement is on, so other shots hash as before):
the same inputs give the same cached text, so the same clip.

System prompts: diffusers' copies of Lightricks' `ltx-core` prompts (`gemma_t2v_system_prompt.txt`), named here
and read from `diffusers.pipelines.ltx2.utils` by the model code (this layer imports no diffusers).
"""

import json
from pathlib import Path

from pydantic import BaseModel

from ..files import json_sha256, write_json_atomic
from ..layout import FilmFolder
from ..storyboard.enhance import wants_enhancement
from ..storyboard.models import Shot, Storyboard

# diffusers.pipelines.ltx2.utils.T2V_DEFAULT_SYSTEM_PROMPT: Lightricks' text-to-video enhancement prompt, the one
# `--enhance-prompt` uses for LTX-2.0 / 2.3 without a conditioning image.
T2V_SYSTEM_PROMPT = "T2V_DEFAULT_SYSTEM_PROMPT"
# diffusers' `prompt_enhancement_seed` default and ltx-pipelines' seed for the enhancer: one text per input.
ENHANCE_SEED = 10


class EnhancementPlan(BaseModel):
    prompt: str  # the storyboard's prompt, what the enhancer expands
    system_prompt: str  # the name of diffusers' constant
    checkpoint: str  # the model whose text encoder enhances (`model.checkpoint`, with its preset)
    seed: int
    key: str  # the cache key: a hash of everything above

    def hash_inputs(self) -> dict:
        return {"system_prompt": self.system_prompt, "seed": self.seed}


def plan_enhancement(storyboard: Storyboard, shot: Shot, prompt: str) -> EnhancementPlan | None:
    """The enhancement of `prompt` (the shot's), or None where the shot does not ask for one."""
    if not wants_enhancement(storyboard, shot):
        return None
    model = storyboard.model
    checkpoint = f"{model.preset}:{model.checkpoint}" if model.preset else model.checkpoint
    inputs = {"prompt": prompt, "image": None, "system_prompt": T2V_SYSTEM_PROMPT, "checkpoint": checkpoint,
              "seed": ENHANCE_SEED}
    return EnhancementPlan(prompt=prompt, system_prompt=T2V_SYSTEM_PROMPT, checkpoint=checkpoint, seed=ENHANCE_SEED,
                           key=json_sha256(inputs))


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
    write_json_atomic({"key": enhance.key, **enhance.model_dump(exclude={"key"}), "enhanced": enhanced},
                      FilmFolder(film_dir).enhanced(enhance.key))
