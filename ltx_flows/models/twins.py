"""Tiny twins of the published LTX generations, laid out as the generations are published on the hub.

A twin of generation G is every hub repo G is published as (see `generations.GENERATIONS`), laid out as on
the hub under `<root>/<owner>/<repo>/`: pipeline repos with their subfolders, the upsampler where the real
one is (a pipeline repo with `latent_upsampler/`, a model at a repo root, or a subfolder of the pipeline
repo), and LoRA files under their published names. The models are the family's tiny twin (`tiny_ltxv.twin`,
`tiny_ltx2.twin`): the structural facts of `generations.py` at toy sizes, random weights. They render noise,
offline, on a CPU in a fraction of a second, through exactly the code paths a real checkpoint takes.

`checkpoints.ensure_twin(G)` builds a twin once into the ltx-flows cache (`checkpoint: tiny` with a preset
renders it); `install_snapshot` copies its repos into the Hugging Face cache under the real repo ids
(`download --tiny`), so `from_pretrained("Lightricks/LTX-2")` with `HF_HUB_OFFLINE=1` loads it as a warm GPU
worker loads the real one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..files import build_folder_once
from ..storyboard.generations import (
    GENERATIONS,
    LTX2_DEV_SCHEDULER,
    LTX2_DISTILLED_SCHEDULER,
    TEMPORAL_UPSCALERS,
    Generation,
)
from ..storyboard.looks import CAMERA_LORAS
from ..storyboard.presets import PRESETS
from . import tiny_loras, tiny_ltx2, tiny_ltx25, tiny_ltxv, tiny_upscalers

# Bump when a builder changes what it saves: it is part of the twin's cache folder name.
TWINS_VERSION = 12  # 7: LoRAs in Lightricks' original key layout; 8: the LTX-2.5 twin; 9: LTX-2's processor/;
# 10: LTX-2.5's prompt_enhancer/ and Gemma 4 processor/; 11, 12: temporal upscalers (every file of their repo)
# The subfolder LTX-2's dev repo keeps its latent upsampler in (the tiny checkpoints keep theirs there too).
UPSAMPLER_FOLDER = "latent_upsampler"


def _seed_of(name: str) -> int:
    """The seed a twin's published file is drawn from: its name's, so each file differs and stays the same."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def lora_files(generation: str) -> list[str]:
    """`owner/repo/file.safetensors` of every LoRA a preset of this generation loads (IC-LoRAs, stage-2 LoRA) and
    of its camera moves (`looks.CAMERA_LORAS`)."""
    files = set(CAMERA_LORAS.get(generation, {}).values())
    for preset in PRESETS.values():
        if preset.generation == generation:
            files.update(preset.control_loras.values())
            if preset.stage2_lora:
                files.add(preset.stage2_lora)
    return sorted(files)


def _save_ltxv(generation: Generation, root: Path) -> None:
    from diffusers import LTXLatentUpsamplePipeline

    models = tiny_ltxv.twin(generation)
    for repo, kind in generation.repos.items():
        if kind == "pipeline":
            models.pipeline.save_pretrained(root / repo, safe_serialization=True)
        elif kind == "upsampler pipeline":
            LTXLatentUpsamplePipeline(vae=models.pipeline.vae, latent_upsampler=models.upsampler).save_pretrained(root / repo)
        elif kind == "upsampler model":
            models.upsampler.save_pretrained(root / repo)
    _save_temporal_upscaler(generation, models.pipeline.vae.config.latent_channels, root)


def _save_temporal_upscaler(generation: Generation, latent_channels: int, root: Path) -> None:
    """The generation's published temporal upscaler file, where it has one (`generations.TEMPORAL_UPSCALERS`), with
    every other one its repo publishes (`Lightricks/LTX-Video` holds 0.9.7's and 0.9.8's): the twins of either
    generation then hold the repo as published, whichever of them `download --tiny` installs it from."""
    own = TEMPORAL_UPSCALERS.get(generation.id)
    if own is None:
        return
    repo = own.rsplit("/", 1)[0]
    for path in sorted(p for p in TEMPORAL_UPSCALERS.values() if p.rsplit("/", 1)[0] == repo):
        tiny_upscalers.save_temporal_upscaler(generation.family, latent_channels, root / path,
                                              seed=_seed_of(path))


def _save_ltx2(generation: Generation, root: Path) -> None:
    ltx25 = "diffusion_decoder" in generation.components
    models = tiny_ltx25.twin(generation) if ltx25 else tiny_ltx2.twin(generation)
    for repo, kind in generation.repos.items():
        if kind.startswith("pipeline"):
            # Dev checkpoints shift their schedule by the token count; distilled ones ship shifting off.
            pipeline = models.pipeline(LTX2_DISTILLED_SCHEDULER if "distilled" in kind else LTX2_DEV_SCHEDULER)
            pipeline.save_pretrained(root / repo, safe_serialization=True)
            if ltx25:  # transformer_full/ and diffusion_decoder/, which the pipeline does not save
                tiny_ltx25.save_extras(models, root / repo)
            if kind == "pipeline":  # the upsampler ships inside the dev repo
                models.upsampler.save_pretrained(root / repo / UPSAMPLER_FOLDER)
        elif kind == "upsampler pipeline":  # LTX-2.3's: a pipeline repo of its own, the model in latent_upsampler/
            from diffusers import LTX2LatentUpsamplePipeline

            vae = models.components["vae"]
            LTX2LatentUpsamplePipeline(vae=vae, latent_upsampler=models.upsampler).save_pretrained(root / repo)
    for path in lora_files(generation.id):
        # One seed per published file name; a "ref0.5" IC-LoRA reads its reference at half size. Written in the
        # original layout the published files have, so diffusers' conversion runs as it does on them.
        name = Path(path).name
        seed = _seed_of(name)
        tiny_loras.save_original_lora(models.components["transformer"], root / path, seed=seed,
                                      reference_downscale=2 if "ref0.5" in name else 1)
    _save_temporal_upscaler(generation, models.components["vae"].config.latent_channels, root)


def build_twin(generation: str, root: Path) -> None:
    """Write the twin of `generation` under `root/<owner>/<repo>/`."""
    found = GENERATIONS[generation]
    (_save_ltxv if found.family == "ltxv" else _save_ltx2)(found, root)
    (root / "generation.txt").write_text(generation)


def install_snapshot(source: Path, repo: str, hub_cache: Path) -> Path:
    """Copy a local repo folder into a Hugging Face hub cache as `repo`, laid out as huggingface_hub writes it.

    `models--<owner>--<repo>/snapshots/<revision>/...` with `refs/main` naming the revision: what
    `from_pretrained` and `hf_hub_download` read with `HF_HUB_OFFLINE=1`. Returns the snapshot folder.
    """
    owner, name = repo.split("/")
    folder = hub_cache / f"models--{owner}--{name}"
    revision = hashlib.sha1(f"ltx-flows tiny v{TWINS_VERSION} {source}".encode()).hexdigest()
    snapshot = folder / "snapshots" / revision
    build_folder_once(snapshot, lambda tmp: shutil.copytree(source, tmp), done=snapshot)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    return snapshot
