"""Model presets: documented defaults for the published LTX checkpoints.

A preset is a name in the storyboard (`model.preset: ltx2-distilled`). Its values fill in
whatever the storyboard leaves out of `model` and `output`, so every field stays overridable
one by one; what is written in the storyboard always wins. Pure data: importing this module is
instant, and the README's preset table is generated from it.
"""

from dataclasses import dataclass, field

# The noise schedule Lightricks distilled LTX-Video 0.9.8 and LTX-2 with (8 steps), and the short
# schedule of their refine pass after the latent upsampler (diffusers' `DISTILLED_SIGMA_VALUES` and
# `STAGE_2_DISTILLED_SIGMA_VALUES`, repeated here so the storyboard layer does not import diffusers).
DISTILLED_SIGMAS = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
REFINE_SIGMAS = [0.909375, 0.725, 0.421875]


@dataclass(frozen=True)
class Preset:
    description: str
    family: str
    # None where no diffusers-format repo is published: the storyboard must name a folder.
    checkpoint: str | None
    steps: int
    guidance_scale: float
    width: int
    height: int
    window_frames: int  # the longest shot one window renders well
    sigmas: list[float] | None = None
    upsampler: str | None = None  # the latent upsampler two-pass rendering loads
    control_loras: dict[str, str] = field(default_factory=dict)  # IC-LoRA per control kind
    vram: str = ""  # what a GPU worker needs, bfloat16 weights, no offload

    def model_defaults(self) -> dict:
        """The `model:` keys this preset fills in."""
        values = {"family": self.family, "steps": self.steps, "guidance_scale": self.guidance_scale}
        if self.checkpoint is not None:
            values["checkpoint"] = self.checkpoint
        if self.sigmas is not None:
            values["sigmas"] = list(self.sigmas)
        return values

    def output_defaults(self) -> dict:
        """The `output:` keys this preset fills in."""
        return {"width": self.width, "height": self.height}


# What every preset of a family shares.
_LTXV = {"family": "ltxv", "window_frames": 257, "upsampler": "Lightricks/ltxv-spatial-upscaler-0.9.7"}
_LTX2 = {
    "family": "ltx2",
    "window_frames": 257,
    "width": 768,
    "height": 512,
    "upsampler": "Lightricks/LTX-2/latent_upsampler",
    "control_loras": {
        "canny": "Lightricks/LTX-2-19b-IC-LoRA-Canny-Control",
        "depth": "Lightricks/LTX-2-19b-IC-LoRA-Depth-Control",
        "pose": "Lightricks/LTX-2-19b-IC-LoRA-Pose-Control",
    },
}

PRESETS: dict[str, Preset] = {
    "ltxv-2b-distilled": Preset(
        **_LTXV,
        description="LTX-Video 0.9.8 2B distilled: the fastest; 8 steps, no CFG",
        checkpoint=None,  # published as a single file (ltxv-2b-0.9.8-distilled.safetensors) only
        steps=8, guidance_scale=1.0, sigmas=DISTILLED_SIGMAS, width=768, height=512,
        vram="~12 GB at 768x512x121",
    ),
    "ltxv-2b-dev": Preset(
        **_LTXV,
        description="LTX-Video 0.9.5 2B dev: keyframe conditioning, CFG",
        checkpoint="Lightricks/LTX-Video-0.9.5",
        steps=40, guidance_scale=3.0, width=768, height=512,
        vram="~16 GB at 768x512x121 (CFG doubles the batch)",
    ),
    "ltxv-13b-distilled": Preset(
        **_LTXV,
        description="LTX-Video 0.9.8 13B distilled: 8 steps, no CFG",
        checkpoint="Lightricks/LTX-Video-0.9.8-13B-distilled",
        steps=8, guidance_scale=1.0, sigmas=DISTILLED_SIGMAS, width=1216, height=704,
        vram="~40 GB at 1216x704x121; 24 GB with cpu_offload",
    ),
    "ltxv-13b-dev": Preset(
        **_LTXV,
        description="LTX-Video 0.9.7 13B dev: best LTX-Video quality, slow",
        checkpoint="Lightricks/LTX-Video-0.9.7-dev",
        steps=30, guidance_scale=3.0, width=1216, height=704,
        vram="~48 GB at 1216x704x121; 24 GB with cpu_offload",
    ),
    "ltx2-distilled": Preset(
        **_LTX2,
        description="LTX-2 19B distilled: video and audio, 8 steps, no CFG (a community diffusers conversion, "
        "the one diffusers' docs use)",
        checkpoint="rootonchair/LTX-2-19b-distilled",
        steps=8, guidance_scale=1.0, sigmas=DISTILLED_SIGMAS,
        vram="~70 GB (19B transformer + Gemma 3 12B); ~40 GB with cpu_offload",
    ),
    "ltx2-dev": Preset(
        **_LTX2,
        description="LTX-2 19B dev: video and audio with CFG, slow",
        checkpoint="Lightricks/LTX-2",
        steps=40, guidance_scale=4.0,
        vram="~80 GB (CFG doubles the batch); ~48 GB with cpu_offload",
    ),
}


def apply_preset(data: dict) -> dict:
    """The raw storyboard with its preset's values filled in under what it sets itself.

    Unknown names are left alone: validating `model.preset` reports them with the valid names.
    """
    model = data.get("model")
    if not isinstance(model, dict) or model.get("preset") not in PRESETS:
        return data
    preset = PRESETS[model["preset"]]
    output = data.get("output") if isinstance(data.get("output"), dict) else {}
    return {
        **data,
        "model": {**preset.model_defaults(), **model},
        "output": {**preset.output_defaults(), **output},
    }


def presets_markdown() -> str:
    """The preset table for the README."""
    lines = [
        "| preset | what | checkpoint | steps | guidance | size | window | upsampler (two-pass) | GPU memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in PRESETS.items():
        checkpoint = f"`{p.checkpoint}`" if p.checkpoint else "set `checkpoint` (no diffusers repo)"
        steps = f"{p.steps} (distilled schedule)" if p.sigmas else str(p.steps)
        lines.append(
            f"| `{name}` | {p.description} | {checkpoint} | {steps} | {p.guidance_scale} | {p.width}x{p.height} | "
            f"{p.window_frames} frames | `{p.upsampler}` | {p.vram} |"
        )
    return "\n".join(lines) + "\n"
