"""A shot's look in the plan (`storyboard/looks.py`): its LoRAs (which files, at which strengths, from where) and
what its cast adds to it (`cast_shot`).

Each is applied on every pipeline call of the shot (stage 1 and, two-pass, the refine, beside the stage-2 LoRA; a
control's IC-LoRA beside them in stage 1), as Lightricks' two-stage pipelines apply `--lora`. What a LoRA adds
to a shot's content hash: a local file's content (so editing the file re-renders exactly the shots that use it,
and moving it does not), a hub file's id (a published file is taken as fixed), and the strength. A shot without
LoRAs hashes exactly as before.
"""

from pydantic import BaseModel

from ..files import file_sha256
from ..storyboard.look_checks import film_generation
from ..storyboard.looks import merged_loras
from ..storyboard.models import Keyframe, Shot, Storyboard
from ..storyboard.sources import model_source


class LoraPlan(BaseModel):
    file: str  # as the storyboard gives it
    strength: float
    origin: str  # "film", "cast NAME", "shot" or "camera"
    sha256: str | None = None  # a local file's content; None for a hub file (its id names it)

    @property
    def adapter(self) -> str:
        """The adapter name the file loads under: one per file content (or hub id), so an edited file is a new one."""
        return "look_" + (self.sha256 or _id_hash(self.file))[:12]


def shot_loras(storyboard: Storyboard, shot: Shot) -> list[LoraPlan]:
    """The LoRAs `shot` renders with: the film's, its characters', the shot's, its camera move's."""
    cast = {name: storyboard.cast[name].lora for name in shot.cast
            if name in storyboard.cast and storyboard.cast[name].lora is not None}
    return [
        LoraPlan(file=ref.file, strength=ref.strength, origin=origin, sha256=_local_sha256(ref.file))
        for ref, origin in merged_loras(storyboard.model.loras, shot.loras, shot.camera,
                                        film_generation(storyboard.model), cast)
    ]


def cast_shot(storyboard: Storyboard, shot: Shot) -> Shot:
    """`shot` as its cast renders it: the characters' trigger words before every prompt of the shot (its own, its
    segments', its retakes'), and the first reference picture of its first character that has one as a keyframe on
    its first frame at the character's `picture_strength` (unless the shot pins its first frame itself). A shot
    without a cast (or whose characters have neither) is returned as it is, so it plans and hashes as before."""
    characters = [storyboard.cast[name] for name in shot.cast if name in storyboard.cast]
    update: dict = {}
    triggers = ", ".join(c.trigger for c in characters if c.trigger)
    if triggers:
        update["prompt"] = f"{triggers}, {shot.prompt}"
        if shot.segments is not None and shot.segments.prompts:
            update["segments"] = shot.segments.model_copy(
                update={"prompts": [f"{triggers}, {prompt}" for prompt in shot.segments.prompts]})
        update["retakes"] = [r.model_copy(update={"prompt": f"{triggers}, {r.prompt}"}) if r.prompt else r
                             for r in shot.retakes]
    picture = next((c for c in characters if c.pictures), None)
    if picture is not None and not any(k.at in (0, "start") for k in shot.keyframes):
        first = Keyframe.model_construct(image=picture.pictures[0], at=0, strength=picture.picture_strength)
        update["keyframes"] = [first, *shot.keyframes]
    return shot.model_copy(update=update) if update else shot


def hash_inputs(loras: list[LoraPlan]) -> list[dict]:
    """What the LoRAs add to a content hash (see the module docstring)."""
    return [{"file": lora.sha256 or lora.file, "strength": lora.strength} for lora in loras]


def _local_sha256(value: str) -> str | None:
    source = model_source(value)
    return file_sha256(source.path) if source.kind == "local" else None


def _id_hash(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()
