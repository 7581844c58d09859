"""The rules between the model, the output and the shots: what the model can do (presets, steps, two-pass, sound,
controls), and the model paths (checkpoint, upsampler, control LoRAs), local ones found and hub ids without typos."""

import dataclasses
import difflib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .enhance import enhance_rules
from .frame_rate import frame_rate_rules
from .look_checks import look_rules
from .generations import GENERATIONS, UNSUPPORTED_CHECKPOINTS, UNSUPPORTED_SUBFOLDERS, pipeline_generation
from .models import (
    HALF_SIZE_STEP,
    Defaults,
    ModelConfig,
    OutputConfig,
    Shot,
    Storyboard,
    default_control_lora,
    default_upsampler,
    film_audio,
)
from .presets import PRESETS
from .problems import Loc, path_error, short
from .sources import ModelSource, local_path, model_source
from .voice import film_sound_rules


def model_rules(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """The rules between model, output and shots: what the model can do, local model folders, hub ids."""
    return [*_check_model_settings(storyboard.model, storyboard.output), *_check_sound_and_controls(storyboard),
            *_check_model_paths(storyboard), *look_rules(storyboard), *enhance_rules(storyboard),
            *frame_rate_rules(storyboard),
            *film_sound_rules(storyboard.output.loudness, film_audio(storyboard), any(s.voice for s in storyboard.shots))]


def partial_model_checks(data: dict, shots: list[tuple[int, Shot]], context: dict) -> list[tuple[Loc, str]]:
    """The rules between model, output and shots (`model_rules`) over the parts of a
    storyboard that failed validation which are valid on their own, so a mistake in a shot does not hide them."""
    model = _valid_part(ModelConfig, data.get("model", {}), context,
                        needed=("family", "preset", "checkpoint", "steps", "sigmas"))
    output = _valid_part(OutputConfig, data.get("output", {}), context, needed=())
    if model is None or output is None:
        return []  # reported by the full validation; the rules need both
    partial = Storyboard.model_construct(model=model, output=output, defaults=Defaults(), shots=[shot for _, shot in shots])
    indices = [index for index, _ in shots]
    return [
        (("shots", indices[loc[1]], *loc[2:]) if loc[:1] == ("shots",) else loc, message)
        for loc, message in model_rules(partial)
    ]


def _valid_part(model: type[BaseModel], raw: Any, context: dict, needed: tuple[str, ...]) -> Any:
    """`raw` validated as `model`, its invalid keys left to their defaults (they are reported already); None when
    it is not a mapping, or a key that the rules depend on (`needed`) is invalid."""
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as error:
        bad = {e["loc"][0] for e in error.errors() if e["loc"]}
    if bad & set(needed):
        return None
    try:
        return model.model_validate({key: value for key, value in raw.items() if key not in bad}, context=context)
    except ValidationError:
        return None


# Published LTX-2 pipeline repos whose scheduler ships `shift_terminal` off (the distilled ones); the dev ones and
# the tiny LTX-2 checkpoint ship it on.
_UNSTRETCHED_REPOS = frozenset(
    repo for g in GENERATIONS.values() for repo, kind in g.repos.items() if kind == "pipeline (distilled)")


def _one_step_fails(model: ModelConfig) -> bool:
    """Whether `steps: 1` fails in diffusers: LTX-2 with the pipeline's own schedule, on a checkpoint whose scheduler
    stretches the schedule to end at `shift_terminal`.

    LTX2ConditionPipeline's schedule for one step is [1.0]; `stretch_shift_to_terminal` divides by 1 minus the last
    sigma, so the one timestep is NaN and `scheduler.step` fails to find it (IndexError, installed
    schedulers/scheduling_flow_match_euler_discrete.py:422). One step works everywhere else: given sigmas run
    unshifted (`ltx2.sigmas_as_given`), so does the refine pass (always given its sigmas), and LTX-Video's schedulers
    have no `shift_terminal`. A local folder says in its scheduler config; a hub id not published as distilled is
    taken to stretch, as LTX-2's dev checkpoints do.
    """
    if model.family != "ltx2" or model.steps != 1 or model.sigmas is not None:
        return False
    # With `checkpoint: tiny` a preset renders its repo's twin, which has that repo's scheduler.
    repo = PRESETS[model.preset].checkpoint if model.checkpoint == "tiny" and model.preset is not None else model.checkpoint
    folder = local_path(repo)
    if folder is None:
        return repo not in _UNSTRETCHED_REPOS
    try:
        config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    except (OSError, ValueError):
        return False  # not a loadable folder: `_check_model_paths` reports it, or from_pretrained will
    return isinstance(config, dict) and bool(config.get("shift_terminal"))


def _half_size_ok(output: OutputConfig) -> bool:
    return output.width % HALF_SIZE_STEP == 0 and output.height % HALF_SIZE_STEP == 0


def _check_model_settings(model: ModelConfig, output: OutputConfig) -> list[tuple[Loc, str]]:
    """The model's own settings, and their fit with the output: refused checkpoints, presets, steps and sigmas,
    two-pass."""
    problems: list[tuple[Loc, str]] = []
    half_size_ok = _half_size_ok(output)
    size = f"{output.width}x{output.height}"

    if model.checkpoint in UNSUPPORTED_CHECKPOINTS:
        refused = UNSUPPORTED_CHECKPOINTS[model.checkpoint]
        problems.append((("model", "checkpoint"), f"{refused.name} is not supported: {refused.why}; {refused.instead}"))
    preset = PRESETS[model.preset] if model.preset is not None else None
    generation = pipeline_generation(model.checkpoint)
    if generation is not None and (preset is None or preset.generation != generation) and any(
            name in GENERATIONS[generation].components for name in UNSUPPORTED_SUBFOLDERS):
        refused = UNSUPPORTED_SUBFOLDERS["diffusion_decoder"]  # LTX-2.5 named without its preset
        problems.append((("model", "checkpoint"), f"{refused.name} needs its preset: {refused.why}; {refused.instead}"))
    if model.sigmas is not None and len(model.sigmas) != model.steps:
        if preset is not None and model.sigmas == preset.sigmas:
            # The schedule is the preset's (which sets its steps too): the storyboard's `steps` is what to drop.
            problems.append((("model", "steps"),
                             f"`steps: {model.steps}` does not fit preset `{model.preset}`, whose distilled schedule "
                             f"(`sigmas`) has {len(model.sigmas)} steps: drop `steps` to use the preset's {preset.steps}, "
                             f"or give {model.steps} `sigmas` of your own"))
        else:
            problems.append((("model", "sigmas"),
                         f"{len(model.sigmas)} sigmas for {model.steps} steps: give one sigma per step, or `sigmas: null` "
                         "for the pipeline's own schedule"))
    if _one_step_fails(model):
        problems.append((("model", "steps"),
                         f"LTX-2 with `{model.checkpoint}` needs at least 2 denoising steps: its scheduler stretches the "
                         "pipeline's schedule to end at `shift_terminal`, which one step (at sigma 1.0) cannot do, and "
                         "diffusers fails mid-render; set `steps: 2` or more, or give the one step's noise level "
                         "(`sigmas: [1.0]`, used as given)"))
    for key, sigmas in (("sigmas", model.sigmas), ("refine_sigmas", model.refine_sigmas)):
        if sigmas is not None and any(a <= b for a, b in zip(sigmas, sigmas[1:])):
            problems.append((("model", key), "sigmas must go strictly down (highest noise first)"))
    if model.two_pass and not half_size_ok:
        problems.append((("model", "two_pass"),
                         f"two-pass rendering needs width and height multiples of {HALF_SIZE_STEP} (its first pass "
                         f"renders at half size); {size} is not"))
    if model.two_pass and default_upsampler(model) is None:
        problems.append((("model", "two_pass"),
                         "two-pass rendering needs a latent upsampler: set `model.upsampler` (a hub id or a local folder)"))
    return problems


def _check_sound_and_controls(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Sound (generated only by LTX-2; `mute` only where it is generated) and controls (LTX-2 IC-LoRAs)."""
    problems: list[tuple[Loc, str]] = []
    model, output = storyboard.model, storyboard.output
    half_size_ok = _half_size_ok(output)
    size = f"{output.width}x{output.height}"
    audio = film_audio(storyboard)
    if audio == "generate" and model.family != "ltx2":
        problems.append((("output", "audio"),
                         "LTX-Video makes no sound: use `model.family: ltx2`, a music bed file, or `none`"))
    for index, shot in enumerate(storyboard.shots):
        if shot.mute and audio != "generate":
            problems.append((("shots", index, "mute"), "`mute` silences generated sound, and this film generates none"))
        if shot.control is None:
            continue
        where = ("shots", index, "control")
        if model.family != "ltx2":
            problems.append((where, "controls work through LTX-2's IC-LoRAs: set `model.family: ltx2` "
                                    "(LTX-Video has no IC-LoRA path in diffusers)"))
            continue
        if not half_size_ok:
            problems.append((where, f"a controlled shot needs width and height multiples of {HALF_SIZE_STEP} "
                                    f"(IC-LoRAs may read the control at half size); {size} is not"))
        if default_control_lora(model, shot.control) is None:
            problems.append((where, f"no default IC-LoRA for `{shot.control.kind}` without a preset: set `lora` "
                                    "(a hub id or a local .safetensors file)"))
    return problems


@dataclasses.dataclass(frozen=True)
class _ModelPath:
    """A model value of the storyboard (checkpoint, upsampler, a control's LoRA), where it is, and what a local path
    must hold."""

    loc: Loc
    value: str
    holds: Literal["diffusers folder", "folder", ".safetensors file"]
    hub_example: str  # offered instead of a local path that is not there


def _model_paths(storyboard: Storyboard) -> list[_ModelPath]:
    model = storyboard.model
    paths = [_ModelPath(("model", "checkpoint"), model.checkpoint, "diffusers folder",
                        "Lightricks/LTX-Video-0.9.7-distilled")]
    if model.upsampler is not None:
        paths.append(_ModelPath(("model", "upsampler"), model.upsampler, "folder", "Lightricks/LTX-2/latent_upsampler"))
    paths += [_ModelPath(("shots", index, "control", "lora"), shot.control.lora, ".safetensors file",
                         "owner/repo/file.safetensors")
              for index, shot in enumerate(storyboard.shots) if shot.control is not None and shot.control.lora is not None]
    return paths


def _check_model_paths(storyboard: Storyboard) -> list[tuple[Loc, str]]:
    """Each model path, read once through `model_source`: a local one exists and holds what the render loads, a hub
    id is not one typo away from a known one (`Lightricks/LTX-Video-0.9.7-distiled`); found at validation, not as a
    failed load or download at render time."""
    local: list[tuple[Loc, str]] = []
    typos: list[tuple[Loc, str]] = []
    for path in _model_paths(storyboard):
        # A symlink loop or a name too long for the file system: a located problem, not a traceback.
        try:
            source = model_source(path.value)
            message = _local_problem(path, source.path, storyboard.model.preset) if source.kind == "local" else None
        except (RuntimeError, OSError) as error:
            source, message = None, (f"`{short(path.value)}` is a local path that cannot be opened: "
                                     f"{path_error(error)}; fix the path")
        if message is not None:
            local.append((path.loc, message))
        meant = _hub_id_typo(source) if source is not None and source.kind == "hub" else None
        if meant is not None:
            typos.append((path.loc, f"`{path.value}` is one typo away from the hub id `{meant}`, and not one ltx-flows "
                                    f"knows; did you mean `{meant}`? (see docs/models.md for repos of your own)"))
    return local + typos  # in the order they have always been reported


def _local_problem(path: _ModelPath, local: Path, preset: str | None = None) -> str | None:
    """What is wrong with a local model path, or None."""
    found = local.is_file() if path.holds == ".safetensors file" else local.is_dir()
    if not found:
        what = "folder" if path.holds == "diffusers folder" else path.holds
        return (f"`{path.value}` is a local path and there is no {what} at {local.resolve()} (local paths are relative "
                f"to the folder ltx-flows runs in); fix the path, or give a hub id such as `{path.hub_example}`")
    if path.holds != "diffusers folder":
        return None
    if not (local / "model_index.json").is_file():
        return (f"`{path.value}` ({local.resolve()}) is not a diffusers folder: it has no model_index.json; "
                "point at the folder that holds it")
    return _unsupported_folder(path.value, local, preset)


# Every hub repo ltx-flows knows (the presets' checkpoints, upsamplers and LoRAs are among them); refused ones aside.
_KNOWN_HUB_REPOS = tuple(sorted({repo for generation in GENERATIONS.values() for repo in generation.repos}))
# A typo is a few characters; a longer difference is a name of its own (a fine-tune, a quantized copy).
_TYPO_EDITS = 2


def _hub_id_typo(source: ModelSource) -> str | None:
    """The known hub id a hub id that ltx-flows does not know was most likely meant to be, or None.

    Offline (no hub is asked): `owner/repo` is compared with the known repos, ignoring case, and counts as a typo
    when at most `_TYPO_EDITS` characters differ and its version numbers are the same (`0.9.6` for `0.9.7` is
    another model, not a typo). An unknown id far from every known one is taken as the user's own repo.
    """
    owner_repo, rest = source.repo, source.rest
    if owner_repo in _KNOWN_HUB_REPOS or source.value in UNSUPPORTED_CHECKPOINTS:
        return None
    lowered = owner_repo.lower()
    for known in _KNOWN_HUB_REPOS:
        if re.findall(r"\d+", known) != re.findall(r"\d+", owner_repo):
            continue
        opcodes = difflib.SequenceMatcher(None, lowered, known.lower()).get_opcodes()
        edits = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in opcodes if tag != "equal")
        if edits <= _TYPO_EDITS:
            return f"{known}/{rest}" if rest else known
    return None


def _unsupported_folder(value: str, folder: Path, preset: str | None) -> str | None:
    """A local checkpoint folder in LTX-2.5's layout (`transformer_full/`, `diffusion_decoder/`) without a preset
    of that generation: the folder would load, then render the wrong model (see generations.UNSUPPORTED_SUBFOLDERS)."""
    components = GENERATIONS[PRESETS[preset].generation].components if preset in PRESETS else {}
    for subfolder, refused in UNSUPPORTED_SUBFOLDERS.items():
        if (folder / subfolder).is_dir() and subfolder not in components:
            return (f"`{value}` ({folder.resolve()}) is an {refused.name} folder (it has `{subfolder}/`), and "
                    f"{refused.name} is not supported: {refused.why}; {refused.instead}")
    return None

