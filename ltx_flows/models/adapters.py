"""LoRA adapters on the loaded LTX-2 transformer: loaded once per pipeline under a name, switched per call.

Every LoRA a call runs with (a shot's own LoRAs, a control's IC-LoRA, the stage-2 LoRA) is an `Adapter`: a file, the
name it loads under and a weight. `activate` loads those not loaded yet (`load_lora_weights`, which converts
Lightricks' original key layout) and makes exactly them active at their weights with the pipeline's own adapter API
(`set_adapters`); an empty list turns every LoRA off. Nothing is unloaded between shots: switching is a weight
change, and the loaded model's pipeline (and its adapters) goes when `loading.ModelCache` drops the model.
"""

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from .checkpoints import MODEL_LOAD_LOCK, resolve_lora

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adapter:
    name: str
    path: Path
    weight: float


def file_adapter(path: Path, weight: float = 1.0, prefix: str = "ic") -> Adapter:
    """An adapter named for its file's path (IC-LoRAs and stage-2 LoRAs: published files, fixed per path)."""
    return Adapter(name=f"{prefix}_" + hashlib.sha256(str(path).encode()).hexdigest()[:12], path=path, weight=weight)


def look_adapters(loras) -> list[Adapter]:
    """The adapters of a shot's LoRAs (`plan.looks.LoraPlan`), each file resolved (downloaded once if a hub id)."""
    return [Adapter(name=lora.adapter, path=resolve_lora(lora.file), weight=lora.strength) for lora in loras]


def activate(pipe, adapters: list[Adapter]) -> None:
    """Make exactly `adapters` active on `pipe`'s transformer at their weights, loading each on first use. The same
    file twice (two copies of one LoRA, named in two places) is one adapter at the sum of their weights: a LoRA's
    change to the weights is linear in its weight."""
    weights: dict[str, float] = {}
    for adapter in adapters:
        weights[adapter.name] = weights.get(adapter.name, 0.0) + adapter.weight
    adapters = [replace(a, weight=weights.pop(a.name)) for a in adapters if a.name in weights]
    loaded = pipe.get_list_adapters().get("transformer", [])
    if not adapters:
        if loaded:
            pipe.disable_lora()
        return
    for adapter in adapters:
        if adapter.name not in loaded:
            with MODEL_LOAD_LOCK:  # PEFT builds the LoRA's layers
                pipe.load_lora_weights(str(adapter.path), adapter_name=adapter.name)
            log.info("LoRA %s loaded as adapter %s", adapter.path.name, adapter.name)
            loaded = [*loaded, adapter.name]
    pipe.enable_lora()
    pipe.set_adapters([a.name for a in adapters], [a.weight for a in adapters])
