"""Approved shots: `ltx-flows approve FILE SHOT` pins a shot's clip by its sha256, in `<FILE>.approved.json` beside
the storyboard (plain JSON, one entry per shot, meant to be committed with it).

An approved clip is never rendered again: not by `--force`, not by a model setting or default that changes the
shot's content hash, as long as the shot's own inputs are what they were when it was approved. Its own inputs are
its entry in the storyboard (prompt, seed, frames, keyframes, segments, control, retakes, ...: everything but
`takes` and `qc`, which choose among clips and do not make one), hashed, and the contents of the files it names
(keyframe images, the control video or image, the reference pictures of its cast: each file's sha256, by its path
relative to the storyboard, so that editing a keyframe in place lapses the approval as editing the YAML does).
When they change, the approval no longer holds, the shot renders as any other, and `ltx-flows validate` says so,
naming the files that changed. An approval written before files were recorded holds on the entry alone.
"""

import difflib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from ..files import file_sha256, json_sha256, write_json_atomic
from ..layout import shot_clip_name
from .loading import load_storyboard
from .models import Shot, Storyboard

SUFFIX = ".approved.json"


def approvals_path(storyboard_file: Path) -> Path:
    return Path(storyboard_file).with_name(Path(storyboard_file).name + SUFFIX)


def shot_inputs(shot: Shot) -> str:
    """The hash of what the shot's own entry says (see module doc)."""
    return json_sha256(shot.model_dump(mode="json", exclude={"takes", "qc"}))


def _paths(value) -> list[Path]:
    """Every path a model holds, however deep (the media fields are resolved paths)."""
    if isinstance(value, Path):
        return [value]
    if isinstance(value, BaseModel):
        return [path for name in type(value).model_fields for path in _paths(getattr(value, name))]
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in _paths(item)]
    if isinstance(value, dict):
        return [path for item in value.values() for path in _paths(item)]
    return []


def shot_files(storyboard_file: Path, shot: Shot, storyboard: Storyboard | None = None) -> dict[str, str]:
    """The files the shot names, and those of the cast it names when `storyboard` is given: path relative to the
    storyboard's folder -> sha256. Hashed only for a shot that has an approval (see `pinned_clip`)."""
    paths = set(_paths(shot))
    for name in shot.cast if storyboard is not None else []:
        paths.update(_paths(storyboard.cast.get(name)))
    folder = Path(storyboard_file).resolve().parent
    return {Path(os.path.relpath(path.resolve(), folder)).as_posix(): file_sha256(path)
            for path in sorted(paths) if path.is_file()}


def changed_files(storyboard_file: Path, shot: Shot, entry: dict, storyboard: Storyboard | None = None) -> list[str]:
    """The files recorded with an approval whose contents (or presence) are not what they were; [] for an approval
    written before files were recorded."""
    recorded = entry.get("files")
    if not isinstance(recorded, dict):
        return []
    now = shot_files(storyboard_file, shot, storyboard)
    return sorted(path for path in recorded.keys() | now.keys() if recorded.get(path) != now.get(path))


def read_approvals(storyboard_file: Path) -> dict[str, dict]:
    """Shot id -> its approval (`inputs`, `sha256`, `clip`, `approved_at`); {} without a file or with a torn one."""
    try:
        data = json.loads(approvals_path(storyboard_file).read_text())
    except (OSError, ValueError):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, dict)} if isinstance(data, dict) else {}


def approve(storyboard_file: Path, shot: Shot, clip_sha256: str, clip: str, storyboard: Storyboard | None = None) -> dict:
    """Pin `shot`'s clip (its sha256) with the shot's inputs and files as they are now; returns the entry written."""
    approvals = read_approvals(storyboard_file)
    approvals[shot.id] = {"inputs": shot_inputs(shot), "files": shot_files(storyboard_file, shot, storyboard),
                          "sha256": clip_sha256, "clip": clip,
                          "approved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json_atomic(approvals, approvals_path(storyboard_file))
    return approvals[shot.id]


def pinned_clip(storyboard_file: Path, shot: Shot, storyboard: Storyboard | None = None) -> str | None:
    """The sha256 of the clip approved for `shot`, while the shot's inputs and files are the approved ones; else
    None."""
    entry = read_approvals(storyboard_file).get(shot.id)
    if (entry and entry.get("inputs") == shot_inputs(shot) and isinstance(entry.get("sha256"), str)
            and not changed_files(storyboard_file, shot, entry, storyboard)):
        return entry["sha256"]
    return None


def lapsed_approvals(storyboard_file: Path, storyboard: Storyboard) -> list[str]:
    """A line for each approved shot whose own inputs changed since (or that is gone): it will render again."""
    shots = {shot.id: shot for shot in storyboard.shots}
    lines = []
    for shot_id, entry in read_approvals(storyboard_file).items():
        if shot_id not in shots:
            lines.append(f"{storyboard_file}: shot `{shot_id}` was approved but is no longer in the storyboard")
        elif entry.get("inputs") != shot_inputs(shots[shot_id]):
            lines.append(f"{storyboard_file}: shot `{shot_id}` was approved ({entry.get('approved_at')}) but its inputs "
                         "changed since: it will render again; `ltx-flows approve` it again to pin the new clip")
        elif changed := changed_files(storyboard_file, shots[shot_id], entry, storyboard):
            lines.append(f"{storyboard_file}: shot `{shot_id}` was approved ({entry.get('approved_at')}) but "
                         f"{', '.join(changed)} changed since: it will render again; `ltx-flows approve` it again to "
                         "pin the new clip")
    return lines


def approve_shot(storyboard_file: Path, shot_id: str, film_dir: Path, root: Path | None = None) -> dict:
    """Approve the clip the shot has now under `film_dir` (its render folder); returns the entry. Raises
    ValueError naming what is missing (no such shot, no clip rendered yet)."""
    storyboard = load_storyboard(storyboard_file, root)
    shots = {shot.id: shot for shot in storyboard.shots}
    if shot_id not in shots:
        close = difflib.get_close_matches(shot_id, list(shots), n=1)
        raise ValueError(f"{storyboard_file} has no shot `{shot_id}`" + (f"; did you mean `{close[0]}`?" if close else ""))
    clip = Path(film_dir) / shot_clip_name(shot_id)
    if not clip.is_file():
        raise ValueError(f"shot `{shot_id}` has no clip at {clip} yet: render it first (`ltx-flows render {storyboard_file}`)")
    return approve(storyboard_file, shots[shot_id], file_sha256(clip), shot_clip_name(shot_id), storyboard)
