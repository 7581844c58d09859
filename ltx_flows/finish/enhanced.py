"""The enhanced prompt of a shot (`enhance_prompt`) in the manifest and on the review page: what the model was
actually given, beside the storyboard's prompt it was written from."""

from html import escape
from pathlib import Path

from ..plan.enhance import cached_enhancement
from ..plan.planner import ShotPlan


def enhance_section(shot: ShotPlan, film_dir: Path) -> dict:
    """The manifest's `enhanced_prompt` of the shot: the text it rendered with and the enhancement's inputs."""
    if shot.enhance is None:
        return {}
    inputs = shot.enhance.model_dump(mode="json",
                                     include={"image", "system_prompt", "checkpoint", "enhancer", "seed", "key"})
    return {"enhanced_prompt": {"text": cached_enhancement(film_dir, shot.enhance), **inputs}}


def enhance_html(facts: dict) -> str:
    enhanced = facts.get("enhanced_prompt")
    if not enhanced:
        return ""
    return (f'<p class="enhanced-prompt"><b>Enhanced</b> ({escape(enhanced["system_prompt"])}, seed '
            f'{enhanced["seed"]}): {escape(enhanced["text"] or "(not cached)")}</p>')
