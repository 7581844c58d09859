"""The content hash of a generated clip: everything that changes its pixels and sound, and nothing that does not
(its id, device, offload or tiling), so an unchanged shot is reused and a changed one renders again.

New inputs go in only where set, so clips without them keep their hashes (tests/unit/plan/test_hash_pins.py).
"""

from pydantic import BaseModel

from ..files import json_sha256
from ..storyboard.models import ModelConfig, OutputConfig
from .enhance import EnhancementPlan
from .looks import LoraPlan, hash_inputs as lora_hash_inputs
from .recipes import pipeline_calls
from .voice import VoicePlan

# Bump when a change in ltx-flows changes the pixels of a shot with the same inputs,
# so content hashes (and caches keyed on them) move too.
RENDER_VERSION = 2  # 2: documented recipes per preset (issue 8)

# Model settings that change pixels; device, offload and tiling only change speed and memory.
_PIXEL_MODEL_FIELDS = (
    "family", "checkpoint", "steps", "sigmas", "guidance_scale", "decode_timestep", "decode_noise_scale", "dtype",
    "two_pass", "refine_sigmas",
)


def shot_content_hash(
    model: ModelConfig,
    output: OutputConfig,
    upsampler: str | None,
    prompt: str,
    negative_prompt: str,
    seed: int,
    frames: int,
    keyframes: list,  # planner.KeyframePlan: their image's sha256, frame and strength
    control: BaseModel | None,  # planner.ControlPlan
    sound: str,
    loras: list[LoraPlan] | None = None,
    voice: VoicePlan | None = None,
    enhance: EnhancementPlan | None = None,
) -> str:
    """A hash of everything that affects a shot clip's pixels and sound (and nothing that does not, like its id)."""
    inputs = {
        "render_version": RENDER_VERSION,
        "model": {field: getattr(model, field) for field in _PIXEL_MODEL_FIELDS},
        # The recipe: every argument the pipeline calls receive.
        # (`freeze_audio`, `tone_map_compression_ratio`, `upscaler` only where set: calls without them hash as before.)
        "calls": [{**call.model_dump(mode="json", exclude={"freeze_audio", "tone_map_compression_ratio", "upscaler"}), **call.extras()}
                  for call in pipeline_calls(model, output)],
        "upsampler": upsampler,
        # Size, fps (LTX's rope uses the frame rate) and crf; a music bed goes under the film, not into clips.
        # (Loudness is the film's, set after stitching.)
        "output": output.model_dump(exclude={"audio", "loudness", "true_peak"}),
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "frames": frames,
        "keyframes": [{"sha256": k.sha256, "frame": k.frame, "strength": k.strength} for k in keyframes],
        "control": control.model_dump(exclude={"source", "video"}, mode="json") if control else None,
        "sound": sound,
    }
    if loras:  # only where set: a shot without LoRAs hashes as before
        inputs["loras"] = lora_hash_inputs(loras)
    if voice is not None:  # only where set: shots without a voice hash as before
        inputs["voice"] = voice.hash_inputs()
    if enhance:  # only where set, likewise
        inputs["enhance_prompt"] = enhance.hash_inputs()
    return json_sha256(inputs)
