"""Loading a storyboard: read the file with bounds, parse its YAML, validate it against the models and the rules,
and raise StoryboardError listing every problem, each at its `file:line:col`."""

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .messages import problem_from_pydantic
from .model_checks import model_rules, partial_model_checks
from .models import Storyboard
from .presets import apply_preset
from .problems import Problem, StoryboardError, problem_at, whole_file
from .rules import both_lengths, cross_check, duplicate_ids, partial_output, valid_shots
from .yaml_reading import MAX_YAML_DEPTH, parse_repairing, unshift

# The file's size: a storyboard is a few kilobytes (the YAML's nesting and alias expansion are bounded in
# yaml_reading.py).
MAX_STORYBOARD_BYTES = 4 * 1024 * 1024


def load_storyboard(path: Path | str, root: Path | str | None = None) -> Storyboard:
    """Read, validate and return a storyboard, or raise StoryboardError listing every problem.

    Media paths are relative to the storyboard's folder and must stay inside `root`
    (default: the current directory).
    """
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


def _load(path: Path, root: Path, text: str) -> Storyboard:
    parsed = parse_repairing(path, text)
    try:
        storyboard = _validate(path, root, parsed.node, parsed.data, parsed.duplicates)
    except StoryboardError as error:
        # What the repaired text gets wrong besides its syntax slips, at the columns of the file as written; a line
        # that holds a control character is never quoted back (printed, the character would act on the terminal).
        unquotable = {slip.line for slip in parsed.slips if not slip.quote_source}
        others = [unshift(p, parsed.shifts) for p in error.problems]
        others = [p.model_copy(update={"quote_source": False}) if p.line in unquotable else p for p in others]
        raise StoryboardError(path, [*parsed.slips, *others]) from None
    if parsed.slips:
        raise StoryboardError(path, parsed.slips)
    return storyboard


def _validate(path: Path, root: Path, node: yaml.Node | None, data: Any, duplicates: list[Problem]) -> Storyboard:
    problems = list(duplicates)
    if not isinstance(data, dict):
        problems.append(problem_at(node, (), "a storyboard is a mapping with `version`, `name` and `shots`"))
        raise StoryboardError(path, problems)
    if not {"version", "shots"} & set(data):
        # Some other YAML file (a config, a secret): its content is not repeated in any message.
        raise StoryboardError(path, [whole_file(
            "not a storyboard: it has neither `version` nor `shots` (a storyboard is a mapping with `version`, "
            "`name` and `shots`)")])
    data = apply_preset(data)

    raw_shots = data.get("shots") if isinstance(data.get("shots"), list) else []
    problems += [problem_at(node, loc, msg) for loc, msg in duplicate_ids(raw_shots)]
    problems += [problem_at(node, loc, msg, at_key=True) for loc, msg in both_lengths(raw_shots)]
    context = {"base_dir": path.parent.resolve(), "root": root}
    try:
        storyboard = Storyboard.model_validate(data, context=context)
    except ValidationError as error:
        # (`duration` with `frames` is reported above, on the raw shots, at its second key.)
        problems += [problem_from_pydantic(node, e) for e in error.errors() if e["type"] != "duration_and_frames"]
        # Still check the shots that are fine on their own, so one typo does not hide the rest.
        fps, family, max_segments = partial_output(data)
        shots = valid_shots(raw_shots, context)
        problems += [
            problem_at(node, loc, msg) for loc, msg in cross_check(shots, len(raw_shots), fps, family, max_segments)
        ]
        problems += [problem_at(node, loc, msg) for loc, msg in partial_model_checks(data, shots, context)]
        raise StoryboardError(path, problems) from None

    problems += [
        problem_at(node, loc, msg)
        for loc, msg in cross_check(
            list(enumerate(storyboard.shots)), len(storyboard.shots), storyboard.output.fps, storyboard.model.family,
            storyboard.model.max_segments,
        )
    ]
    problems += [problem_at(node, loc, msg) for loc, msg in model_rules(storyboard)]
    if problems:
        raise StoryboardError(path, problems)
    return storyboard

