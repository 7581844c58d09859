"""The rules of a film's own look (`storyboard/looks.py`): LoRAs only where LTX-2 renders, each file found and for
the film's generation; camera moves known and published for that generation. Every problem is located at the LoRA's
`file` or the shot's `camera`, with a did-you-mean where a name is close."""

import difflib
import json
import struct
from pathlib import Path

from .generations import pipeline_generation
from .lora_fit import fitting_generations, foreign_layers, lora_layers, read_header, size_problem
from .looks import CAMERA_LORAS, CAMERA_MOVES, Camera, LoraRef
from .models import ModelConfig, Storyboard
from .presets import PRESETS
from .problems import Loc, path_error, short
from .sources import model_source


def look_rules(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Every LoRA of the film, its shots and its cast: usable by this model, found, and for its generation; every
    camera move known and published for it; every character named by a shot, and every shot's names in the cast."""
    return [*_cast_names(storyboard), *_loras_and_cameras(storyboard)]


def _cast_names(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    cast = list(storyboard.cast)
    problems = []
    for index, shot in enumerate(storyboard.shots):
        for i, name in enumerate(shot.cast):
            if name not in storyboard.cast:
                close = difflib.get_close_matches(name, cast, n=1, cutoff=0.5)
                meant = f"; did you mean `{close[0]}`?" if close else ""
                known = f" (the cast: {', '.join(cast)})" if cast else "; add them under the film's `cast:`"
                problems.append((("shots", index, "cast", i), f"no character `{short(name)}` in the cast{meant}{known}"))
    used = {name for shot in storyboard.shots for name in shot.cast}
    for name in cast:
        if name not in used:
            problems.append((("cast", name), f"`{short(name)}` is in the cast but no shot names them: add "
                                             f"`cast: [{short(name)}]` to the shots they appear in, or remove them"))
    return problems


def _loras_and_cameras(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    places: list[tuple[Loc, LoraRef]] = [(("model", "loras", i), ref) for i, ref in enumerate(storyboard.model.loras)]
    for index, shot in enumerate(storyboard.shots):
        places += [(("shots", index, "loras", i), ref) for i, ref in enumerate(shot.loras)]
    places += [(("cast", name, "lora"), character.lora) for name, character in storyboard.cast.items() if character.lora]
    cameras = [(("shots", index, "camera"), shot.camera) for index, shot in enumerate(storyboard.shots) if shot.camera]
    if not places and not cameras:
        return []
    model = storyboard.model
    if model.family != "ltx2":
        return [(loc + ("file",), "LoRAs of your own load into LTX-2 models only (diffusers' LTX2LoraLoaderMixin): "
                                  "set `model.family: ltx2` or a `preset:` of LTX-2") for loc, _ in places] + [
                (loc, "camera moves are LTX-2 camera-control LoRAs: " + _published_for()) for loc, _ in cameras]
    generation = film_generation(model)
    config = _transformer_config(model)
    problems = []
    for loc, ref in places:
        message = lora_problem(ref.file, generation, config)
        if message is not None:
            problems.append((loc + ("file",), message))
    for loc, camera in cameras:
        message = camera_problem(camera, generation, config)
        if message is not None:
            problems.append((loc, message))
    return problems


def camera_problem(camera: Camera, generation: str | None, config: dict | None) -> str | None:
    """What is wrong with a shot's camera move for a film of `generation`, or None."""
    if camera.move not in CAMERA_MOVES:
        close = difflib.get_close_matches(camera.move, CAMERA_MOVES, n=1, cutoff=0.5)
        meant = f"did you mean `{close[0]}`? " if close else ""
        return f"`{short(camera.move)}` is not a camera move; {meant}The moves: {', '.join(CAMERA_MOVES)}"
    file = CAMERA_LORAS.get(generation, {}).get(camera.move)
    if file is None:
        film = generation or "a checkpoint of no published generation (set `model.preset`)"
        return (f"`{camera.move}` needs the generation's camera-control LoRA, and this film renders with {film}: "
                + _published_for() + "; or give a camera LoRA of your own under `loras`")
    return lora_problem(file, generation, config)


def _published_for() -> str:
    generations = ", ".join(CAMERA_LORAS)
    presets = ", ".join(f"`{name}`" for name, preset in PRESETS.items() if preset.generation in CAMERA_LORAS)
    return f"Lightricks publishes them for {generations} only (presets {presets})"


def film_generation(model: ModelConfig) -> str | None:
    """The published generation the film renders with (its preset's, or its checkpoint's), or None (unknown)."""
    if model.preset is not None:
        return PRESETS[model.preset].generation
    return pipeline_generation(model.checkpoint)


def lora_problem(value: str, generation: str | None, config: dict | None) -> str | None:
    """What is wrong with the LoRA file `value` for a film of `generation`, or None. A hub file is checked once it
    is in the local hub cache (after `ltx-flows download`); validation never downloads."""
    try:
        source = model_source(value)
        path = source.path if source.kind == "local" else None
        if source.kind == "local" and not path.is_file():
            return _missing(value, path)
    except (RuntimeError, OSError) as error:
        return f"`{short(value)}` is a local path that cannot be opened: {path_error(error)}; fix the path"
    if source.kind == "hub":
        if not source.rest.endswith(".safetensors"):
            return (f"`{value}` names a repo, not a file: give the file too, `{source.repo}/<file>.safetensors` "
                    "(a LoRA repo may hold several)")
        path = _cached_hub_file(source.repo, source.rest)
    if path is None:  # a hub file not downloaded yet, `tiny`, a twin: nothing on disk to read
        return None
    try:
        layers = lora_layers(read_header(path))
    except (OSError, ValueError, struct.error) as error:
        return f"`{short(value)}` is not a LoRA ltx-flows can load: {error}"
    if generation is not None and foreign_layers(layers, generation):
        fits = fitting_generations(layers)
        named = ", ".join(fits) if fits else "none of the LTX-2 generations ltx-flows knows"
        presets = [name for name, preset in PRESETS.items() if preset.generation in fits]
        instead = f", or render with its generation (`preset: {presets[0]}`)" if presets else ""
        return (f"`{short(value)}` is a LoRA for {named}: it reaches layers {generation} does not have "
                f"(`{foreign_layers(layers, generation)[0]}`), and this film renders with {generation}; use a LoRA "
                f"trained for {generation}{instead} (a LoRA works only with the generation it was trained on)")
    problem = size_problem(layers, config) if config else None
    if problem is not None:
        return f"`{short(value)}` does not fit this model: {problem}"
    return None


def _missing(value: str, path: Path) -> str:
    """A missing local LoRA file, with the closest .safetensors file beside where it was looked for."""
    folder = path.parent
    try:
        names = [p.name for p in folder.iterdir() if p.suffix == ".safetensors"] if folder.is_dir() else []
    except OSError:
        names = []
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    # Offered as the user wrote the path, with the close name in place of theirs.
    meant = value[: -len(path.name)] + close[0] if close and value.endswith(path.name) else close[0] if close else None
    hint = f"; did you mean `{meant}`?" if meant else ""
    return (f"`{short(value)}` is a local path and there is no .safetensors file at {path.resolve()} (local paths are "
            f"relative to the folder ltx-flows runs in){hint} Or give a hub id `owner/repo/file.safetensors`")


def _cached_hub_file(repo: str, filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return Path(found) if isinstance(found, str) else None


def _transformer_config(model: ModelConfig) -> dict | None:
    """The film's transformer config where it is on disk (a local checkpoint folder, or a hub checkpoint in the
    local hub cache), else None."""
    try:
        source = model_source(model.checkpoint)
        if source.kind == "local":
            path = source.path / "transformer" / "config.json"
        elif source.kind == "hub" and not source.rest:
            path = _cached_hub_file(source.repo, "transformer/config.json")
        else:
            return None
        return json.loads(path.read_text()) if path is not None and path.is_file() else None
    except (OSError, ValueError):
        return None

