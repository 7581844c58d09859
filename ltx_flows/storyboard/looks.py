"""A film's own look: LoRAs for the whole film (`model.loras`) and per shot (`shots[].loras`).

A LoRA is a `file` (a hub id `owner/repo/file.safetensors`, or a local `.safetensors` file, read by
`sources.model_source` like every model value) and a `strength`. The render loads each file once per pipeline as a
named adapter and switches them per shot with the pipeline's own adapter API; see docs/storyboards.md, "Your own
look: LoRAs, camera, cast". The rules a look must follow (files found, the right generation) are in `look_checks`.
"""

from pydantic import BaseModel, ConfigDict, Field

# A strength beyond this is a typo, not a look (Lightricks' examples use 0.5-1.0; negative ones push away from it).
MAX_STRENGTH = 4.0


class LoraRef(BaseModel):
    """One LoRA and how strongly it applies."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file: str = Field(
        min_length=1,
        description="A hub id `owner/repo/file.safetensors` or a local `.safetensors` file (relative to the folder "
        "ltx-flows runs in); Lightricks' original key layout and diffusers' both load.",
    )
    strength: float = Field(1.0, ge=-MAX_STRENGTH, le=MAX_STRENGTH,
                            description="How strongly it applies (the adapter weight; 1 = as trained, 0 = off).")


def merged_loras(film: list[LoraRef], shot: list[LoraRef]) -> list[tuple[LoraRef, str]]:
    """The LoRAs a shot renders with, each with where it comes from ("film" or "shot"): the film's, then the shot's
    own; a shot naming one of the film's files sets its strength for that shot (0 turns it off there)."""
    merged: dict[str, tuple[LoraRef, str]] = {ref.file: (ref, "film") for ref in film}
    for ref in shot:
        merged[ref.file] = (ref, "shot")
    return list(merged.values())
