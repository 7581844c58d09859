"""Prefetch: put every weight a storyboard or preset needs into the Hugging Face cache before a nightly run.

`ltx-flows download FILE... | --preset NAME` lists what rendering will load (the checkpoint's pipeline
subfolders, the latent upsampler, the stage-2 LoRA, IC-LoRAs, detector weights for depth and pose
controls) and fetches it with huggingface_hub, so a 2 AM run never stalls on a 40 GB download. `--tiny`
writes the tiny twins (`twins.py`) under the same repo ids instead: what tests and offline trials use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..failures import describe
from ..storyboard.frame_rate import TEMPORAL_UPSCALERS, frame_rate
from ..storyboard.enhance import DEDICATED_ENHANCER, enhancer_of, wants_enhancement
from ..storyboard.generations import GENERATIONS
from ..storyboard.looks import CAMERA_LORAS
from ..storyboard.models import ModelConfig, Storyboard, default_control_lora, default_upsampler
from ..storyboard.presets import PRESETS, Preset
from ..storyboard.sources import model_source
from .annotators import ANNOTATORS_ENV, HUB_ANNOTATORS, WEIGHT_FILES, ensure_tiny_annotators
from .checkpoints import ensure_twin
from .twins import install_snapshot


@dataclass
class Need:
    """One hub repo and what of it rendering loads: glob patterns (a snapshot) or named files."""

    repo: str
    what: str
    patterns: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    generation: str | None = None  # whose twin holds it (for --tiny)


def _hub_repo(name: str) -> tuple[str, str] | None:
    """`owner/repo[/rest]` -> (owner/repo, rest); None for `tiny`, twins and local paths."""
    source = model_source(name)
    return (source.repo, source.rest) if source.kind == "hub" else None


def _checkpoint_need(checkpoint: str, preset: Preset | None) -> Need | None:
    found = _hub_repo(checkpoint)
    if found is None:
        return None
    generation = GENERATIONS[preset.generation] if preset else None
    # The pipeline's subfolders and model_index.json only: some repos also hold single-file checkpoints
    # (tens of GB each) at their root that diffusers never reads.
    # LTX-2.5's repo holds two transformers (tens of GB each): a preset loads one of them.
    unused = ("transformer" if preset.transformer_subfolder else "transformer_full") if preset else None
    folders = [f"{name}/*" for name in generation.components if name != unused] if generation else ["*/*"]
    if generation and generation.family == "ltx2":  # an optional component: prompt enhancement's chat template
        folders.append("processor/*")
    return Need(found[0], "checkpoint", patterns=["model_index.json", *folders],
                generation=preset.generation if preset else None)


def _file_need(name: str | None, what: str, generation: str | None) -> Need | None:
    found = _hub_repo(name) if name else None
    if found is None:
        return None
    repo, rest = found
    if what == "upsampler":
        # A model in a subfolder (of a pipeline repo), or at the repo root.
        patterns = [f"{rest}/*"] if rest else ["config.json", "*.safetensors"]
        return Need(repo, what, patterns=patterns, generation=generation)
    return Need(repo, what, files=[rest] if rest else [], generation=generation)


def preset_needs(name: str) -> list[Need]:
    """Everything rendering with preset `name` may load: checkpoint, upsampler, stage-2 LoRA, IC-LoRAs."""
    preset = PRESETS[name]
    needs = [_checkpoint_need(preset.checkpoint, preset), _file_need(preset.upsampler, "upsampler", preset.generation),
             _file_need(preset.stage2_lora, "stage-2 LoRA", preset.generation)]
    needs += [_file_need(lora, "IC-LoRA", preset.generation) for lora in preset.control_loras.values()]
    needs.append(_file_need(TEMPORAL_UPSCALERS.get(preset.generation), "temporal upscaler", preset.generation))
    return _merge(needs)


def storyboard_needs(storyboard: Storyboard) -> list[Need]:
    """Everything rendering this storyboard loads (only what its shots use)."""
    model: ModelConfig = storyboard.model
    preset = PRESETS[model.preset] if model.preset else None
    generation = preset.generation if preset else None
    needs = [_checkpoint_need(model.checkpoint, preset)]
    if needs[0] and enhancer_of(model) == DEDICATED_ENHANCER and any(wants_enhancement(storyboard, shot)
                                                                     for shot in storyboard.shots):
        needs[0].patterns.append(f"{DEDICATED_ENHANCER}/*")  # LTX-2.5's enhancer (~10 GB): only where a shot enhances
    tiny = model_source(model.checkpoint).kind == "tiny"
    retimed = frame_rate(model, storyboard.output).upscaler
    if model.two_pass:
        needs.append(_file_need(default_upsampler(model), "upsampler", generation))
    if (model.two_pass or retimed) and preset and preset.stage2_lora and not tiny:  # the refine passes' LoRA
        needs.append(_file_need(preset.stage2_lora, "stage-2 LoRA", generation))
    if retimed and not tiny:
        needs.append(_file_need(retimed, "temporal upscaler", generation))
    for shot in storyboard.shots:
        if shot.control is None:
            continue
        needs.append(_file_need(default_control_lora(model, shot.control), "IC-LoRA", generation))
        files = list(WEIGHT_FILES[shot.control.kind])
        if files and not tiny and not os.environ.get(ANNOTATORS_ENV):
            needs.append(Need(HUB_ANNOTATORS, f"{shot.control.kind} detector", files=files))
    looks = [*model.loras, *(r for s in storyboard.shots for r in s.loras)]
    needs += [_lora_need(ref.file, generation) for ref in looks]
    needs += [_lora_need(CAMERA_LORAS[generation][shot.camera.move], generation)
              for shot in storyboard.shots if shot.camera and shot.camera.move in CAMERA_LORAS.get(generation, {})]
    return _merge(needs)


def _lora_need(file: str, generation: str | None) -> Need | None:
    """A LoRA of the storyboard's look (`model.loras`, `shots[].loras`, a camera move's); the generation's twin
    holds it where it is published for the generation (camera LoRAs), else `--tiny` has none to write."""
    published = generation is not None and file in CAMERA_LORAS.get(generation, {}).values()
    return _file_need(file, "camera LoRA" if published else "LoRA", generation if published else None)


def _merge(needs: list[Need | None]) -> list[Need]:
    merged: dict[tuple[str, str], Need] = {}
    for need in needs:
        if need is None:
            continue
        key = (need.repo, need.what)
        if key in merged:
            merged[key].files = sorted({*merged[key].files, *need.files})
        else:
            merged[key] = need
    return list(merged.values())


@dataclass(frozen=True)
class Fetched:
    repo: str
    what: str
    files: int
    bytes: int
    folder: Path


def _size(paths: list[Path]) -> tuple[int, int]:
    files = [p for p in paths if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


@dataclass(frozen=True)
class NotFetched:
    repo: str
    what: str
    why: str  # one line: what went wrong and what to do


def fetch(needs: list[Need]) -> tuple[list[Fetched], list[NotFetched]]:
    """Download every need into the Hugging Face cache (a no-op for what is there already): what is there
    now, and why each need that could not be fetched was not (the others are fetched all the same)."""
    from huggingface_hub import hf_hub_download, list_repo_files, snapshot_download

    fetched, failed = [], []
    unreachable = None  # once the hub cannot be reached, the other repos are not tried (each would retry for ~20 s)
    for need in needs:
        if unreachable is not None:
            failed.append(NotFetched(need.repo, need.what, unreachable))
            continue
        try:
            if need.patterns:
                folder = Path(snapshot_download(need.repo, allow_patterns=need.patterns))
                paths = list(folder.rglob("*"))
            else:
                names = need.files or [f for f in list_repo_files(need.repo) if f.endswith(".safetensors")]
                paths = [Path(hf_hub_download(need.repo, name)) for name in names]
                folder = paths[0].parent if paths else Path()
        except Exception as error:  # noqa: BLE001 (each failure is said in one line; the next repo is tried)
            why = hub_failure(need.repo, error)
            failed.append(NotFetched(need.repo, need.what, why))
            if _unreachable(error):
                unreachable = why
            continue
        count, size = _size([p.resolve() for p in paths])
        fetched.append(Fetched(need.repo, need.what, count, size, folder))
    return fetched, failed


def hub_failure(repo: str, error: Exception) -> str:
    """Why `repo` could not be fetched, in one line saying what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    cause = describe(error.__cause__ or error.__context__ or error)
    if _offline(error):
        return f"not in the cache, and HF_HUB_OFFLINE is set: unset it to download {repo}"
    if _unreachable(error):
        return (f"could not reach the Hugging Face Hub at {constants.ENDPOINT} ({cause}); check the network, "
                "or HF_ENDPOINT (a mirror's address) if set; HF_HUB_OFFLINE=1 renders from the cache only")
    if isinstance(error, GatedRepoError):
        return f"{repo} is gated: accept its terms on the hub, then log in (`hf auth login` or HF_TOKEN)"
    if isinstance(error, RepositoryNotFoundError):
        return f"{repo} was not found on the hub (a typo, or private: log in with `hf auth login` or HF_TOKEN)"
    if isinstance(error, HfHubHTTPError):
        return f"the hub refused: {describe(error)}"
    return describe(error)


def _offline(error: Exception) -> bool:
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    return isinstance(error, OfflineModeIsEnabled) or (isinstance(error, LocalEntryNotFoundError)
                                                       and constants.HF_HUB_OFFLINE)


def _unreachable(error: Exception) -> bool:
    """The hub could not be reached at all (not a refusal of one repo): the other repos need not be tried."""
    import httpx
    from huggingface_hub.errors import LocalEntryNotFoundError

    return not _offline(error) and isinstance(
        error, (LocalEntryNotFoundError, httpx.TransportError, ConnectionError, TimeoutError))


def install_tiny(needs: list[Need], hub_cache: Path) -> list[Fetched]:
    """Write the tiny twins of every need into `hub_cache` under the real repo ids (and tiny detector weights
    under lllyasviel/Annotators)."""
    done = []
    for need in needs:
        if need.repo == HUB_ANNOTATORS:
            source = ensure_tiny_annotators()
        elif need.generation is not None:
            source = ensure_twin(need.generation) / need.repo
        else:
            raise ValueError(f"{need.repo}: no tiny twin (name a preset, or `checkpoint: tiny`, to use --tiny)")
        snapshot = install_snapshot(source, need.repo, hub_cache)
        count, size = _size(list(snapshot.rglob("*")))
        done.append(Fetched(need.repo, need.what, count, size, snapshot))
    return done


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
