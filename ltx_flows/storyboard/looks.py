"""A film's own look: LoRAs for the whole film (`model.loras`) and per shot (`shots[].loras`), camera moves
(`shots[].camera`: Lightricks' camera-control LoRAs) and a cast (`cast:` characters, `shots[].cast`).

A LoRA is a `file` (a hub id `owner/repo/file.safetensors`, or a local `.safetensors` file, read by
`sources.model_source` like every model value) and a `strength`. The render loads each file once per pipeline as a
named adapter and switches them per shot with the pipeline's own adapter API; see docs/storyboards.md, "Your own
look: LoRAs, camera, cast". The rules a look must follow (files found, the right generation) are in `look_checks`.
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .media_checks import image_problem, media_path

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


# Lightricks' camera-control LoRAs, by generation: each on the hub as its own repo (the LTX-2 collection,
# https://huggingface.co/collections/Lightricks/ltx-2), trained on LTX-2.0 19B. No other generation has them.
CAMERA_MOVES = ("dolly-in", "dolly-out", "dolly-left", "dolly-right", "jib-up", "jib-down", "static")
CAMERA_LORAS: dict[str, dict[str, str]] = {
    "ltx2-2.0": {
        move: f"Lightricks/LTX-2-19b-LoRA-Camera-Control-{move.title()}/ltx-2-19b-lora-camera-control-{move}.safetensors"
        for move in CAMERA_MOVES
    },
}


class Camera(BaseModel):
    """A camera move through the generation's camera-control LoRA. In YAML: `dolly-in` or `{move: dolly-in, strength: 0.8}`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    move: str = Field(min_length=1, description=f"One of {', '.join(CAMERA_MOVES)}.")
    strength: float = Field(1.0, ge=-MAX_STRENGTH, le=MAX_STRENGTH, description="The camera LoRA's weight.")

    @model_validator(mode="before")
    @classmethod
    def _bare_move(cls, value: Any) -> Any:
        return {"move": value} if isinstance(value, str) else value


# How strongly a character's reference picture pulls the shot's first frame: enough to carry the look of the
# person (face, hair, clothes) into the frame, low enough that the prompt still decides the composition.
PICTURE_STRENGTH = 0.3


class Character(BaseModel):
    """One recurring character of the film (`cast: {mia: {...}}`): any of a LoRA (with its trigger words) and
    reference pictures."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lora: LoraRef | None = Field(None, description="A character LoRA, applied to every shot the character is in.")
    trigger: str | None = Field(
        None, min_length=1, description="Trigger words of the LoRA, put before the prompt of every shot the character is in."
    )
    pictures: list[Path] = Field(
        default_factory=list,
        description="Reference pictures, relative to the storyboard's folder; the first conditions the character's "
        "shots as a low-strength keyframe on their first frame (see docs/storyboards.md).",
    )
    picture_strength: float = Field(PICTURE_STRENGTH, ge=0, le=1,
                                    description="How strongly the reference picture pulls the first frame (0..1).")
    about: str | None = Field(None, description="Who this is, for the review page's cast sheet.")

    @field_validator("pictures", mode="before")
    @classmethod
    def _resolve_pictures(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list):
            return value
        return [media_path(item, info, image_problem, "is not an image that can be read") for item in value]


def merged_loras(film: list[LoraRef], shot: list[LoraRef], camera: Camera | None = None,
                 generation: str | None = None, cast: dict[str, LoraRef] | None = None) -> list[tuple[LoraRef, str]]:
    """The LoRAs a shot renders with, each with where it comes from ("film", "cast NAME", "shot", "camera"): the
    film's, its characters' (`cast`: name -> LoRA), the shot's own, then its camera move's (for `generation`); a shot
    naming a file the film or a character has sets its strength for that shot (0 turns it off there)."""
    merged: dict[str, tuple[LoraRef, str]] = {ref.file: (ref, "film") for ref in film}
    for name, ref in (cast or {}).items():
        merged[ref.file] = (ref, f"cast {name}")
    for ref in shot:
        merged[ref.file] = (ref, "shot")
    file = CAMERA_LORAS.get(generation, {}).get(camera.move) if camera is not None else None
    if file is not None:
        merged[file] = (LoraRef(file=file, strength=camera.strength), "camera")
    return list(merged.values())
