"""Loading a storyboard: read the file with bounds, parse its YAML, validate it against the models and the rules,
and raise StoryboardError listing every problem, each at its `file:line:col`."""

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .messages import problem_from_pydantic
from .model_checks import model_rules, partial_model_checks
from .models import Storyboard
from .presets import apply_preset
from .problems import Problem, StoryboardError, dotted, problem_at, whole_file
from .variables import substitute, unknown_problem
from .versions import value_sets, variants_errors, version_rules
from .rules import both_lengths, cross_check, duplicate_ids, partial_output, valid_shots
from .yaml_reading import MAX_YAML_DEPTH, parse_repairing, unshift

# The file's size: a storyboard is a few kilobytes (the YAML's nesting and alias expansion are bounded in
# yaml_reading.py).
MAX_STORYBOARD_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Version:
    """One film a storyboard makes: its variant (None without `variants:`), the variables' values and the storyboard
    with them put in."""

    variant: str | None
    vars: dict[str, Any]
    storyboard: Storyboard


def load_storyboard(path: Path | str, root: Path | str | None = None) -> Storyboard:
    """Read, validate and return a storyboard (with `variants:`, its first variant), or raise StoryboardError
    listing every problem of every variant.

    Media paths are relative to the storyboard's folder and must stay inside `root`
    (default: the current directory).
    """
    return load_versions(path, root)[0].storyboard


def load_versions(path: Path | str, root: Path | str | None = None) -> list[Version]:
    """Every version of a storyboard, validated: one per variant, or one (variant None) without `variants:`."""
    path = Path(path)
    root = Path(root) if root is not None else Path.cwd()
    text = read_storyboard_text(path)
    try:
        return _load(path, root, text)
    except RecursionError:  # a last line of defence: the YAML limits should make this unreachable
        raise StoryboardError(path, [whole_file(f"nested too deeply to read (more than {MAX_YAML_DEPTH} levels)")]) from None


def load_storyboard_text(text: str, path: Path, root: Path | str | None = None) -> Storyboard:
    """As `load_storyboard`, for `text` about to be written to `path` (an edit checked before it lands)."""
    return _load(Path(path), Path(root) if root is not None else Path.cwd(), text)


def read_storyboard_text(path: Path) -> str:
    """The file's text: only a regular file, at most MAX_STORYBOARD_BYTES, read with a bound."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused just below).
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                kind = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
                raise StoryboardError(path, [whole_file(f"{kind}: give a storyboard .yaml file")])
            raw = file.read(MAX_STORYBOARD_BYTES + 1)
    except IsADirectoryError:
        raise StoryboardError(path, [whole_file("a folder: give a storyboard .yaml file")]) from None
    except OSError as error:
        raise StoryboardError(path, [whole_file(f"cannot read the file: {error.strerror or error}")]) from None
    if len(raw) > MAX_STORYBOARD_BYTES:
        raise StoryboardError(path, [whole_file(
            f"larger than {MAX_STORYBOARD_BYTES // (1024 * 1024)} MiB; a storyboard is a few kilobytes of YAML")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Not echoed: this may be any file on the machine, not one the user wrote.
        raise StoryboardError(path, [whole_file("not UTF-8 text; a storyboard is a YAML text file")]) from None


def _load(path: Path, root: Path, text: str) -> list[Version]:
    parsed = parse_repairing(path, text)
    try:
        versions = _validate(path, root, parsed.node, parsed.data, parsed.duplicates)
    except StoryboardError as error:
        # What the repaired text gets wrong besides its syntax slips, at the columns of the file as written; a line
        # that holds a control character is never quoted back (printed, the character would act on the terminal).
        unquotable = {slip.line for slip in parsed.slips if not slip.quote_source}
        others = [unshift(p, parsed.shifts) for p in error.problems]
        others = [p.model_copy(update={"quote_source": False}) if p.line in unquotable else p for p in others]
        raise StoryboardError(path, [*parsed.slips, *others]) from None
    if parsed.slips:
        raise StoryboardError(path, parsed.slips)
    return versions


def _validate(path: Path, root: Path, node: yaml.Node | None, data: Any, duplicates: list[Problem]) -> list[Version]:
    problems = list(duplicates)
    if not isinstance(data, dict):
        problems.append(problem_at(node, (), "a storyboard is a mapping with `version`, `name` and `shots`"))
        raise StoryboardError(path, problems)
    if not {"version", "shots"} & set(data):
        # Some other YAML file (a config, a secret): its content is not repeated in any message.
        raise StoryboardError(path, [whole_file(
            "not a storyboard: it has neither `version` nor `shots` (a storyboard is a mapping with `version`, "
            "`name` and `shots`)")])
    # Each variant is the storyboard with its own values put in, validated on its own; a problem every variant
    # shares is reported once.
    sets, set_problems, undecided = value_sets(data)
    problems += [problem_at(node, loc, msg) for loc, msg in set_problems]
    substituted, unknown = [], {}
    for variant, values in sets:
        text_data, missing = substitute(data, values)
        substituted.append(text_data)
        for found in missing:
            unknown.setdefault(found, []).append(variant)
    defined = sorted({name for _, values in sets for name in values})
    problems += [unknown_problem(node, found, defined, [v for v in lacking if v is not None] if len(lacking) < len(sets) else [])
                 for found, lacking in unknown.items() if found.name not in undecided]
    # A field that still holds an unknown `${name}` is reported at that reference, not again as a bad value.
    unresolved = {dotted(found.loc) for found in unknown}
    storyboards, checked = [], {}
    for text_data in substituted:
        key = json.dumps(text_data, sort_keys=True, default=str)
        if key not in checked:
            checked[key] = _validate_one(path, root, node, text_data)
        storyboard, found = checked[key]
        problems += [problem for problem in found if problem not in problems and problem.where not in unresolved]
        storyboards.append(storyboard)
    if problems:
        raise StoryboardError(path, problems)
    return [Version(variant=variant, vars=values, storyboard=storyboard)
            for (variant, values), storyboard in zip(sets, storyboards)]


def _validate_one(path: Path, root: Path, node: yaml.Node | None, data: dict) -> tuple[Storyboard | None, list[Problem]]:
    """One version of the storyboard (its variables put in), validated: (the storyboard, or None, and its problems)."""
    problems: list[Problem] = []
    data = apply_preset(data)

    raw_shots = data.get("shots") if isinstance(data.get("shots"), list) else []
    problems += [problem_at(node, loc, msg) for loc, msg in duplicate_ids(raw_shots)]
    problems += [problem_at(node, loc, msg, at_key=True) for loc, msg in both_lengths(raw_shots)]
    context = {"base_dir": path.parent.resolve(), "root": root}
    try:
        storyboard = Storyboard.model_validate(data, context=context)
    except ValidationError as error:
        # (`duration` with `frames` is reported above, on the raw shots, at its second key.)
        problems += [problem_from_pydantic(node, e) for e in variants_errors(error.errors(), data)
                     if e["type"] != "duration_and_frames"]
        # Still check the shots that are fine on their own, so one typo does not hide the rest.
        fps, family, max_segments = partial_output(data)
        shots = valid_shots(raw_shots, context)
        problems += [
            problem_at(node, loc, msg) for loc, msg in cross_check(shots, len(raw_shots), fps, family, max_segments)
        ]
        problems += [problem_at(node, loc, msg) for loc, msg in partial_model_checks(data, shots, context)]
        return None, problems

    problems += [
        problem_at(node, loc, msg)
        for loc, msg in cross_check(
            list(enumerate(storyboard.shots)), len(storyboard.shots), storyboard.output.fps, storyboard.model.family,
            storyboard.model.max_segments,
        )
    ]
    problems += [problem_at(node, loc, msg) for loc, msg in model_rules(storyboard)]
    problems += [problem_at(node, loc, msg) for loc, msg in version_rules(storyboard)]
    return (None if problems else storyboard), problems

