"""A shot whose prompt is enhanced (`enhance_prompt`) renders with the enhanced text: read from the render
folder's cache (`plan/enhance.py`), or written there by the model's enhancer on first use."""

import logging
from pathlib import Path

from ..models.enhance import enhance_prompt
from ..models.loading import MODELS, checkpoint_path, pick_device
from ..plan.enhance import EnhancementPlan, cached_enhancement, store_enhancement
from ..plan.memory import MemorySettings, memory_steps
from ..plan.planner import RenderPlan, ShotPlan
from . import progress

log = logging.getLogger(__name__)


def enhanced_text(plan: RenderPlan, enhance: EnhancementPlan, film_dir: Path, shot_id: str,
                  memory: MemorySettings | None = None) -> str:
    """The enhanced prompt for `enhance`: cached, or made now (loading the film's model) and cached."""
    cached = cached_enhancement(film_dir, enhance)
    if cached is not None:
        return cached
    progress.phase(plan.name, "enhancing the prompt", shot_id)
    pipe = MODELS.pipeline(plan.model)
    device = pick_device(plan.model.device)
    with MODELS.device_locks[device]:
        MODELS.place(pipe, plan.model, memory or memory_steps(plan.model)[0], device)
        text = enhance_prompt(pipe, enhance, device, checkpoint=checkpoint_path(plan.model))
    store_enhancement(film_dir, enhance, text)
    log.info("Shot %s: prompt enhanced (%d characters)", shot_id, len(text))
    return text


def enhanced_shot(plan: RenderPlan, shot: ShotPlan, film_dir: Path, memory: MemorySettings | None = None) -> ShotPlan:
    """`shot` with its enhanced prompt (itself where it asks for none); a long take's every window renders it."""
    if shot.enhance is None:
        return shot
    text = enhanced_text(plan, shot.enhance, film_dir, shot.id, memory)
    segments = [segment.model_copy(update={"prompt": text}) for segment in shot.segments]
    return shot.model_copy(update={"prompt": text, "segments": segments})
