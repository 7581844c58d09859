"""Model checkpoints: resolve what a storyboard names, and keep the built tiny checkpoints and twins in the cache.

A `checkpoint`, `upsampler` or LoRA value (read by `storyboard.sources.model_source`) becomes something
`from_pretrained` or `load_lora_weights` accepts. `tiny` is a tiny offline checkpoint folder (`tiny_ltxv`,
`tiny_ltx2`: random weights, the real architecture classes and the real VAE compression), saved with
`save_pretrained` so it loads exactly like a real checkpoint folder. Each also holds a tiny latent upsampler
(`latent_upsampler/`, for two-pass rendering), and the LTX-2 one a tiny IC-LoRA (`ic_lora/`, for controls).
`twin:<generation>:owner/repo` is a path in a published generation's tiny twin (`twins.py`). Both are built
once into the ltx-flows cache (`cache_dir()`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from ..files import build_folder_once
from ..storyboard.generations import GENERATIONS
from ..storyboard.sources import ModelSource, model_source
from . import tiny_ltx2, tiny_ltxv
from .twins import TWINS_VERSION, UPSAMPLER_FOLDER, build_twin


logger = logging.getLogger(__name__)

# Bump when a builder changes what it saves: the version is part of the cache folder name,
# so a stale build is never reused.
TINY_LTXV_VERSION = 2
TINY_LTX2_VERSION = 2  # 2: the processor prompt enhancement reads
_TINY_VERSIONS = {"ltxv": TINY_LTXV_VERSION, "ltx2": TINY_LTX2_VERSION}

# Held while any model is built or loaded in this process. diffusers' `from_pretrained` creates modules on
# the meta device through accelerate's `init_empty_weights`, which patches torch for every thread: a model
# built meanwhile in another thread (a detector, a LoRA's layers) would land on meta too.
MODEL_LOAD_LOCK = threading.RLock()

TINY_IC_LORA = "ic_lora/tiny-ic-lora.safetensors"
# The tiny IC-LoRA reads its control at half size, like LTX-2.3's union control LoRA ("ref0.5"), so tests
# cover the downscaled path.
TINY_IC_LORA_DOWNSCALE = 2


def cache_dir() -> Path:
    """Root folder for ltx-flows caches: `$LTX_FLOWS_CACHE`, else `~/.cache/ltx-flows`."""
    env = os.environ.get("LTX_FLOWS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ltx-flows"


def build_tiny_checkpoint(family: str, path: Path) -> None:
    """Save the tiny model of `family` to `path` as a checkpoint folder (safetensors): the pipeline, its latent
    upsampler in `latent_upsampler/`, and for LTX-2 an IC-LoRA for its transformer (`ic_lora/`)."""
    if family == "ltxv":
        ltxv = tiny_ltxv.checkpoint()
        ltxv.pipeline.save_pretrained(path, safe_serialization=True)
        ltxv.upsampler.save_pretrained(path / UPSAMPLER_FOLDER)
        return
    ltx2 = tiny_ltx2.checkpoint()
    # The IC-LoRA is drawn after the models, on the same random stream (no seed of its own), as it always was.
    ltx2.pipeline().save_pretrained(path, safe_serialization=True)
    ltx2.upsampler.save_pretrained(path / UPSAMPLER_FOLDER)
    tiny_ltx2.save_lora(ltx2.components["transformer"], path / TINY_IC_LORA, reference_downscale=TINY_IC_LORA_DOWNSCALE)


def _checkpoint_dir(family: str) -> Path:
    if family not in _TINY_VERSIONS:
        raise ValueError(f"Unknown model family {family!r}: expected one of {', '.join(_TINY_VERSIONS)}.")
    return cache_dir() / "checkpoints" / f"tiny-{family}-v{_TINY_VERSIONS[family]}"


def ensure_tiny_checkpoint(family: str = "ltxv") -> Path:
    """Return the tiny checkpoint folder for `family`, building it once if it is missing."""
    target = _checkpoint_dir(family)
    with MODEL_LOAD_LOCK:
        return build_folder_once(target, lambda folder: build_tiny_checkpoint(family, folder),
                                 done=target / "model_index.json")


def ensure_twin(generation: str) -> Path:
    """The twin's root folder in the ltx-flows cache, built once."""
    if generation not in GENERATIONS:
        raise ValueError(f"No twin for {generation!r}: expected one of {', '.join(GENERATIONS)}.")
    target = cache_dir() / "twins" / f"{generation}-v{TWINS_VERSION}"
    with MODEL_LOAD_LOCK:
        return build_folder_once(target, lambda folder: build_twin(generation, folder), done=target / "generation.txt")


def _twin_path(source: ModelSource) -> Path:
    """A twin source -> that repo (or the path in it) in the generation's tiny twin (built once)."""
    return ensure_twin(source.generation) / f"{source.repo}/{source.rest}".rstrip("/")


def resolve_checkpoint(checkpoint: str, family: str = "ltxv") -> str:
    """Turn a storyboard's checkpoint into something `from_pretrained` accepts.

    "tiny" -> the cached tiny checkpoint (built on first use); `twin:<generation>:owner/repo` -> that repo in
    the generation's tiny twin; an existing local folder -> its absolute
    path; anything else (a hub id) is returned unchanged, for a worker that has it cached or can reach the hub.
    """
    source = model_source(checkpoint)
    if source.kind == "tiny":
        return str(ensure_tiny_checkpoint(family))
    if source.kind == "twin":
        return str(_twin_path(source))
    if source.kind == "local" and source.path.is_dir():
        return str(source.path.resolve())
    return checkpoint


class ModelNotCached(FileNotFoundError):
    """A model a storyboard needs is not in this machine's Hugging Face cache, and the Hub could not fill it in."""


# What huggingface_hub and diffusers say when a model is missing from the local cache and the Hub is out of reach
# (or HF_HUB_OFFLINE is set): their own text is a paragraph whose remedy, if any, is about Python arguments.
_NOT_CACHED_TEXT = ("not fully cached locally", "couldn't find it in the cached files",
                    "Cannot find an appropriate cached snapshot folder")
_MODEL_NAMED = re.compile(r"Cannot load model (\S+?):")


def not_cached(error: BaseException, storyboard: Path | str) -> ModelNotCached | None:
    """`error` as one line saying what to run, when it (or what it was raised from) means a model the `storyboard`
    file needs is missing from the local Hugging Face cache; None for any other error."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and all(link is not seen for seen in chain):
        chain.append(link)
        # As a traceback shows the chain: an error raised `from None` has said what it means (annotators.py does).
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
    if not any(isinstance(link, LocalEntryNotFoundError) or any(text in str(link) for text in _NOT_CACHED_TEXT)
               for link in chain):
        return None
    named = next((found[1] for link in chain if (found := _MODEL_NAMED.search(str(link)))), None)
    return ModelNotCached(
        f"{f'model {named}' if named else 'a model it needs'} is not in this machine's Hugging Face cache and the Hub "
        f"could not be reached: run `ltx-flows download {storyboard}` (with network, same HF_HOME), then render again"
    )


def resolve_upsampler(upsampler: str, family: str) -> tuple[str, str | None]:
    """A latent upsampler as `(from_pretrained path or repo, subfolder)`.

    `tiny` -> the tiny checkpoint's; a local folder -> itself; `owner/repo/sub/folder` -> the repo's subfolder
    (e.g. `Lightricks/LTX-2/latent_upsampler`); `owner/repo` -> the repo.
    """
    source = model_source(upsampler)
    if source.kind == "tiny":
        return str(ensure_tiny_checkpoint(family) / UPSAMPLER_FOLDER), None
    if source.kind == "twin":
        return str(ensure_twin(source.generation) / source.repo), source.rest or None
    if source.kind == "local" and source.path.is_dir():
        return str(source.path.resolve()), None
    return source.repo or upsampler, source.rest or None


def resolve_lora(lora: str) -> Path:
    """An IC-LoRA as a local .safetensors file (downloaded once into the hub cache if it names a hub repo).

    `tiny` -> the tiny LTX-2 checkpoint's; a local file -> itself; `owner/repo/file.safetensors` -> that file;
    `owner/repo` -> the repo's only .safetensors file.
    """
    source = model_source(lora)
    if source.kind == "tiny":
        return ensure_tiny_checkpoint("ltx2") / TINY_IC_LORA
    if source.kind == "twin":
        return _twin_path(source)
    if source.kind == "local" and source.path.is_file():
        return source.path.resolve()
    if source.kind == "local":
        raise FileNotFoundError(f"LoRA {lora}: no such file ({source.path.resolve()})")
    from huggingface_hub import hf_hub_download, list_repo_files

    repo_id = source.repo
    if source.rest:
        return Path(hf_hub_download(repo_id, source.rest))
    candidates = [f for f in list_repo_files(repo_id) if f.endswith(".safetensors")]
    if len(candidates) != 1:
        raise ValueError(
            f"{repo_id} holds {len(candidates)} .safetensors files ({', '.join(candidates) or 'none'}): "
            f"name one, e.g. `{repo_id}/{candidates[0] if candidates else 'file.safetensors'}`"
        )
    return Path(hf_hub_download(repo_id, candidates[0]))
