"""A shot's LoRAs in the plan: which files, at which strengths, from where (`storyboard/looks.py`).

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
from ..storyboard.models import Shot, Storyboard
from ..storyboard.sources import model_source


class LoraPlan(BaseModel):
    file: str  # as the storyboard gives it
    strength: float
    origin: str  # "film", "shot" or "camera"
    sha256: str | None = None  # a local file's content; None for a hub file (its id names it)

    @property
    def adapter(self) -> str:
        """The adapter name the file loads under: one per file content (or hub id), so an edited file is a new one."""
        return "look_" + (self.sha256 or _id_hash(self.file))[:12]


def shot_loras(storyboard: Storyboard, shot: Shot) -> list[LoraPlan]:
    """The LoRAs `shot` renders with: the film's, the shot's, its camera move's."""
    return [
        LoraPlan(file=ref.file, strength=ref.strength, origin=origin, sha256=_local_sha256(ref.file))
        for ref, origin in merged_loras(storyboard.model.loras, shot.loras, shot.camera, film_generation(storyboard.model))
    ]


def hash_inputs(loras: list[LoraPlan]) -> list[dict]:
    """What the LoRAs add to a content hash (see the module docstring)."""
    return [{"file": lora.sha256 or lora.file, "strength": lora.strength} for lora in loras]


def _local_sha256(value: str) -> str | None:
    source = model_source(value)
    return file_sha256(source.path) if source.kind == "local" else None


def _id_hash(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()
